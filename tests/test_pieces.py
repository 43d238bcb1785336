"""The piece inventory (training.pieces): learned from a run's own text, the same on every
run, covering every character, and the vocabulary the piece tokeniser is rebuilt from."""

from __future__ import annotations

import pytest

from nlp.model_config import STUDENT_PIECES
from nlp.tokenizers import make_tokenizer
from training.data import load_split
from training.pieces import learn_pieces, piece_vocabulary


def test_pieces_are_learned_from_the_text_and_the_same_on_every_run() -> None:
    texts = load_split("train").head(2_000).texts
    pieces = learn_pieces(texts, 3_000, max_piece=6)
    assert pieces == learn_pieces(texts, 3_000, max_piece=6)
    characters = {char for text in texts for char in text.lower() if not char.isspace()}
    assert characters <= set(pieces)  # any word can be split
    assert "▁영화" in pieces and "▁재밌" in pieces  # frequent words' starts, marked
    assert all(len(piece.removeprefix("▁")) <= 6 for piece in pieces)
    assert not any(" " in piece for piece in pieces)  # no piece crosses a word


def test_the_vocabulary_is_the_inventory_the_text_uses() -> None:
    """Built like any vocabulary from the pieces the texts are split into: the tokeniser
    rebuilt from it splits the texts into known tokens, fewer than their characters."""
    texts = load_split("train").head(2_000).texts
    config = STUDENT_PIECES.with_overrides(vocab_size=3_000)
    vocabulary = piece_vocabulary(texts, config)
    assert len(vocabulary) <= 3_000
    tokenizer = make_tokenizer(config.tokenizer, vocabulary.learned_tokens)
    tokens = [token.text for text in texts for token in tokenizer.tokenize(text)]
    known = sum(token in vocabulary.index for token in tokens)
    assert known / len(tokens) > 0.98
    assert len(tokens) < 0.8 * sum(len(text.replace(" ", "")) for text in texts)


def test_an_inventory_smaller_than_the_alphabet_is_refused_plainly() -> None:
    with pytest.raises(ValueError, match="cannot hold the 7 characters"):
        learn_pieces(["가나다 라마", "바사"], 3, max_piece=6)
