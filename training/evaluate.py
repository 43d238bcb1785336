"""Accuracy of a model version on labelled reviews, through the same runtime that serves.

    python -m training.evaluate --model DIR --data FILE [--predictions OUT.tsv]

The last line printed is a JSON object (`accuracy`, `n`, per-class precision and recall).
`--predictions` writes one row per input, for error analysis: `id`, `label`, `predicted`,
`positive` (P(positive)) and `document`, tab-separated, in the order of the file.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from nlp.artifacts import ModelLoadError
from nlp.ensemble import Servable, load_model
from training.data import DataError, read_corpus

CHUNK = 2048


@dataclass(frozen=True)
class Evaluation:
    accuracy: float
    n: int
    precision: dict[str, float]  # per class: "negative", "positive"
    recall: dict[str, float]
    confusion: list[list[int]]  # [true][predicted]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def score(labels: Sequence[int], predictions: Sequence[int]) -> Evaluation:
    confusion = [[0, 0], [0, 0]]
    for truth, guess in zip(labels, predictions):
        confusion[truth][guess] += 1
    n = len(labels)
    names = ("negative", "positive")
    precision = {}
    recall = {}
    for label, name in enumerate(names):
        predicted = confusion[0][label] + confusion[1][label]
        actual = sum(confusion[label])
        precision[name] = confusion[label][label] / predicted if predicted else 0.0
        recall[name] = confusion[label][label] / actual if actual else 0.0
    correct = confusion[0][0] + confusion[1][1]
    return Evaluation(correct / n if n else 0.0, n, precision, recall, confusion)


def predict_labels(model: Servable, texts: Sequence[str], progress: bool = True) -> list[int]:
    return [int(p >= 0.5) for p in predict_positive(model, texts, progress)]  # as Trace.label


def predict_positive(model: Servable, texts: Sequence[str], progress: bool = True) -> list[float]:
    values: list[float] = []
    with tqdm(total=len(texts), unit="review", desc="evaluate", disable=not progress) as bar:
        for start in range(0, len(texts), CHUNK):
            chunk = texts[start : start + CHUNK]
            values.extend(trace.positive for trace in model.trace_batch(chunk))
            bar.update(len(chunk))
    return values


def write_predictions(
    path: Path, texts: Sequence[str], labels: Sequence[int], positive: Sequence[float]
) -> None:
    rows = ["id\tlabel\tpredicted\tpositive\tdocument"]
    for index, (text, label, p) in enumerate(zip(texts, labels, positive, strict=True), 1):
        clean = " ".join(text.split())  # a tab or newline in the text would break the row
        rows.append(f"{index}\t{label}\t{int(p >= 0.5)}\t{p:.6f}\t{clean}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def evaluate(
    model: Servable, texts: Sequence[str], labels: Sequence[int], progress: bool = True
) -> Evaluation:
    return score(labels, predict_labels(model, texts, progress))


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__)
    parser.add_argument("--model", type=Path, required=True, help="a model version directory")
    parser.add_argument("--data", type=Path, required=True, help="an NSMC-format file")
    parser.add_argument("--limit", type=int, default=None, help="only the first N rows")
    parser.add_argument("--predictions", type=Path, default=None, help="write per-row TSV here")
    args = parser.parse_args(argv)
    try:
        model = load_model(args.model)
        corpus = read_corpus(args.data).head(args.limit)
    except (ModelLoadError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    positive = predict_positive(model, corpus.texts)
    result = score(corpus.labels, [int(p >= 0.5) for p in positive])
    if args.predictions is not None:
        write_predictions(args.predictions, corpus.texts, corpus.labels, positive)
    print(f"model {model.version} on {args.data} ({result.n} reviews)")
    print(f"accuracy {result.accuracy:.4f}")
    for name in ("negative", "positive"):
        print(f"{name:>9}: precision {result.precision[name]:.4f} recall {result.recall[name]:.4f}")
    print(json.dumps({"model": model.version, **result.to_dict()}))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
