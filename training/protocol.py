"""What the retraining process tells the bot: progress events on stdout, a result file.

Both are typed values written and read by the same code on each side (`to_json` here,
`from_json` there), so the bot never matches strings in a dict to learn what happened.
The recipe going the other way is `training.recipe.RetrainRecipe`.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

from training.gate import GateDecision


class Stage(StrEnum):
    READING = "reading"  # the current model reads the corrections, trust rules apply
    TOKENISING = "tokenising"
    TRAINING = "training"
    EVALUATING = "evaluating"
    GATING = "gating"


class EventKind(StrEnum):
    STAGE = "stage"
    MEMBER = "member"  # one member of one training job finished
    EPOCH = "epoch"  # an epoch of one member ended (`python -m training.train --events`)
    DONE = "done"
    ERROR = "error"


@dataclass(frozen=True)
class ProgressEvent:
    kind: EventKind
    stage: Stage | None = None
    job: str | None = None  # "fold 1/2", "final"
    member: int | None = None  # 1-based
    members: int | None = None
    member_name: str | None = None  # "kiwi", "mecab", "syllable", "ngram"
    loss: float | None = None
    epoch: int | None = None  # 1-based, of `epochs` for this member
    epochs: int | None = None
    status: str | None = None
    candidate_version: str | None = None
    error: str | None = None

    def to_json(self) -> str:
        return json.dumps(
            {k: v for k, v in asdict(self).items() if v is not None}, ensure_ascii=False
        )

    @classmethod
    def from_json(cls, line: str | bytes) -> ProgressEvent | None:
        """None for a line that is not an event (the protocol tolerates stray output)."""
        try:
            data = json.loads(line)
            kind = EventKind(data.pop("kind"))
            stage = Stage(data.pop("stage")) if "stage" in data else None
            return cls(kind=kind, stage=stage, **data)
        except (ValueError, TypeError, KeyError, AttributeError):
            return None


class RetrainStatus(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    NOTHING_TO_LEARN = "nothing_to_learn"  # no correction passed the trust rules
    FAILED = "failed"


@dataclass(frozen=True)
class Flip:
    """One text whose verdict the candidate changed, for the admin's report."""

    text: str
    label: int  # the corrected (or true) label
    before: float  # P(positive), current model
    after: float  # P(positive), candidate
    source: str  # "correction", "canary" or "nsmc"


@dataclass(frozen=True)
class CorrectionsReport:
    rows: int = 0
    used_ids: tuple[int, ...] = ()
    used_by_route: dict[str, int] = field(default_factory=dict)  # approved / agreed / broad
    waiting_by_reason: dict[str, int] = field(default_factory=dict)  # see WaitReason
    accuracy_before: float | None = None  # current model on the corrections used
    accuracy_after: float | None = None  # candidate on the same
    carried: int = 0  # texts learned before, taught again by a full retrain
    carried_after: float | None = None  # share of them the candidate answers as corrected

    @property
    def used(self) -> int:
        return sum(self.used_by_route.values())

    @property
    def waiting(self) -> int:
        return sum(self.waiting_by_reason.values())


@dataclass(frozen=True)
class RetrainResult:
    status: RetrainStatus
    mode: str
    base_version: str | None = None
    candidate_version: str | None = None  # kept in the registry only when accepted
    decision: GateDecision | None = None
    corrections: CorrectionsReport = field(default_factory=CorrectionsReport)
    flips: tuple[Flip, ...] = ()
    seconds: float = 0.0
    error: str | None = None
    error_kind: str | None = None  # "disk_full" or "error"

    @property
    def accepted(self) -> bool:
        return self.status is RetrainStatus.ACCEPTED

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["decision"] = self.decision.to_dict() if self.decision else None
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    @classmethod
    def from_json(cls, text: str) -> RetrainResult:
        data = json.loads(text)
        corrections = dict(data.get("corrections") or {})
        corrections["used_ids"] = tuple(corrections.get("used_ids", ()))
        return cls(
            status=RetrainStatus(data["status"]),
            mode=str(data.get("mode", "finetune")),
            base_version=data.get("base_version"),
            candidate_version=data.get("candidate_version"),
            decision=GateDecision.from_dict(data["decision"]) if data.get("decision") else None,
            corrections=CorrectionsReport(**corrections),
            flips=tuple(Flip(**flip) for flip in data.get("flips", ())),
            seconds=float(data.get("seconds", 0.0)),
            error=data.get("error"),
            error_kind=data.get("error_kind"),
        )

    def write(self, path: Path) -> None:
        """Atomically, so the parent never reads half a result."""
        partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        partial.write_text(self.to_json(), encoding="utf-8")
        os.replace(partial, path)

    @classmethod
    def read(cls, path: Path) -> RetrainResult | None:
        try:
            return cls.from_json(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError, TypeError):
            return None


def protocol_stream() -> TextIO:
    """A private copy of stdout for the JSON lines; fd 1 itself then points at stderr, so
    stray prints from Python or C libraries cannot corrupt the protocol."""
    stream = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    sys.stdout.flush()
    os.dup2(2, 1)
    return stream


def exit_when_parent_dies(code: int) -> None:
    """The parent holds our stdin open; EOF means it is gone, and nobody would read our
    result or make it current, so stop rather than publish an orphan version."""

    def watch() -> None:
        # os.read on the raw descriptor: a daemon thread blocked inside sys.stdin's buffered
        # reader holds its lock, and Python aborts (SIGABRT) at exit when it finds it held.
        while os.read(0, 4096):
            pass
        os._exit(code)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
