"""Tokenisers behind one interface; every token remembers the word (eojeol) it came from.

Remembering the word is what lets a morpheme model still explain itself word by word:
the trace reads the model's output after the last token of each word.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

from nlp.cleaning import clean_str


@dataclass(frozen=True, slots=True)
class Token:
    text: str
    word: int  # index into the message's whitespace-separated words


class Tokenizer(Protocol):
    name: str

    def tokenize(self, text: str) -> list[Token]: ...

    def tokenize_many(self, texts: Sequence[str]) -> list[list[Token]]: ...

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

    def settings(self) -> dict[str, Any]:
        return {"name": self.name, "max_chars": self.max_chars, "max_tokens": self.max_tokens}


class KiwiTokenizer:
    """Korean morphemes from kiwipiepy, each written ``form/TAG`` (e.g. ``재미있/VA``).

    Morphemes let the model share what it learns between 재밌다, 재밌었는데 and 재밌네요, which
    whitespace words cannot; the tag separates homographs such as 이/JKS and 이/NP.
    The Kiwi instance is loaded lazily (about 1 s and 300 MB) and shared per process.
    """

    name = "kiwi"
    _lock = threading.Lock()
    _shared: Any = None

    def __init__(self, max_tokens: int = 80, with_tags: bool = True) -> None:
        self.max_tokens = max_tokens
        self.with_tags = with_tags

    @cached_property
    def _kiwi(self) -> Any:
        with KiwiTokenizer._lock:
            if KiwiTokenizer._shared is None:
                from kiwipiepy import Kiwi

                KiwiTokenizer._shared = Kiwi()
            return KiwiTokenizer._shared

    def tokenize(self, text: str) -> list[Token]:
        return self._from_morphemes(text, self._kiwi.tokenize(text))

    def tokenize_many(self, texts: Sequence[str]) -> list[list[Token]]:
        """Batch tokenisation uses Kiwi's worker threads: about twice the speed on 2 cores."""
        results = self._kiwi.tokenize(list(texts))
        return [self._from_morphemes(text, morphemes) for text, morphemes in zip(texts, results)]

    def _from_morphemes(self, text: str, morphemes: Iterable[Any]) -> list[Token]:
        word_at = _word_index_by_offset(text)
        tokens = []
        for morpheme in morphemes:
            if not text[morpheme.start : morpheme.start + morpheme.len].strip():
                continue
            form = f"{morpheme.form}/{morpheme.tag}" if self.with_tags else morpheme.form
            tokens.append(Token(form, word_at[morpheme.start + morpheme.len - 1]))
            if len(tokens) == self.max_tokens:
                break
        return tokens

    def settings(self) -> dict[str, Any]:
        return {"name": self.name, "max_tokens": self.max_tokens, "with_tags": self.with_tags}


class MecabTokenizer:
    """Korean morphemes from python-mecab-ko (MeCab with the mecab-ko-dic dictionary),
    written ``form/TAG`` like Kiwi's, each filed under the word where it ends.

    About four times faster than Kiwi and nearly free in memory (the dictionary is
    memory-mapped), which is what a bot tracing every group message needs.
    """

    name = "mecab"
    _local = threading.local()  # a MeCab tagger is not safe to share between threads

    def __init__(self, max_tokens: int = 80) -> None:
        self.max_tokens = max_tokens

    @property
    def _tagger(self) -> Any:
        tagger = getattr(MecabTokenizer._local, "tagger", None)
        if tagger is None:
            import mecab

            tagger = MecabTokenizer._local.tagger = mecab.MeCab()
        return tagger

    def tokenize(self, text: str) -> list[Token]:
        word_at = _word_index_by_offset(text)
        tokens = []
        for morpheme in self._tagger.parse(text):
            end = morpheme.span.end - 1
            tokens.append(Token(f"{morpheme.surface}/{morpheme.feature.pos}", word_at[end]))
            if len(tokens) == self.max_tokens:
                break
        return tokens

    def tokenize_many(self, texts: Sequence[str]) -> list[list[Token]]:
        return [self.tokenize(text) for text in texts]

    def settings(self) -> dict[str, Any]:
        return {"name": self.name, "max_tokens": self.max_tokens}


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


def make_tokenizer(settings: dict[str, Any]) -> Tokenizer:
    """Rebuild the tokeniser a model version was trained with, from its saved settings."""
    options = {key: value for key, value in settings.items() if key != "name"}
    if settings["name"] == SeedTokenizer.name:
        return SeedTokenizer(**options)
    if settings["name"] == KiwiTokenizer.name:
        return KiwiTokenizer(**options)
    if settings["name"] == MecabTokenizer.name:
        return MecabTokenizer(**options)
    raise ValueError(f"unknown tokenizer {settings['name']!r}")
