"""Tokenisers behind one interface; every token remembers the word (eojeol) it came from.

Remembering the word is what lets a morpheme model still explain itself word by word:
the trace reads the model's output after the last token of each word.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar, NamedTuple, Protocol

import numpy as np

from nlp.cleaning import clean_str


@dataclass(frozen=True, slots=True)
class Token:
    text: str
    word: int  # index into the message's whitespace-separated words


class TokenColumns(NamedTuple):
    """A message's tokens as two columns, the form batches read: tracing thousands of
    messages built a `Token` for every syllable, a third of the student's batch time."""

    texts: Sequence[str]  # each token's text; a str when every token is one character
    words: np.ndarray  # int, the word each token came from (as `Token.word`)

    def tokens(self) -> list[Token]:
        return [Token(text, int(word)) for text, word in zip(self.texts, self.words)]


def columns_of(tokens: Sequence[Token]) -> TokenColumns:
    return TokenColumns([t.text for t in tokens], np.array([t.word for t in tokens], dtype=int))


class Tokenizer(Protocol):
    name: str
    # Whether a batch's tokenising runs mostly outside Python (it releases the GIL), so
    # it is worth starting early, beside other work (nlp.batch_threads.early).
    early: bool

    def tokenize(self, text: str) -> list[Token]: ...

    def tokenize_many(self, texts: Sequence[str]) -> list[list[Token]]: ...

    def columns_many(self, texts: Sequence[str]) -> list[TokenColumns]: ...

    def settings(self) -> dict[str, Any]: ...


def split_words(text: str) -> list[str]:
    """The eojeol of a message: what a Korean reader calls a word."""
    return text.split()


class SeedTokenizer:
    """The seed notebook's tokenisation (section 6.9): clean, split on spaces, cut words to
    5 characters, keep the first 25.

    Cleaning each eojeol on its own gives the same tokens as cleaning the whole line (the
    cleaning never joins across whitespace; checked on all of NSMC), and tells us which word
    every token came from. Empty strings, which the seed would count as a word when a line
    ends in punctuation, are dropped.
    """

    name = "seed"
    early = False

    def __init__(self, max_chars: int = 5, max_tokens: int = 25) -> None:
        self.max_chars = max_chars
        self.max_tokens = max_tokens

    def tokenize(self, text: str) -> list[Token]:
        tokens = [
            Token(piece[: self.max_chars], index)
            for index, word in enumerate(split_words(text))
            for piece in clean_str(word).split(" ")
            if piece
        ]
        return tokens[: self.max_tokens]

    def tokenize_many(self, texts: Sequence[str]) -> list[list[Token]]:
        return [self.tokenize(text) for text in texts]

    def columns_many(self, texts: Sequence[str]) -> list[TokenColumns]:
        return [columns_of(self.tokenize(text)) for text in texts]

    def settings(self) -> dict[str, Any]:
        return {"name": self.name, "max_chars": self.max_chars, "max_tokens": self.max_tokens}


class KiwiTokenizer:
    """Korean morphemes from kiwipiepy, each written ``form/TAG`` (e.g. ``재미있/VA``).

    Morphemes let the model share what it learns between 재밌다, 재밌었는데 and 재밌네요, which
    whitespace words cannot; the tag separates homographs such as 이/JKS and 이/NP.
    One Kiwi instance per option set is loaded lazily (about a second) and shared per
    process. ``multi_dict`` is Kiwi's WikiData list of multi-word proper nouns: it costs
    about 190 MB of memory and changes 0.2% of the tokens of movie reviews, so new models
    go without it; models trained with it keep it (their saved settings lack the key).
    """

    name = "kiwi"
    early = True  # Kiwi's analyser runs in its C++ worker threads
    _lock = threading.Lock()
    _shared: ClassVar[dict[bool, Any]] = {}

    def __init__(self, max_tokens: int = 80, with_tags: bool = True, multi_dict: bool = True):
        self.max_tokens = max_tokens
        self.with_tags = with_tags
        self.multi_dict = multi_dict

    @cached_property
    def _kiwi(self) -> Any:
        with KiwiTokenizer._lock:
            if self.multi_dict not in KiwiTokenizer._shared:
                from kiwipiepy import Kiwi

                KiwiTokenizer._shared[self.multi_dict] = Kiwi(load_multi_dict=self.multi_dict)
            return KiwiTokenizer._shared[self.multi_dict]

    def tokenize(self, text: str) -> list[Token]:
        return self._from_morphemes(text, self._kiwi.tokenize(text)).tokens()

    def tokenize_many(self, texts: Sequence[str]) -> list[list[Token]]:
        return [columns.tokens() for columns in self.columns_many(texts)]

    def columns_many(self, texts: Sequence[str]) -> list[TokenColumns]:
        """Batch tokenisation uses Kiwi's worker threads: about twice the speed on 2 cores,
        but for one message the hand-off to a worker costs half a millisecond more than
        tokenising in place."""
        if len(texts) == 1:
            return [self._from_morphemes(texts[0], self._kiwi.tokenize(texts[0]))]
        results = self._kiwi.tokenize(list(texts))
        return [self._from_morphemes(text, morphemes) for text, morphemes in zip(texts, results)]

    def _from_morphemes(self, text: str, morphemes: Iterable[Any]) -> TokenColumns:
        word_at = _word_index_by_offset(text)
        forms: list[str] = []
        words: list[int] = []
        for morpheme in morphemes:
            if not text[morpheme.start : morpheme.start + morpheme.len].strip():
                continue
            forms.append(f"{morpheme.form}/{morpheme.tag}" if self.with_tags else morpheme.form)
            words.append(word_at[morpheme.start + morpheme.len - 1])
            if len(forms) == self.max_tokens:
                break
        return TokenColumns(forms, np.array(words, dtype=int))

    def settings(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "max_tokens": self.max_tokens,
            "with_tags": self.with_tags,
            "multi_dict": self.multi_dict,
        }


class _ColumnTokenizer:
    """A tokeniser that builds one message's columns at a time (``_columns``); the
    Token list and the batch forms follow from it."""

    def _columns(self, text: str) -> TokenColumns:
        raise NotImplementedError

    def tokenize(self, text: str) -> list[Token]:
        return self._columns(text).tokens()

    def tokenize_many(self, texts: Sequence[str]) -> list[list[Token]]:
        return [self.tokenize(text) for text in texts]

    def columns_many(self, texts: Sequence[str]) -> list[TokenColumns]:
        return [self._columns(text) for text in texts]


class MecabTokenizer(_ColumnTokenizer):
    """Korean morphemes from python-mecab-ko (MeCab with the mecab-ko-dic dictionary),
    written ``form/TAG`` like Kiwi's, each filed under the word where it ends.

    About four times faster than Kiwi and nearly free in memory (the dictionary is
    memory-mapped), which is what a bot tracing every group message needs. The lattice is
    read directly, as ``MeCab.parse`` does, but without building a ``Morpheme`` and a
    parsed ``Feature`` for every token: that bookkeeping took 80% of the time.
    `tests/test_tokenizers.py` checks the result against ``MeCab.parse``.
    """

    name = "mecab"
    early = False  # MeCab's C++ parse is quick; the reading of its lattice is Python
    _local = threading.local()  # a MeCab tagger is not safe to share between threads

    def __init__(self, max_tokens: int = 80) -> None:
        self.max_tokens = max_tokens

    @property
    def _tagger(self) -> Any:
        tagger = getattr(MecabTokenizer._local, "tagger", None)
        if tagger is None:
            import mecab

            tagger = MecabTokenizer._local.tagger = mecab.MeCab()._tagger
        return tagger

    def _columns(self, text: str) -> TokenColumns:
        from mecab.utils import create_lattice

        lattice = create_lattice(text)
        if not self._tagger.parse(lattice):
            raise RuntimeError(f"MeCab failed: {self._tagger.what()}")
        word_at = _word_index_by_offset(text)
        forms: list[str] = []
        words: list[int] = []
        for (_, end), node in lattice:
            forms.append(f"{node.surface}/{node.feature.partition(',')[0]}")
            words.append(word_at[end - 1])
            if len(forms) == self.max_tokens:
                break
        return TokenColumns(forms, np.array(words, dtype=int))

    def settings(self) -> dict[str, Any]:
        return {"name": self.name, "max_tokens": self.max_tokens}


class SyllableTokenizer(_ColumnTokenizer):
    """Every character of every word (lower-cased): Hangul syllables, jamo such as ㅋ and
    ㅠ, letters, digits, punctuation and emoji.

    No analyser, so it is free to run and never wrong about a morpheme boundary; it sees
    spelling that dictionaries do not know (신조어, typos, ㅋㅋㅋ), which is what makes it a
    useful third opinion beside two morpheme models.

    ``spaces`` puts a space token before every word but the first, filed under the word it
    starts, so the network sees where words begin (좋 아 요 vs 좋아 요) while the trace after
    word k still reads nothing of word k+1: the single served student needs that, the
    ensemble member has the morpheme networks beside it. ``marks`` says the same without
    the extra step: each word's first character is its own token, ``▁좋`` beside ``좋``, so a
    25-word message is a quarter fewer steps (69 instead of 93) for a vocabulary about
    twice as large.
    """

    name = "syllable"
    early = False

    def __init__(self, max_tokens: int = 150, spaces: bool = False, marks: bool = False) -> None:
        if spaces and marks:
            raise ValueError(
                "a syllable tokenizer marks word starts by spaces or by marks, not both"
            )
        self.max_tokens = max_tokens
        self.spaces = spaces
        self.marks = marks

    def _columns(self, text: str) -> TokenColumns:
        """The words joined (by a space when `spaces`), so the tokens are the characters of
        one string and their words a repeat of the word indexes: no loop over characters
        (but one over words, when `marks`)."""
        words = split_words(text.lower())
        joined = (" " if self.spaces else "").join(words)[: self.max_tokens]
        lengths = [len(word) for word in words]
        if self.spaces and lengths:  # a space before every word but the first
            lengths = [lengths[0]] + [length + 1 for length in lengths[1:]]
        word_of = np.repeat(np.arange(len(words)), lengths)[: self.max_tokens]
        if self.marks:
            return TokenColumns(_marked_starts(joined, lengths), word_of)
        return TokenColumns(joined, word_of)

    def settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {"name": self.name, "max_tokens": self.max_tokens}
        # Options are saved only when set, so older versions' settings stay equal.
        settings |= {option: True for option in ("spaces", "marks") if getattr(self, option)}
        return settings


WORD_START = "\u2581"  # ▁, SentencePiece's mark of a word's start


def _marked_starts(joined: str, lengths: Sequence[int]) -> list[str]:
    """The characters of ``joined`` with each word's first one written ``▁x``."""
    tokens = list(joined)
    start = 0
    for length in lengths:
        if start >= len(tokens):
            break
        tokens[start] = WORD_START + tokens[start]
        start += length
    return tokens


class PieceTokenizer(_ColumnTokenizer):
    """Each word (lower-cased) as the longest pieces of a learned inventory, left to right:
    ``재미있을`` -> ``▁재미있`` ``을``. A word's first piece carries ``▁``, as marked syllables do.

    Why: a network's trace costs one recurrent step a token, and syllables make a 25-word
    message 69 steps; pieces learned by byte-pair encoding over the training text
    (training.pieces) make it 34, so a wider network traces in the same time. No piece
    crosses a space, so every token belongs to one word and the trace after word k still
    reads nothing of word k+1. The inventory is the model's vocabulary itself (no other
    file to keep beside it), and a character no piece covers is its own token, which the
    vocabulary reads as unknown.
    """

    name = "pieces"
    early = False

    def __init__(self, pieces: Iterable[str], max_tokens: int = 150, max_piece: int = 6) -> None:
        self.pieces = frozenset(pieces)
        self.max_tokens = max_tokens
        self.max_piece = max_piece  # characters, not counting the word start's ▁

    def _columns(self, text: str) -> TokenColumns:
        tokens: list[str] = []
        word_of: list[int] = []
        for index, word in enumerate(split_words(text.lower())):
            pieces = self.split_word(word)
            tokens += pieces
            word_of += [index] * len(pieces)
            if len(tokens) >= self.max_tokens:
                break
        limit = self.max_tokens
        return TokenColumns(tokens[:limit], np.array(word_of[:limit], dtype=int))

    def split_word(self, word: str) -> list[str]:
        """Greedy longest match; the marked first character alone when nothing longer fits."""
        marked = WORD_START + word
        pieces: list[str] = []
        start = 0
        while start < len(marked):
            shortest = start + (2 if start == 0 else 1)  # ▁ never stands alone
            end = min(len(marked), start + self.max_piece + (start == 0))
            while end > shortest and marked[start:end] not in self.pieces:
                end -= 1
            pieces.append(marked[start:end])
            start = end
        return pieces

    def settings(self) -> dict[str, Any]:
        """With a digest of the inventory: what a tokens cache must be keyed by."""
        digest = hashlib.sha256("\n".join(sorted(self.pieces)).encode()).hexdigest()[:16]
        return {
            "name": self.name,
            "max_tokens": self.max_tokens,
            "max_piece": self.max_piece,
            "inventory": digest,
        }


def _word_index_by_offset(text: str) -> list[int]:
    """For each character offset, the index of the whitespace word it belongs to.

    A morpheme is filed under the word where it ends, so that the trace after word k never
    reads a morpheme (such as Kiwi's 커스틴 던스트/NNP) that reaches into word k+1.
    """
    indexes = []
    word = -1
    in_word = False
    for char in text:
        if char.isspace():
            in_word = False
            indexes.append(word + 1)
        else:
            if not in_word:
                word += 1
                in_word = True
            indexes.append(word)
    indexes.append(word + 1)
    return indexes


def make_tokenizer(settings: dict[str, Any], vocabulary: Sequence[str] = ()) -> Tokenizer:
    """Rebuild the tokeniser a model version was trained with, from its saved settings
    (and, for pieces, its vocabulary's tokens: the inventory)."""
    options = {key: value for key, value in settings.items() if key != "name"}
    if settings["name"] == PieceTokenizer.name:
        if not vocabulary:
            raise ValueError("a piece tokenizer needs the model's vocabulary")
        return PieceTokenizer(vocabulary, **options)
    if settings["name"] == SeedTokenizer.name:
        return SeedTokenizer(**options)
    if settings["name"] == KiwiTokenizer.name:
        return KiwiTokenizer(**options)
    if settings["name"] == MecabTokenizer.name:
        return MecabTokenizer(**options)
    if settings["name"] == SyllableTokenizer.name:
        return SyllableTokenizer(**options)
    raise ValueError(f"unknown tokenizer {settings['name']!r}")
