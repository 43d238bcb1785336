"""A piece inventory learned from a run's own training text, as the model's vocabulary.

Why: syllables cost the served network one recurrent step a character; pieces of a word
(``▁재미있`` ``을``) found by byte-pair encoding halve the steps of a message at the same
vocabulary size (docs/results.md, "Pieces of words"), so a wider network traces in the
same time. SentencePiece learns the inventory (C++, no other dependency, seconds for the
student's 760,000 texts); `nlp.tokenizers.PieceTokenizer` then splits words by greedy
longest match over it, in serving as in training, so only the vocabulary is saved.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from nlp.model_config import ModelConfig
from nlp.tokenizers import PieceTokenizer, split_words
from nlp.vocabulary import Vocabulary

UNKNOWN_PIECE = "<unk>"  # SentencePiece's own; never a token of ours


def learn_pieces(texts: Sequence[str], size: int, max_piece: int) -> list[str]:
    """Byte-pair-encoding pieces of the lower-cased words of ``texts``, at most ``size``.

    Every text is read (no sampling), so the same texts give the same pieces on every
    machine; no normalisation beyond lower case, as `PieceTokenizer` reads words."""
    import sentencepiece

    lines = [" ".join(split_words(text.lower())) for text in texts]
    characters = len(set().union(*map(set, lines)) - {" "})
    if size < characters:  # every character is a piece (`character_coverage`)
        raise ValueError(
            f"a vocabulary of {size} cannot hold the {characters} characters of the "
            "training text: raise the configuration's vocab_size"
        )
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model,
        model_type="bpe",
        vocab_size=size,
        hard_vocab_limit=False,  # a small corpus (the tests') may hold fewer pieces
        max_sentencepiece_length=max_piece,
        character_coverage=1.0,
        normalization_rule_name="identity",
        num_threads=2,
        minloglevel=2,
        unk_piece=UNKNOWN_PIECE,
        unk_id=0,
        bos_id=-1,
        eos_id=-1,
    )
    processor = sentencepiece.SentencePieceProcessor(model_proto=model.getvalue())
    pieces = (processor.id_to_piece(index) for index in range(processor.get_piece_size()))
    return [piece for piece in pieces if piece != UNKNOWN_PIECE]


def piece_vocabulary(texts: Sequence[str], config: ModelConfig) -> Vocabulary:
    """The pieces a run's texts are split into, most frequent first, as any vocabulary is
    built (`config.vocab_size`, `config.min_count`); the model's tokeniser is rebuilt
    from it, so a piece the texts never use is not kept."""
    settings = {key: value for key, value in config.tokenizer.items() if key != "name"}
    learning = PieceTokenizer(
        learn_pieces(texts, config.vocab_size, settings.get("max_piece", 6)), **settings
    )
    tokens = (column.texts for column in learning.columns_many(texts))
    return Vocabulary.build(tokens, config.vocab_size, config.min_count)
