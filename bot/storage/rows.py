"""The values the store hands out: plain frozen dataclasses, no database types."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from training.trust import Review


@dataclass(frozen=True, slots=True)
class Correction:
    id: int
    text: str
    predicted_label: int
    predicted_probability: float
    corrected_label: int
    user_id: int
    chat_id: int
    model_version: str
    created_at: float
    consumed_by_version: str | None


@dataclass(frozen=True, slots=True)
class CorrectionResult:
    id: int
    created: bool  # False when the same user had already corrected the same text


@dataclass(frozen=True, slots=True)
class Verdict:
    id: int
    chat_id: int
    message_id: int
    user_id: int
    text: str | None
    predicted_label: int
    probability: float
    model_version: str
    created_at: float
    shown_label: int | None = None  # None: the model's label was shown

    @property
    def label_shown(self) -> int:
        return self.predicted_label if self.shown_label is None else self.shown_label


@dataclass(frozen=True, slots=True)
class ReviewDecision:
    text_key: str
    label: int
    decision: Review
    admin_id: int
    decided_at: float


@dataclass(frozen=True, slots=True)
class ScoreRow:
    chat_id: int
    user_id: int
    score: float
    model_version: str
    at: float
    text: str | None


@dataclass(frozen=True, slots=True)
class ChatSettings:
    chat_id: int
    store_text: bool = False
    alert_threshold: float | None = None
    alert_active: bool = False
    language: str | None = None  # None: the bot's default (Korean)
    timezone: str | None = None  # an IANA name; None: the TIMEZONE setting


@dataclass(frozen=True, slots=True)
class Removed:
    """How many rows a deletion removed, so the bot can tell the user what went."""

    corrections: int = 0
    verdicts: int = 0
    scores: int = 0
    words: int = 0  # word statistics rows (member, hour, word)


class RunStatus(StrEnum):
    RUNNING = "running"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class TrainingRun:
    id: int
    started_at: float
    finished_at: float | None
    status: RunStatus
    candidate_version: str | None
    base_version: str | None
    figures: dict[str, Any] | None
    message: str | None


def check_label(name: str, value: int) -> None:
    if value not in (0, 1):
        raise ValueError(f"{name} must be 0 or 1, not {value!r}")


def check_probability(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be within [0, 1], not {value!r}")


@dataclass(frozen=True, slots=True)
class ServedChoice:
    """The model version every process should serve, and the generation of that choice:
    each change raises it by one, so a higher generation is always the later choice."""

    version: str
    generation: int
