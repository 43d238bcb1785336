"""Length-bucketed batches: most reviews are short, so padding each batch only to its own
longest review (rounded up to 8) makes an epoch several times faster than padding all to 80.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import tensorflow as tf

ROUND_TO = 8
BUCKET_BATCHES = 50


class BucketedBatches:
    def __init__(
        self,
        id_lists: list[list[int]],
        labels: np.ndarray,
        batch_size: int,
        seed: int,
        shuffle: bool = True,
        augment: Callable[[np.ndarray], np.ndarray] | None = None,
        word_targets: list[np.ndarray] | None = None,
        word_weight: float = 0.0,
    ) -> None:
        if augment is not None and word_targets is not None:
            raise ValueError("augmented tokens no longer line up with per-token targets")
        self.id_lists = id_lists
        self.labels = np.asarray(labels, dtype=np.float32)  # P(positive): soft when distilled
        # Per token, a target or NaN (training.word_targets): each batch's targets are then
        # (rows, width, 3) for nlp.model.word_cross_entropy, not one value a row.
        self.word_targets = word_targets
        self.word_weight = word_weight
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augment = augment  # a fresh copy of each batch (training.augment)
        self.lengths = np.array([max(1, len(ids)) for ids in id_lists])
        self.rng = np.random.default_rng(seed)
        self.batches = self._plan()

    def _plan(self) -> list[np.ndarray]:
        order = (
            self.rng.permutation(len(self.id_lists))
            if self.shuffle
            else np.arange(len(self.id_lists))
        )
        span = self.batch_size * BUCKET_BATCHES
        batches = []
        for start in range(0, len(order), span):
            chunk = order[start : start + span]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches.extend(np.array_split(chunk, max(1, -(-len(chunk) // self.batch_size))))
        if self.shuffle:
            self.rng.shuffle(batches)
        return batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self.batches[index]
        width = int(-(-self.lengths[rows].max() // ROUND_TO) * ROUND_TO)
        matrix = np.zeros((len(rows), width), dtype=np.int32)
        for position, row in enumerate(rows):
            ids = self.id_lists[row]
            matrix[position, : len(ids)] = ids
        if self.augment is not None:
            matrix = _rounded(self.augment(matrix))
        if self.word_targets is not None:
            return matrix, self._step_targets(rows, width)
        return matrix, self.labels[rows]

    def _step_targets(self, rows: np.ndarray, width: int) -> np.ndarray:
        """Per step: the target, its weight, and 1 at the text's last token. The last token
        holds the row's own target at weight 1; the earlier word ends share `word_weight`."""
        assert self.word_targets is not None
        steps = np.zeros((len(rows), width, 3), dtype=np.float32)
        for position, row in enumerate(rows):
            last = self.lengths[row] - 1
            targets = self.word_targets[row][:last]
            ends = np.flatnonzero(~np.isnan(targets))
            if len(ends):
                steps[position, ends, 0] = targets[ends]
                steps[position, ends, 1] = self.word_weight / len(ends)
            steps[position, last] = (self.labels[row], 1.0, 1.0)
        return steps

    def dataset(self) -> tf.data.Dataset:
        """A tf.data pipeline with ragged batch widths, reshuffled on every pass.

        (keras.utils.PyDataset fixes the batch shape from its first batch, which rules out
        per-batch widths.)
        """

        def generate() -> Iterator[tuple[np.ndarray, np.ndarray]]:
            if self.shuffle:
                self.batches = self._plan()
            for index in range(len(self)):
                yield self[index]

        targets = (None,) if self.word_targets is None else (None, None, 3)
        signature = (
            tf.TensorSpec(shape=(None, None), dtype=tf.int32),
            tf.TensorSpec(shape=targets, dtype=tf.float32),
        )
        return tf.data.Dataset.from_generator(generate, output_signature=signature).prefetch(2)


def _rounded(matrix: np.ndarray) -> np.ndarray:
    """Padded on the right to a multiple of ROUND_TO: few distinct shapes to trace."""
    extra = -matrix.shape[1] % ROUND_TO
    return np.pad(matrix, ((0, 0), (0, extra))) if extra else matrix
