"""The validation gate: a retrained model replaces the served one only if it is not worse.

Two questions, because either alone can be fooled:

(a) General accuracy, on a fixed test set both models are scored on now, through the
    serving runtime: learning a handful of corrections must not cost more than a small,
    configured drop (default half a point), which is within noise for a 1k-row test.
(b) The corrections themselves, on a held-out part neither model trained on: of the texts
    the current model gets wrong, the candidate must get at least a configured share right.
    Otherwise the retrain learned nothing users asked for, and swapping would only churn
    verdicts. If the current model gets none wrong, there is nothing to fix and (b) passes.

Pure: models and data in, a decision out. Nothing is loaded, written or swapped here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from training.evaluate import predict_labels, score

DEFAULT_MAX_ACCURACY_DROP = 0.005
DEFAULT_MIN_FIXED_SHARE = 0.5


class Predictor(Protocol):
    """What the gate needs of a model: `SentimentModel` fits, and so does a test stub."""

    version: str

    def trace_batch(self, texts: Sequence[str]) -> list[Any]: ...


@dataclass(frozen=True)
class LabelledTexts:
    texts: Sequence[str]
    labels: Sequence[int]

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise ValueError(f"{len(self.texts)} texts but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.texts)


@dataclass(frozen=True)
class GateThresholds:
    max_accuracy_drop: float = DEFAULT_MAX_ACCURACY_DROP  # as a fraction: 0.005 = 0.5 points
    min_fixed_share: float = DEFAULT_MIN_FIXED_SHARE

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_fixed_share <= 1.0:
            raise ValueError(f"min_fixed_share must be within [0, 1], not {self.min_fixed_share}")


@dataclass(frozen=True)
class GateDecision:
    accepted: bool
    reasons: list[str]  # one line per check, passed or not, for the admin's message
    figures: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateDecision:
        return cls(bool(data["accepted"]), list(data["reasons"]), dict(data["figures"]))


# Slack for float wobble in the last bits: 0.8 - 0.005 must still admit 0.795.
_EPSILON = 1e-9


def decide(
    current: Predictor,
    candidate: Predictor,
    test: LabelledTexts,
    heldout: LabelledTexts,
    thresholds: GateThresholds = GateThresholds(),
) -> GateDecision:
    return judge(measure(current, candidate, test, heldout), thresholds)


def measure(
    current: Predictor, candidate: Predictor, test: LabelledTexts, heldout: LabelledTexts
) -> dict[str, Any]:
    """Both models on the same data: the slow half of the gate, kept apart from the rules."""
    if not len(test):
        raise ValueError("the gate needs a non-empty test set")
    current_test = score(test.labels, predict_labels(current, list(test.texts), progress=False))
    candidate_test = score(test.labels, predict_labels(candidate, list(test.texts), progress=False))
    before = _predictions(current, heldout)
    after = _predictions(candidate, heldout)
    truth = list(heldout.labels)
    wrong_before = [i for i, label in enumerate(truth) if before[i] != label]
    fixed = [i for i in wrong_before if after[i] == truth[i]]
    broken = [i for i, label in enumerate(truth) if before[i] == label and after[i] != label]
    return {
        "current_version": current.version,
        "candidate_version": candidate.version,
        "test_n": current_test.n,
        "current_test_accuracy": current_test.accuracy,
        "candidate_test_accuracy": candidate_test.accuracy,
        "accuracy_change": candidate_test.accuracy - current_test.accuracy,
        "n_heldout": len(truth),
        "wrong_before": len(wrong_before),
        "fixed_on_heldout": len(fixed),
        "broken_on_heldout": len(broken),
        "fixed_share": len(fixed) / len(wrong_before) if wrong_before else None,
        "current_heldout_accuracy": _accuracy(before, truth),
        "candidate_heldout_accuracy": _accuracy(after, truth),
    }


def judge(figures: dict[str, Any], thresholds: GateThresholds) -> GateDecision:
    """The rules alone, on figures from `measure`: cheap, and testable with plain numbers."""
    accuracy_ok, accuracy_reason = _check_accuracy(figures, thresholds)
    fixes_ok, fixes_reason = _check_fixes(figures, thresholds)
    return GateDecision(
        accepted=accuracy_ok and fixes_ok,
        reasons=[accuracy_reason, fixes_reason],
        figures={
            **figures,
            "max_accuracy_drop": thresholds.max_accuracy_drop,
            "min_fixed_share": thresholds.min_fixed_share,
        },
    )


def _predictions(model: Predictor, data: LabelledTexts) -> list[int]:
    return predict_labels(model, list(data.texts), progress=False) if len(data) else []


def _accuracy(predictions: Sequence[int], labels: Sequence[int]) -> float | None:
    if not labels:
        return None
    return sum(p == t for p, t in zip(predictions, labels)) / len(labels)


def _check_accuracy(figures: dict[str, Any], thresholds: GateThresholds) -> tuple[bool, str]:
    now, new = figures["current_test_accuracy"], figures["candidate_test_accuracy"]
    ok = new >= now - thresholds.max_accuracy_drop - _EPSILON
    verdict = "ok" if ok else "too low"
    return ok, (
        f"test accuracy {new:.2%} vs {now:.2%} now on {figures['test_n']} reviews "
        f"({(new - now) * 100:+.2f} points; at most {thresholds.max_accuracy_drop * 100:.2f} "
        f"points lower allowed): {verdict}"
    )


def _check_fixes(figures: dict[str, Any], thresholds: GateThresholds) -> tuple[bool, str]:
    wrong, fixed, n = figures["wrong_before"], figures["fixed_on_heldout"], figures["n_heldout"]
    if wrong == 0:
        return True, f"held-out corrections: the current model gets all {n} right: ok"
    ok = fixed / wrong >= thresholds.min_fixed_share - _EPSILON
    verdict = "ok" if ok else "too few"
    return ok, (
        f"held-out corrections: fixes {fixed} of the {wrong} the current model gets wrong "
        f"(at least {thresholds.min_fixed_share:.0%} needed): {verdict}"
    )
