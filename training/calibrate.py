"""Choose an ensemble's member weights and logit bias on NSMC validation and chat dev together.

    python -m training.calibrate --model REGISTRY/versions/VERSION [--step 0.25]

A single network (a student) is scored as an ensemble of one: only its bias is chosen.

The version must come from a holdout run (`python -m training.train` without --no-holdout):
its validation split (seed 42) is text it never trained on. The chat dev set is
`benchmarks/chat/chat_corrected.txt` + `chat_dev.txt`; `chat_unseen.txt` is only reported.
The test file is never read. The chosen values go into the recipe (`nlp.model_config`), as
the epochs do, so `make train`'s final fit uses them.

Why both sets: NSMC is film reviews, the bot reads chat. A choice made on reviews alone
tunes the verdict for reviews; the score here is the mean of NSMC validation accuracy and
the chat dev set's balanced accuracy (its classes are uneven: most everyday complaints are
negative), so neither domain can be bought with the other.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nlp.ensemble import Ensemble, Servable, load_model
from training.corpora import chat_set
from training.data import load_split

DEV_FILES = ("chat_corrected.txt", "chat_dev.txt")
HELD_BACK_FILE = "chat_unseen.txt"
BIASES = np.round(np.arange(-1.0, 1.0001, 0.1), 2)


@dataclass(frozen=True)
class Scored:
    """Each member's final P(positive) (rows x members) and the 0/1 labels."""

    probabilities: np.ndarray
    labels: np.ndarray


@dataclass(frozen=True)
class Choice:
    weights: tuple[float, ...]
    bias: float
    nsmc: float  # validation accuracy
    chat: float  # chat dev balanced accuracy

    @property
    def score(self) -> float:
        return (self.nsmc + self.chat) / 2


def combined(scored: Scored, weights: Sequence[float], bias: float) -> np.ndarray:
    """The served P(positive): the weighted mean, its logit shifted (nlp.ensemble)."""
    w = np.asarray(weights, dtype=np.float64)
    mean = np.clip(scored.probabilities @ w / w.sum(), 1e-7, 1 - 1e-7)
    return np.asarray(1.0 / (1.0 + np.exp(-(np.log(mean / (1 - mean)) + bias))))


def accuracy(scored: Scored, weights: Sequence[float], bias: float) -> float:
    return float(np.mean((combined(scored, weights, bias) >= 0.5) == scored.labels))


def balanced_accuracy(scored: Scored, weights: Sequence[float], bias: float) -> float:
    right = (combined(scored, weights, bias) >= 0.5) == scored.labels
    return float(np.mean([right[scored.labels == label].mean() for label in (0, 1)]))


def choose(nsmc: Scored, chat: Scored, step: float = 0.25) -> Choice:
    """The best (weights, bias) on the grid; ties go to the plainest (equal weights, bias
    nearest 0), so noise in a small chat set cannot move the recipe for nothing."""
    members = nsmc.probabilities.shape[1]
    grid = np.round(np.arange(0.5, 1.5001, step), 3)
    best: Choice | None = None
    for weights in itertools.product(grid, repeat=members):
        for bias in BIASES:
            choice = Choice(
                tuple(float(w) for w in weights),
                float(bias),
                accuracy(nsmc, weights, bias),
                balanced_accuracy(chat, weights, bias),
            )
            if best is None or _better(choice, best):
                best = choice
    assert best is not None
    return best


def _better(a: Choice, b: Choice) -> bool:
    if abs(a.score - b.score) > 1e-9:
        return a.score > b.score
    return _plainness(a) < _plainness(b)


def _plainness(choice: Choice) -> float:
    return abs(choice.bias) + sum(abs(weight - 1.0) for weight in choice.weights)


def score_members(
    members: Sequence[Servable], texts: Sequence[str], labels: Sequence[int]
) -> Scored:
    columns = []
    for member in members:
        values: list[float] = []
        for start in range(0, len(texts), 512):
            values += [trace.positive for trace in member.trace_batch(texts[start : start + 512])]
        columns.append(values)
    return Scored(np.asarray(columns).T, np.asarray(labels))


def main(argv: list[str] | None = None) -> int:
    from training.train import split_validation

    parser = argparse.ArgumentParser(prog="python -m training.calibrate", description=__doc__)
    parser.add_argument("--model", type=Path, required=True, help="a holdout run's version")
    parser.add_argument("--step", type=float, default=0.25, help="weight grid step")
    args = parser.parse_args(argv)
    model = load_model(args.model)
    members = model.members if isinstance(model, Ensemble) else [model]
    if not model.metrics.get("holdout", False):
        print("error: a final fit saw the validation split; use a holdout run", file=sys.stderr)
        return 2
    train = load_split("train")
    _, rows = split_validation(len(train), 42)
    nsmc = score_members(members, [train.texts[i] for i in rows], [train.labels[i] for i in rows])
    chat = score_members(members, *chat_set(DEV_FILES))
    held = score_members(members, *chat_set((HELD_BACK_FILE,)))
    plain = (1.0,) * len(members)
    best = choose(nsmc, chat, args.step)
    report = {
        "equal_weights": {
            "nsmc_val": accuracy(nsmc, plain, 0.0),
            "chat_dev_balanced": balanced_accuracy(chat, plain, 0.0),
            "chat_unseen": accuracy(held, plain, 0.0),
        },
        "chosen": {
            "weights": best.weights,
            "bias": best.bias,
            "nsmc_val": best.nsmc,
            "chat_dev_balanced": best.chat,
            "chat_unseen": accuracy(held, best.weights, best.bias),
        },
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
