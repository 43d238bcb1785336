"""The validation gate: a retrained model replaces the served one only if every check passes.

Four questions, because each alone can be fooled:

* **NSMC** — is it still as good on reviews? Both models score the same test reviews; the
  drop is judged on the pairs where they disagree (a paired bound), which resolves a
  few tenths of a point on 5,000 reviews where an unpaired comparison could not.
* **Canaries** — does any clear-cut review it used to get right flip? Poisoning shows
  here first: "최악의 영화" turning positive costs NSMC almost nothing.
* **Learned** — does it answer the corrections it trained on as corrected?
* **Generalises** — trained without a fold of the corrections, does it move that fold
  towards its labels more often than chance? Every correction is judged once, so twenty
  corrections give twenty pieces of evidence, not the four of a 20% hold-out; shuffled
  labels move as often one way as the other and fail the sign test.

Pure: predictions in, a decision out. Nothing is loaded, trained or swapped here. And
before any training, `evidence_of`: whether a batch could pass the generalisation check at
all (the bot starts no retrain that could not).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from statistics import NormalDist
from typing import Any

from training.recipe import GateRules

# A probability that moved by less than this did not move: float noise, not evidence.
MOVED = 1e-4


class CheckName(StrEnum):
    NSMC = "nsmc"
    CANARIES = "canaries"
    LEARNED = "learned"
    GENERALISES = "generalises"


@dataclass(frozen=True)
class GateCheck:
    name: CheckName
    passed: bool
    figures: dict[str, Any]  # the numbers behind the verdict, for the admin's report
    summary: str  # one English line, for logs and the command line

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateCheck:
        return cls(
            CheckName(data["name"]),
            bool(data["passed"]),
            dict(data["figures"]),
            str(data["summary"]),
        )


@dataclass(frozen=True)
class GateDecision:
    checks: tuple[GateCheck, ...] = field(default_factory=tuple)

    @property
    def accepted(self) -> bool:
        return bool(self.checks) and all(check.passed for check in self.checks)

    def check(self, name: CheckName) -> GateCheck | None:
        return next((check for check in self.checks if check.name is name), None)

    def to_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "checks": [check.to_dict() for check in self.checks]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateDecision:
        return cls(tuple(GateCheck.from_dict(check) for check in data["checks"]))


def _verdict(passed: bool) -> str:
    return "pass" if passed else "fail"


def _accuracy(predicted: Sequence[int], labels: Sequence[int]) -> float | None:
    if not labels:
        return None
    return sum(p == y for p, y in zip(predicted, labels, strict=True)) / len(labels)


def check_nsmc(
    labels: Sequence[int], before: Sequence[int], after: Sequence[int], rules: GateRules
) -> GateCheck:
    """Non-inferiority on paired predictions: the upper `confidence` bound of the drop in
    accuracy must not exceed `max_nsmc_drop`."""
    n = len(labels)
    if not n:
        raise ValueError("the NSMC check needs reviews")
    fixed = sum(b != y and a == y for y, b, a in zip(labels, before, after, strict=True))
    broken = sum(b == y and a != y for y, b, a in zip(labels, before, after, strict=True))
    drop = (broken - fixed) / n
    spread = max(fixed + broken - (broken - fixed) ** 2 / n, 0.0)
    bound = drop + NormalDist().inv_cdf(rules.confidence) * math.sqrt(spread) / n
    passed = bound <= rules.max_nsmc_drop + 1e-12
    figures = {
        "n": n,
        "accuracy_before": _accuracy(before, labels),
        "accuracy_after": _accuracy(after, labels),
        "fixed": fixed,
        "broken": broken,
        "drop": drop,
        "drop_bound": bound,
        "max_drop": rules.max_nsmc_drop,
        "confidence": rules.confidence,
    }
    summary = (
        f"NSMC: {figures['accuracy_before']:.2%} -> {figures['accuracy_after']:.2%} on {n} "
        f"reviews ({fixed} fixed, {broken} broken); drop at most {bound * 100:+.2f} points "
        f"at {rules.confidence:.0%} confidence, {rules.max_nsmc_drop * 100:.2f} allowed: "
        f"{_verdict(passed)}"
    )
    return GateCheck(CheckName.NSMC, passed, figures, summary)


def check_canaries(
    texts: Sequence[str],
    labels: Sequence[int],
    before: Sequence[int],
    after: Sequence[int],
    rules: GateRules,
) -> GateCheck:
    """No canary the current model gets right may flip; ones it already gets wrong are
    not held against the candidate."""
    flipped = [
        text for text, y, b, a in zip(texts, labels, before, after, strict=True) if b == y != a
    ]
    passed = len(flipped) <= rules.max_canary_flips
    figures = {
        "n": len(labels),
        "right_before": sum(b == y for y, b in zip(labels, before, strict=True)),
        "flipped": len(flipped),
        "examples": flipped[:5],
    }
    summary = f"canaries: {len(flipped)} of {len(labels)} flipped: {_verdict(passed)}"
    return GateCheck(CheckName.CANARIES, passed, figures, summary)


def check_learned(labels: Sequence[int], after: Sequence[int], rules: GateRules) -> GateCheck:
    share = _accuracy(after, labels) or 0.0
    passed = bool(labels) and share >= rules.min_learned - 1e-12
    right = sum(a == y for y, a in zip(labels, after, strict=True))
    figures = {"n": len(labels), "right": right, "share": share, "min_share": rules.min_learned}
    summary = (
        f"learned: {right} of {len(labels)} corrections answered as corrected "
        f"({rules.min_learned:.0%} needed): {_verdict(passed)}"
    )
    return GateCheck(CheckName.LEARNED, passed, figures, summary)


def check_generalises(
    labels: Sequence[int],
    before: Sequence[float],
    out_of_fold: Sequence[float],
    rules: GateRules,
) -> GateCheck:
    """A one-sided sign test on how each correction's P(positive) moved, towards its label
    or away from it, when the candidate was trained without that correction's fold."""
    toward = away = 0
    fixed = 0
    for label, p_before, p_after in zip(labels, before, out_of_fold, strict=True):
        movement = (p_after - p_before) * (1 if label == 1 else -1)
        toward += movement > MOVED
        away += movement < -MOVED
        fixed += (p_before >= 0.5) != label and (p_after >= 0.5) == label
    moved = toward + away
    p_value = sign_test(toward, moved)
    share = toward / moved if moved else 0.0
    passed = moved > 0 and p_value <= rules.max_p_value and share >= rules.min_moved_share
    figures = {
        "n": len(labels),
        "folds": rules.folds,
        "toward": toward,
        "away": away,
        "fixed": fixed,
        "p_value": p_value,
        "max_p_value": rules.max_p_value,
        "min_share": rules.min_moved_share,
    }
    summary = (
        f"generalises: trained without their fold, {toward} of {len(labels)} corrections moved "
        f"towards their label and {away} away (sign test p = {p_value:.3f}, at most "
        f"{rules.max_p_value} needed; {fixed} flipped to the label): {_verdict(passed)}"
    )
    return GateCheck(CheckName.GENERALISES, passed, figures, summary)


def sign_test(successes: int, trials: int) -> float:
    """P(at least `successes` of `trials` fair coin flips come up heads)."""
    if trials <= 0:
        return 1.0
    tail = sum(math.comb(trials, k) for k in range(successes, trials + 1))
    return float(tail / 2**trials)


@dataclass(frozen=True)
class Evidence:
    """Whether a batch of corrections could pass the generalisation check at all.

    Each text is judged by a candidate trained without its fold, so a text whose fold is
    the only one holding texts cannot move (nothing was trained on the others). Even if
    every text that can move moves towards its label, the sign test needs `needed` of
    them to reach `max_p_value`; a retrain with fewer is certain to be rejected.
    """

    movable: int
    needed: int

    @property
    def enough(self) -> bool:
        return self.movable >= self.needed


def min_evidence(rules: GateRules) -> int:
    """The fewest corrections that can pass: n of n moving towards their labels gives
    p = 2**-n, which must be at most `max_p_value` (4 texts: 0.0625; 5: 0.031)."""
    n = 1
    while sign_test(n, n) > rules.max_p_value + 1e-12:
        n += 1
    return n


def evidence_of(folds: Sequence[int], rules: GateRules) -> Evidence:
    """`folds`: the fold of each text that would be used (training.trust.fold_of)."""
    sizes: dict[int, int] = {}
    for fold in folds:
        sizes[fold] = sizes.get(fold, 0) + 1
    movable = sum(size for size in sizes.values() if size < len(folds))
    return Evidence(movable, min_evidence(rules))
