"""Token <-> id mapping, built from training data and saved beside the model weights."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PAD_ID = 0
OOV_ID = 1
_RESERVED = ("<pad>", "<oov>")


@dataclass(frozen=True)
class Vocabulary:
    """Most frequent tokens first; id 0 pads, id 1 stands for any unknown token."""

    tokens: tuple[str, ...]

    @classmethod
    def build(
        cls, token_lists: Iterable[Sequence[str]], max_size: int, min_count: int = 2
    ) -> Vocabulary:
        counts = Counter(token for tokens in token_lists for token in tokens)
        frequent = [
            token
            for token, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
            if count >= min_count
        ]
        return cls(_RESERVED + tuple(frequent[: max_size - len(_RESERVED)]))

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def learned_tokens(self) -> tuple[str, ...]:
        """The tokens seen in training, without the padding and unknown ones."""
        return self.tokens[len(_RESERVED) :]

    @property
    def index(self) -> dict[str, int]:
        # Built on first use and cached on the instance: a frozen dataclass cannot hold it
        # as a field without making equality compare the big dict too.
        cached = self.__dict__.get("_index")
        if cached is None:
            cached = {token: position for position, token in enumerate(self.tokens)}
            object.__setattr__(self, "_index", cached)
        return cached

    def encode(self, tokens: Sequence[str]) -> list[int]:
        index = self.index
        return [index.get(token, OOV_ID) for token in tokens]

    def encode_padded(self, token_lists: Sequence[Sequence[str]], length: int) -> np.ndarray:
        """Post-padded id matrix: padding after the text keeps every prefix's state exact."""
        matrix = np.zeros((len(token_lists), length), dtype=np.int32)
        for row, tokens in enumerate(token_lists):
            ids = self.encode(tokens[:length])
            matrix[row, : len(ids)] = ids
        return matrix

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(list(self.tokens), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Vocabulary:
        tokens = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(tokens, list) or tuple(tokens[:2]) != _RESERVED:
            raise ValueError(f"{path} is not a vocabulary file")
        return cls(tuple(tokens))
