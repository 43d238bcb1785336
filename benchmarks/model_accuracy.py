"""Accuracy of model versions on every evaluation set, one JSON line per version.

    python -m benchmarks.model_accuracy VERSION_DIR [VERSION_DIR ...]

NSMC's seed-42 validation split (the one `training.train` holds out), the NSMC test file,
the chat dev set (`benchmarks/chat/chat_dev.txt` + `chat_corrected.txt`) and the held-back
`chat_unseen.txt`; the chat sets also as balanced accuracy (the mean of both classes'
recall), since they are not balanced. How the student was compared with its teacher
(docs/results.md, "One student").
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from nlp.ensemble import Servable, load_model
from training.corpora import CHAT_SETS
from training.data import load_split, read_corpus
from training.train import split_validation

BATCH = 512


def evaluation_sets() -> dict[str, tuple[list[str], list[int]]]:
    train, test = load_split("train"), load_split("test")
    _, validation = split_validation(len(train), 42)
    chat_texts: list[str] = []
    chat_labels: list[int] = []
    for name in ("chat_dev", "chat_corrected"):
        corpus = read_corpus(CHAT_SETS / f"{name}.txt")
        chat_texts += corpus.texts
        chat_labels += corpus.labels
    unseen = read_corpus(CHAT_SETS / "chat_unseen.txt")
    return {
        "nsmc_val": ([train.texts[i] for i in validation], [train.labels[i] for i in validation]),
        "nsmc_test": (test.texts, test.labels),
        "chat_dev": (chat_texts, chat_labels),
        "chat_unseen": (unseen.texts, unseen.labels),
    }


def accuracies(model: Servable, sets: dict[str, tuple[list[str], list[int]]]) -> dict[str, float]:
    figures: dict[str, float] = {}
    for name, (texts, labels) in sets.items():
        positive = [
            trace.positive
            for start in range(0, len(texts), BATCH)
            for trace in model.trace_batch(texts[start : start + BATCH])
        ]
        truth = np.asarray(labels)
        right = (np.asarray(positive) >= 0.5) == truth
        figures[name] = round(float(right.mean()), 4)
        if name.startswith("chat"):
            balanced = (right[truth == 1].mean() + right[truth == 0].mean()) / 2
            figures[f"{name}_balanced"] = round(float(balanced), 4)
    return figures


def main(argv: list[str] | None = None) -> int:
    directories = argv if argv is not None else sys.argv[1:]
    if not directories:
        print(__doc__, file=sys.stderr)
        return 2
    sets = evaluation_sets()
    for directory in directories:
        model = load_model(Path(directory))
        print(json.dumps({"version": Path(directory).name, **accuracies(model, sets)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
