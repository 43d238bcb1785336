"""The embedding rows a focused fine-tune uses, and the smaller table it trains on.

Keras applies an embedding's gradient to the whole table, and Adam moves a row only
through its moments, which stay 0 while no batch uses the row: every row the replay and
the corrections never read keeps its value exactly, yet its update still costs a pass
over it every step. The teacher's Kiwi and MeCab networks hold 29,316 and 39,687 rows, of
which the replay reads 6,858 and 8,692; their whole tables cost a quarter to a third of each
training step (docs/learning-loop.md, "The rows a fine-tune reads"). So a fine-tune
trains a table of the rows it reads, renumbered, and writes them back: the same weights
in less time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from nlp.vocabulary import PAD_ID

SPARE_ROWS = 4096  # room for words the replay lacks, so that most jobs fit one table
ROWS_ROUNDED_TO = 1024


@dataclass(frozen=True)
class UsedRows:
    """The vocabulary ids some token lists read, sorted, the padding id first: the `i`th
    of them is row `i` of the small table."""

    ids: np.ndarray

    @classmethod
    def of(cls, *id_lists: Iterable[Sequence[int]]) -> UsedRows:
        used = {PAD_ID}  # row 0 of the small table too: the network reads it as padding
        for lists in id_lists:
            for ids in lists:
                used.update(ids)
        return cls(np.fromiter(sorted(used), dtype=np.int64, count=len(used)))

    def __len__(self) -> int:
        return len(self.ids)

    def renumbered(self, matrix: np.ndarray) -> np.ndarray:
        """A batch of vocabulary ids as rows of the small table. Every id must be used."""
        rows = np.searchsorted(self.ids, matrix)
        if not np.array_equal(self.ids[np.minimum(rows, len(self.ids) - 1)], matrix):
            raise ValueError("the batch reads ids these rows do not hold")
        return rows.astype(np.int32)

    def table(self, embedding: np.ndarray, rows: int) -> np.ndarray:
        """The used rows of `embedding`, then zero rows up to `rows`: no batch reads those,
        so they stay zero and only keep the table one size from job to job."""
        small = np.zeros((rows, embedding.shape[1]), dtype=embedding.dtype)
        small[: len(self.ids)] = embedding[self.ids]
        return small

    def merged(self, embedding: np.ndarray, table: np.ndarray) -> np.ndarray:
        """`embedding` with the used rows taken from the trained `table`."""
        whole = embedding.copy()
        whole[self.ids] = table[: len(self.ids)]
        return whole


def table_rows(used: int, vocabulary: int) -> int:
    """How many rows a network's small table holds: the rows used now and `SPARE_ROWS`
    more, rounded up, never more than the vocabulary."""
    return min(vocabulary, -(-(used + SPARE_ROWS) // ROWS_ROUNDED_TO) * ROWS_ROUNDED_TO)
