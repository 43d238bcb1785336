"""The teacher's verdict after every word, as targets for a student's intermediate steps.

Why: the bot shows a trace, the probability after each word, and a student distilled on the
teacher's final probabilities alone learns the prefixes of a message only through the
verdict of the whole. The teacher's trace says what each prefix means ("정말" on its own,
"정말 별로" after two words), which is also what a short chat message looks like. So every
word but the last adds a target at its last token: the teacher's P(positive) after that
word, weighted so a message's prefixes together count `word_weight` against its final
target's 1 (`training.batches.BucketedBatches`, `nlp.model.word_cross_entropy`).

The teacher's words and the student's are both the message's whitespace words after
`normalize_text` (`Token.word`, `Trace.positions`); a word the teacher read nothing of
holds its previous verdict, as its trace does.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from nlp.ensemble import Servable
from nlp.inference import normalize_text
from nlp.tokenizers import Tokenizer
from training.distill import teacher_cache_path, traced

WORDS_CACHE = "teacher-words"  # under the cache directory, beside training.distill's labels
CHUNK = 4096


@dataclass(frozen=True)
class TeacherWords:
    """The teacher's trace of each text: for text `i`, `positions[offsets[i]:offsets[i+1]]`
    are the word indexes it read and `probabilities[...]` its P(positive) after each."""

    texts: dict[str, int]
    offsets: np.ndarray
    positions: np.ndarray
    probabilities: np.ndarray

    def of(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        row = self.texts.get(text)
        if row is None:
            return self.positions[:0], self.probabilities[:0]
        span = slice(self.offsets[row], self.offsets[row + 1])
        return self.positions[span], self.probabilities[span]


@dataclass(frozen=True)
class WordTargets:
    """What a training run fits at word ends: whose traces, and how much they count."""

    teacher: str  # the teacher's version
    weight: float  # all of a text's earlier words together, against its final target's 1
    words: TeacherWords


def teacher_words(
    teacher: Servable,
    texts: Sequence[str],
    progress: bool = True,
    cache_dir: Path | None = None,
) -> TeacherWords:
    """The teacher's traces over `texts` (the student's 628,540 took the ensemble 13
    minutes); kept under the teacher's version and the texts' hash, like its labels."""
    unique = list(dict.fromkeys(texts))
    path = teacher_cache_path(cache_dir, WORDS_CACHE, teacher.version, unique, ".npz")
    arrays = _read(path, len(unique)) if path else None
    if arrays is None:
        arrays = _trace(teacher, unique, progress)
        if path:
            _write(path, arrays)
    offsets, positions, probabilities = arrays
    return TeacherWords(
        {text: row for row, text in enumerate(unique)}, offsets, positions, probabilities
    )


def token_targets(
    token_words: np.ndarray, positions: np.ndarray, probabilities: np.ndarray
) -> np.ndarray:
    """For each token, NaN, or at the last token of each word but the message's last the
    teacher's P(positive) after that word (its latest verdict at or before the word)."""
    targets = np.full(len(token_words), np.nan, dtype=np.float32)
    if len(token_words) < 2 or not len(positions):
        return targets
    word_ends = np.flatnonzero(token_words[1:] != token_words[:-1])
    latest = np.searchsorted(positions, token_words[word_ends], side="right") - 1
    read = latest >= 0
    targets[word_ends[read]] = probabilities[latest[read]]
    return targets


def row_token_targets(
    tokenizer: Tokenizer, texts: Sequence[str], words: TeacherWords, progress: bool
) -> list[np.ndarray]:
    """`token_targets` of each text as `tokenizer` splits it (the split training fits)."""
    rows: list[np.ndarray] = []
    with tqdm(total=len(texts), unit="text", desc="word targets", disable=not progress) as bar:
        for start in range(0, len(texts), CHUNK):
            chunk = texts[start : start + CHUNK]
            cleaned = [normalize_text(text) for text in chunk]
            for text, columns in zip(chunk, tokenizer.columns_many(cleaned), strict=True):
                rows.append(token_targets(np.asarray(columns.words), *words.of(text)))
            bar.update(len(chunk))
    return rows


Arrays = tuple[np.ndarray, np.ndarray, np.ndarray]


def _trace(teacher: Servable, texts: Sequence[str], progress: bool) -> Arrays:
    lengths = np.zeros(len(texts), dtype=np.int64)
    positions: list[int] = []
    probabilities: list[float] = []
    for row, trace in enumerate(traced(teacher, texts, progress, "teacher words")):
        lengths[row] = len(trace.positions)
        positions += trace.positions
        probabilities += trace.probabilities
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    return (
        offsets,
        np.asarray(positions, dtype=np.int32),
        np.asarray(probabilities, dtype=np.float32),
    )


def _read(path: Path, count: int) -> Arrays | None:
    """The stored arrays if whole and for `count` texts; anything else is traced again."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            offsets, positions = stored["offsets"], stored["positions"]
            probabilities = stored["probabilities"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None
    whole = len(offsets) == count + 1 and len(positions) == len(probabilities) == offsets[-1]
    return (offsets, positions, probabilities) if whole else None


def _write(path: Path, arrays: Arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    offsets, positions, probabilities = arrays
    np.savez(partial, offsets=offsets, positions=positions, probabilities=probabilities)
    os.replace(partial, path)
