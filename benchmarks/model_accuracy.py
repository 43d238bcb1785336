"""Accuracy of model versions on every evaluation set, one JSON line per version.

    python -m benchmarks.model_accuracy VERSION_DIR [VERSION_DIR ...]
    python -m benchmarks.model_accuracy --against TEACHER_DIR STUDENT_DIR [STUDENT_DIR ...]

NSMC's seed-42 validation split (the one `training.train` holds out), the NSMC test file,
the chat dev set (`benchmarks/chat/chat_dev.txt` + `chat_corrected.txt`), the hand-written
chat set (`chat_written.txt`), the two together (`chat_dev_all`, the chat dev set the
student's 0.3-point target is read on) and the held-back `chat_unseen.txt`; the chat sets
also as balanced accuracy (the mean of both classes' recall), since not all are balanced.

With `--against`, each version is also compared with the reference message by message:
its gap in points, a 95% interval of that gap and the two-sided sign test on the messages
only one of them gets right. A gap of 0.3 points on 592 messages is under two messages,
so a gap without its interval says little (docs/results.md, "A chat dev set that can
measure 0.3 points").
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nlp.artifacts import ModelLoadError
from nlp.ensemble import Servable, load_model
from training.calibrate import DEV_FILES, HELD_BACK_FILE
from training.corpora import chat_set
from training.data import load_split
from training.gate import sign_test
from training.train import split_validation

BATCH = 512
# Written for measuring, not for tuning: ensemble weights are still chosen on DEV_FILES.
WRITTEN_DEV_FILE = "chat_written.txt"
Z_95 = 1.959964
EvaluationSets = dict[str, tuple[list[str], list[int]]]


def evaluation_sets() -> EvaluationSets:
    train, test = load_split("train"), load_split("test")
    _, validation = split_validation(len(train), 42)
    return {
        "nsmc_val": ([train.texts[i] for i in validation], [train.labels[i] for i in validation]),
        "nsmc_test": (test.texts, test.labels),
        "chat_dev": chat_set(DEV_FILES),
        "chat_written": chat_set((WRITTEN_DEV_FILE,)),
        "chat_dev_all": chat_set((*DEV_FILES, WRITTEN_DEV_FILE)),
        "chat_unseen": chat_set((HELD_BACK_FILE,)),
    }


def correct(model: Servable, texts: Sequence[str], labels: Sequence[int]) -> np.ndarray:
    """Whether the model's verdict on each text is its label."""
    positive = [
        trace.positive
        for start in range(0, len(texts), BATCH)
        for trace in model.trace_batch(texts[start : start + BATCH])
    ]
    return (np.asarray(positive) >= 0.5) == np.asarray(labels)


def accuracies(right: np.ndarray, labels: Sequence[int], name: str) -> dict[str, float]:
    """Accuracy overall and on each label: a student's gap to its teacher has come mostly
    from negatives in every run (docs/results.md), so each is reported on its own."""
    truth = np.asarray(labels)
    figures = {name: round(float(right.mean()), 4)}
    by_label = {label: right[truth == label] for label in (0, 1)}
    for label, kind in ((0, "negatives"), (1, "positives")):
        if by_label[label].size:
            figures[f"{name}_{kind}"] = round(float(by_label[label].mean()), 4)
    if name.startswith("chat") and all(rows.size for rows in by_label.values()):
        balanced = (by_label[0].mean() + by_label[1].mean()) / 2
        figures[f"{name}_balanced"] = round(float(balanced), 4)
    return figures


@dataclass(frozen=True)
class PairedGap:
    """How far a model is below a reference on the same texts, message by message."""

    gap_points: float  # reference accuracy minus the model's, in points
    low: float  # the 95% interval of the gap (normal approximation of the paired difference)
    high: float
    only_reference: int  # texts only the reference gets right
    only_model: int  # texts only the model gets right
    sign_p: float  # two-sided sign test on those texts: could the gap be chance?

    def figures(self, name: str) -> dict[str, object]:
        return {
            f"{name}_gap_points": round(self.gap_points, 2),
            f"{name}_gap_95": [round(self.low, 2), round(self.high, 2)],
            f"{name}_only_reference_only_model": [self.only_reference, self.only_model],
            f"{name}_sign_p": float(f"{self.sign_p:.2g}"),
        }


def paired_gap(reference_right: np.ndarray, model_right: np.ndarray) -> PairedGap:
    """The gap's size and its uncertainty: only the texts the two disagree on carry it."""
    count = len(reference_right)
    only_reference = int(np.sum(reference_right & ~model_right))
    only_model = int(np.sum(model_right & ~reference_right))
    gap = (only_reference - only_model) / count
    spread = math.sqrt(max(only_reference + only_model - count * gap**2, 0.0)) / count
    disagreements = only_reference + only_model
    one_sided = sign_test(max(only_reference, only_model), disagreements)
    return PairedGap(
        gap_points=100 * gap,
        low=100 * (gap - Z_95 * spread),
        high=100 * (gap + Z_95 * spread),
        only_reference=only_reference,
        only_model=only_model,
        sign_p=min(1.0, 2 * one_sided) if disagreements else 1.0,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.model_accuracy", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("versions", nargs="+", type=Path, help="version directories")
    parser.add_argument(
        "--against", type=Path, help="a reference version (the teacher) to compare each with"
    )
    args = parser.parse_args(argv)
    try:  # every version loads before the minutes of evaluation, or none is evaluated
        reference_model = load_model(args.against) if args.against is not None else None
        models = [(directory, load_model(directory)) for directory in args.versions]
    except ModelLoadError as error:
        parser.error(str(error))
    sets = evaluation_sets()
    reference = None
    if reference_model is not None:
        reference = {name: correct(reference_model, *texts) for name, texts in sets.items()}
    for directory, model in models:
        line: dict[str, object] = {"version": directory.name}
        for name, (texts, labels) in sets.items():
            right = correct(model, texts, labels)
            line.update(accuracies(right, labels, name))
            if reference is not None:
                line.update(paired_gap(reference[name], right).figures(name))
        print(json.dumps(line, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
