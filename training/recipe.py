"""How a retrain runs, as one typed value shared by the bot and the retraining process.

The bot builds a `RetrainRecipe` from its settings (bot/settings.py), writes it as JSON for
the child (`python -m training.retrain --recipe FILE`), and the child reads it back: one
definition of every knob and its default, so the two sides cannot drift apart.

Three groups, one per question a retrain answers:

* `TrustRules`: which corrections may teach the shared model (one user alone must not);
* `FocusRules`: how they are learned (a few hundred steps against a replay of NSMC);
* `GateRules`: when the result is good enough to serve.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

Mode = Literal["finetune", "full"]


class RecipeError(ValueError):
    """A recipe value that cannot be used; the message names the field."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise RecipeError(message)


@dataclass(frozen=True)
class TrustRules:
    """Who may steer the shared model.

    A text's corrections count for everyone once `agreement` distinct users gave the same
    label (and more than gave the other), or a bot admin approved it. Without agreement, a
    user's corrections still count, but only in a batch of at least `min_users` users,
    and only up to `max_user_share` of that batch: twenty people each correcting one
    message are evidence, one person correcting fifty is an opinion. A correction against
    a verdict the current model holds with at least `confident` probability needs
    `confident_agreement` users or an admin, because that is where poisoning looks like.
    """

    agreement: int = 2
    confident: float = 0.95
    confident_agreement: int = 3
    min_users: int = 5
    max_user_share: float = 0.1
    max_per_user: int = 50  # a user's newest rows; the rest wait for a later run

    def __post_init__(self) -> None:
        _require(self.agreement >= 1, f"agreement must be at least 1, not {self.agreement}")
        _require(
            self.confident_agreement >= self.agreement,
            f"confident_agreement ({self.confident_agreement}) must be at least "
            f"agreement ({self.agreement})",
        )
        _require(
            0.5 < self.confident <= 1.0, f"confident must be in (0.5, 1], not {self.confident}"
        )
        _require(self.min_users >= 1, f"min_users must be at least 1, not {self.min_users}")
        _require(
            0.0 < self.max_user_share <= 1.0,
            f"max_user_share must be in (0, 1], not {self.max_user_share}",
        )
        _require(
            self.max_per_user >= 1, f"max_per_user must be at least 1, not {self.max_per_user}"
        )


@dataclass(frozen=True)
class FocusRules:
    """How corrections are learned without forgetting NSMC.

    Every network takes `steps` optimiser steps on batches in which `correction_share` of
    the rows are corrections (drawn again and again) and the rest a fixed replay sample
    of `replay_rows` NSMC reviews, and keeps `interpolation` of the change in its
    weights; the n-gram member is re-fitted on the same replay (its targets: the member's
    own probabilities) plus the corrections, each weighing `ngram_correction_weight`
    reviews, with its current weights as the prior.
    Measured in docs/learning-loop.md.
    """

    steps: int = 120
    batch_size: int = 64
    correction_share: float = 0.25
    replay_rows: int = 4_000
    learning_rate_share: float = 0.4  # of the recipe's learning rate
    # Each network ends halfway between its current and its fine-tuned weights
    # (WiSE-FT, Wortsman et al. 2022): on 20 chat corrections this halved the NSMC
    # verdicts that changed (317 -> 209 of 10,000) and kept all 20 learned.
    interpolation: float = 0.5
    ngram_correction_weight: float = 30.0
    # A student (one network distilled from a model still in the registry) learns through
    # its teacher (training.follow): the teacher is fine-tuned as above, and the student
    # towards the teacher's change on the replay and `transfer_chat_rows` chat messages,
    # the `transfer_focus_rows` of them the teacher moved most drawn with the corrections.
    follow_teacher: bool = True
    transfer_chat_rows: int = 4_000
    transfer_focus_rows: int = 200
    # The student's own steps, at its rate times steps / student_steps (the same steps
    # times rate): its targets are the teacher's soft change, which it follows in fewer
    # steps. 100 instead of 120: 3-4 s less, the twenty users accepted at six seeds of six
    # (120 steps: five), the 1,000-correction batch further from the NSMC limit
    # (docs/learning-loop.md, "The student's own steps").
    student_steps: int = 100

    def __post_init__(self) -> None:
        _require(self.steps >= 1, f"steps must be at least 1, not {self.steps}")
        _require(
            self.student_steps >= 1, f"student_steps must be at least 1, not {self.student_steps}"
        )
        _require(self.batch_size >= 2, f"batch_size must be at least 2, not {self.batch_size}")
        _require(
            0.0 < self.correction_share < 1.0,
            f"correction_share must be in (0, 1), not {self.correction_share}",
        )
        _require(self.replay_rows >= 1, f"replay_rows must be at least 1, not {self.replay_rows}")
        _require(
            self.learning_rate_share > 0,
            f"learning_rate_share must be positive, not {self.learning_rate_share}",
        )
        _require(
            0.0 < self.interpolation <= 1.0,
            f"interpolation must be in (0, 1], not {self.interpolation}",
        )
        _require(
            self.transfer_chat_rows >= 0,
            f"transfer_chat_rows must be at least 0, not {self.transfer_chat_rows}",
        )
        _require(
            self.transfer_focus_rows >= 0,
            f"transfer_focus_rows must be at least 0, not {self.transfer_focus_rows}",
        )
        _require(
            self.ngram_correction_weight > 0,
            f"ngram_correction_weight must be positive, not {self.ngram_correction_weight}",
        )


@dataclass(frozen=True)
class GateRules:
    """When a candidate may replace the served model; each rule is one check.

    * NSMC: on `nsmc_rows` test reviews, the paired one-sided `confidence` bound on the
      accuracy drop must stay within `max_nsmc_drop` (0.003 = 0.3 points).
    * Canaries: no more than `max_canary_flips` (none) of the clear-cut reviews of the
      canary set that the current model gets right may flip.
    * Learned: the candidate answers at least `min_learned` of the corrections it trained
      on as corrected.
    * Generalises: trained on the other folds, the candidate moves each held-out
      correction's probability towards its label more often than chance would (a sign
      test at `max_p_value`), so a batch of noise cannot pass however it is cut.
    """

    nsmc_rows: int = 10_000
    max_nsmc_drop: float = 0.003
    confidence: float = 0.8
    max_canary_flips: int = 0
    min_learned: float = 0.9
    folds: int = 2
    max_p_value: float = 0.05
    min_moved_share: float = 0.6

    def __post_init__(self) -> None:
        _require(self.nsmc_rows >= 1, f"nsmc_rows must be at least 1, not {self.nsmc_rows}")
        _require(
            0.0 <= self.max_nsmc_drop < 1.0,
            f"max_nsmc_drop must be in [0, 1), not {self.max_nsmc_drop}",
        )
        _require(
            0.5 <= self.confidence < 1.0, f"confidence must be in [0.5, 1), not {self.confidence}"
        )
        _require(
            0.0 <= self.min_learned <= 1.0, f"min_learned must be in [0, 1], not {self.min_learned}"
        )
        _require(self.folds >= 2, f"folds must be at least 2, not {self.folds}")
        _require(
            0.0 < self.max_p_value <= 1.0, f"max_p_value must be in (0, 1], not {self.max_p_value}"
        )
        _require(
            0.0 <= self.min_moved_share <= 1.0,
            f"min_moved_share must be in [0, 1], not {self.min_moved_share}",
        )


@dataclass(frozen=True)
class RetrainRecipe:
    """Everything the retraining process needs besides its inputs and outputs.

    `mode`: "finetune" is the focused update above (about a minute for the default
    ensemble); "full" retrains every member from scratch on NSMC plus the corrections
    (the nightly run; about 15 minutes). Both are judged by the same gate.
    """

    mode: Mode = "finetune"
    trust: TrustRules = field(default_factory=TrustRules)
    focus: FocusRules = field(default_factory=FocusRules)
    gate: GateRules = field(default_factory=GateRules)
    limit: int | None = None  # NSMC training rows a full retrain reads; None: all
    seed: int = 42

    def __post_init__(self) -> None:
        _require(
            self.mode in ("finetune", "full"), f"mode must be finetune or full, not {self.mode!r}"
        )
        _require(
            self.limit is None or self.limit >= 1, f"limit must be at least 1, not {self.limit}"
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> RetrainRecipe:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RetrainRecipe:
        """Unknown keys are refused: a misspelt setting must not silently fall back."""
        parts = {"trust": TrustRules, "focus": FocusRules, "gate": GateRules}
        _refuse_unknown(cls, data, "recipe")
        values = dict(data)
        for name, kind in parts.items():
            if name in values:
                _refuse_unknown(kind, values[name], name)
                values[name] = kind(**values[name])
        return cls(**values)

    def write(self, path: Path) -> None:
        path.write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> RetrainRecipe:
        return cls.from_json(path.read_text(encoding="utf-8"))


def _refuse_unknown(kind: type, data: Any, where: str) -> None:
    if not isinstance(data, dict):
        raise RecipeError(f"{where} must be a JSON object")
    unknown = set(data) - {f.name for f in fields(kind)}
    if unknown:
        raise RecipeError(f"unknown {where} setting(s): {', '.join(sorted(unknown))}")
