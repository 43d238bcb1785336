"""Where the ensemble's NSMC test errors come from: the versions' probabilities averaged,
and two random samples of the reviews it gets wrong, to be judged by hand
(docs/results.md, "How far averaging goes, and what the errors are"; the judged samples are
`docs/experiments/nsmc_test_errors.tsv`).

    PYTHONPATH=. NSMC_DIR=... CHAT_DATA_DIR=... python docs/experiments/error_sample.py OUT_DIR \
        VERSION_DIR [VERSION_DIR ...]

Writes `OUT_DIR/averaged.txt` (each set's accuracy for every combination of the versions:
how far averaging whole ensembles goes) and `OUT_DIR/sample.tsv`: 80 errors where the
average is on the wrong side by at least 0.4 ("confident", seed 0) and 60 of the others
(seed 1), with an empty `judgement` column. An analysis, not a choice: nothing is tuned
on the test file.
"""

from __future__ import annotations

import itertools
import random
import sys
from pathlib import Path

import numpy as np

from benchmarks.model_accuracy import BATCH, evaluation_sets
from nlp.ensemble import load_model
from training.data import load_split

CONFIDENT = 0.4
SAMPLES = (("confident", 80, 0), ("other", 60, 1))


Sets = dict[str, tuple[list[str], list[int]]]


def probabilities(directory: Path, sets: Sets) -> dict[str, np.ndarray]:
    model = load_model(directory)
    return {
        name: np.asarray(
            [
                trace.positive
                for start in range(0, len(texts), BATCH)
                for trace in model.trace_batch(texts[start : start + BATCH])
            ]
        )
        for name, (texts, _) in sets.items()
    }


def averaged_accuracies(per_version: dict[str, dict[str, np.ndarray]], sets: Sets) -> list[str]:
    lines = []
    for size in range(1, len(per_version) + 1):
        for names in itertools.combinations(per_version, size):
            figures = []
            for set_name, (_, labels) in sets.items():
                mean = np.mean([per_version[name][set_name] for name in names], axis=0)
                figures.append(f"{set_name} {np.mean((mean >= 0.5) == np.asarray(labels)):.4f}")
            lines.append(f"{' + '.join(names)}: {', '.join(figures)}")
    return lines


def error_sample(mean: np.ndarray, labels: np.ndarray) -> list[tuple[str, int]]:
    wrong = (mean >= 0.5) != labels
    confident = wrong & (np.abs(mean - 0.5) >= CONFIDENT)
    rows = []
    for (kind, size, seed), pool in zip(SAMPLES, (confident, wrong & ~confident), strict=True):
        indices = [int(i) for i in np.flatnonzero(pool)]
        random.Random(seed).shuffle(indices)
        rows += [(kind, index) for index in indices[:size]]
    return rows


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    out, directories = Path(argv[0]), [Path(arg) for arg in argv[1:]]
    sets = evaluation_sets()
    per_version = {directory.name: probabilities(directory, sets) for directory in directories}
    (out / "averaged.txt").write_text("\n".join(averaged_accuracies(per_version, sets)) + "\n")
    test = load_split("test")
    labels = np.asarray(test.labels)
    mean = np.mean([figures["nsmc_test"] for figures in per_version.values()], axis=0)
    with (out / "sample.tsv").open("w", encoding="utf-8") as sample:
        sample.write("sample\ttest_row\tlabel\tensemble_positive\tjudgement\ttext\n")
        for kind, row in error_sample(mean, labels):
            sample.write(f"{kind}\t{row}\t{labels[row]}\t{mean[row]:.3f}\t\t{test.texts[row]}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
