"""The one wire protocol between the bot and its training children.

Every child the bot starts (`python -m training.retrain`, `python -m training.train
--events`, `python -m training.demos --events`) writes on stdout nothing but
`ProgressEvent`s, one JSON object per line, encoded by `ProgressEvent.to_json` and read by
`ProgressEvent.from_json` (the parent's side is `bot.child_process`):

* every line carries `"v"`, the protocol version (`PROTOCOL_VERSION`), and `"kind"`:
  `stage` (a step of a retrain began), `member` (one member of one training job
  finished), `epoch` (an epoch ended: `member_name` is the member or the demo's model,
  `epoch` of `epochs`), then exactly one last word, `done` or `error`;
* `done` carries the result: `candidate_version` (the version a training published, or a
  retrain's candidate), `retrain` (a retrain's whole `RetrainResult`), `demo` (a demo's
  `training.demos.DemoResult`), `status`;
* `error` carries `error`, one line fit for the log and the admin (and a retrain's
  `RetrainResult`, status failed, with the kind of error);
* fields that are None are left out; a line that is not JSON, has another version, an
  unknown kind or unknown fields decodes to None: the parent logs and skips it.

Stray prints cannot corrupt the stream: `protocol_stream` gives the child a private copy
of stdout and points fd 1 at stderr. The parent holds the child's stdin open, so a child
started with `--watch-stdin` stops when the parent dies (`exit_when_parent_dies`).

`training.retrain --out-result FILE` also writes its `RetrainResult` to a file (atomically),
for a person or a script. The recipe going the other way is `training.recipe.RetrainRecipe`,
and the children's command lines are `RetrainCommand`, `TrainCommand` and `DemoCommand`:
each built and parsed in one place.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TextIO, get_args

from training.gate import GateDecision
from training.recipe import Mode

if TYPE_CHECKING:
    from training.demos import DemoResult, DemoSettings

PROTOCOL_VERSION = 1  # bump when a change to ProgressEvent would mislead an older parent
# A child's exit code when `--watch-stdin` saw the parent's end of stdin close.
EXIT_PARENT_GONE = 4


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
    DONE = "done"  # the child's last word when it succeeded, with its result
    ERROR = "error"  # the child's last word when it failed, with the reason


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
    retrain: RetrainResult | None = None  # a retrain's report, on its DONE or ERROR event
    demo: DemoResult | None = None  # a demo's result, on its DONE event

    @property
    def final(self) -> bool:
        """The child's last word: it succeeded (DONE) or says why it failed (ERROR)."""
        return self.kind in (EventKind.DONE, EventKind.ERROR)

    def to_json(self) -> str:
        data: dict[str, Any] = {"v": PROTOCOL_VERSION}
        for item in fields(self):
            value = getattr(self, item.name)
            if value is not None:
                data[item.name] = value
        if self.retrain is not None:
            data["retrain"] = self.retrain.to_dict()
        if self.demo is not None:
            data["demo"] = self.demo.to_dict()
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str | bytes) -> ProgressEvent | None:
        """None for a line that is not an event of this protocol version."""
        try:
            data = json.loads(line)
            if data.pop("v") != PROTOCOL_VERSION:
                return None
            kind = EventKind(data.pop("kind"))
            stage = Stage(data.pop("stage")) if "stage" in data else None
            retrain = RetrainResult.from_dict(data.pop("retrain")) if "retrain" in data else None
            demo = _demo_result(data.pop("demo")) if "demo" in data else None
            return cls(kind=kind, stage=stage, retrain=retrain, demo=demo, **data)
        except (ValueError, TypeError, KeyError, AttributeError):
            return None


def _demo_result(data: Any) -> DemoResult:
    from training.demos import DemoResult  # training.demos writes events with this module

    return DemoResult.from_dict(data)


Emit = Callable[[ProgressEvent], None]


def event_writer(stream: TextIO) -> Emit:
    """What a child calls to send one event: a whole line, flushed at once."""

    def emit(event: ProgressEvent) -> None:
        stream.write(event.to_json() + "\n")
        stream.flush()

    return emit


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
    teacher_version: str | None = None  # a student learned through it (training.follow)
    full_declined: bool = False  # a full retrain was asked of a student: it was fine-tuned

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
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RetrainResult:
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
            teacher_version=data.get("teacher_version"),
            full_declined=bool(data.get("full_declined", False)),
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


@dataclass(frozen=True)
class RetrainCommand:
    """The command line of `python -m training.retrain`. The bot, the benchmarks and the
    tests build it with `argv` and the child reads it with `parse`, so a flag cannot be
    renamed on one side only."""

    MODULE: ClassVar[str] = "training.retrain"

    registry: Path
    corrections: Path  # a JSON list of rows (training.trust.write_rows)
    out_result: Path | None = None  # also write the RetrainResult to this file
    recipe: Path | None = None  # a RetrainRecipe as JSON
    mode: Mode | None = None  # overrides the recipe's
    base: str | None = None  # the version to improve (default CURRENT)
    watch_stdin: bool = False  # exit when stdin closes (the parent died)

    def argv(self, python: str = sys.executable) -> tuple[str, ...]:
        args = ["--registry", str(self.registry), "--corrections", str(self.corrections)]
        for flag, value in (
            ("--out-result", self.out_result),
            ("--recipe", self.recipe),
            ("--mode", self.mode),
            ("--base", self.base),
        ):
            if value is not None:
                args += [flag, str(value)]
        if self.watch_stdin:
            args.append("--watch-stdin")
        return (python, "-m", self.MODULE, *args)

    @classmethod
    def parse(cls, argv: Sequence[str] | None, description: str | None = None) -> RetrainCommand:
        """`argv` as the child receives it (without `python -m training.retrain`); bad
        arguments exit with argparse's usage message and code 2."""
        parser = argparse.ArgumentParser(
            prog=f"python -m {cls.MODULE}",
            description=description,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        parser.add_argument("--registry", type=Path, required=True)
        parser.add_argument("--corrections", type=Path, required=True, help="JSON list of rows")
        parser.add_argument(
            "--out-result", type=Path, default=None, help="also write the result to this file"
        )
        parser.add_argument("--recipe", type=Path, default=None, help="RetrainRecipe as JSON")
        parser.add_argument("--mode", choices=get_args(Mode), default=None)
        parser.add_argument("--base", default=None, help="the version to improve (default CURRENT)")
        parser.add_argument(
            "--watch-stdin", action="store_true", help="exit when stdin closes (the parent died)"
        )
        return cls(**vars(parser.parse_args(argv)))


MakeCurrent = Literal["auto", "yes", "no"]


@dataclass(frozen=True)
class TrainCommand:
    """The command line of `python -m training.train`: the bot builds it for the first
    model with `argv`, the child reads it with `parse` (as does a person at a terminal)."""

    MODULE: ClassVar[str] = "training.train"

    config: str = "default"  # a name in nlp.model_config.CONFIGS
    epochs: int | None = None  # at most N epochs
    limit: int | None = None  # only the first N training rows
    test_limit: int | None = None  # only the first N test rows
    out: Path | None = None  # the registry directory (default MODEL_REGISTRY)
    seed: int = 42
    data: str | None = None  # a mix in training.corpora.MIXES
    distill: str | None = None  # a plan in training.distill.PLANS
    teacher: str | None = None  # a version directory, or "current"
    anneal_from: Path | None = None
    no_holdout: bool = False
    make_current: MakeCurrent = "auto"
    role: str | None = None  # training.registry.QUICK_ROLE: a stand-in to serve meanwhile
    replaces: str | None = None  # the quick version this one replaces
    watch_stdin: bool = False  # exit when stdin closes (the parent died)
    events: bool = False  # stdout carries only ProgressEvents

    def argv(self, python: str = sys.executable) -> tuple[str, ...]:
        """Only what differs from the defaults, so the command reads as what was asked."""
        args: list[str] = []
        for item in fields(self):
            value, flag = getattr(self, item.name), "--" + item.name.replace("_", "-")
            if value == item.default:
                continue
            args += [flag] if value is True else [flag, str(value)]
        return (python, "-m", self.MODULE, *args)

    @classmethod
    def parse(cls, argv: Sequence[str] | None, description: str | None = None) -> TrainCommand:
        """`argv` as the child receives it; bad arguments exit with argparse's message and
        code 2. The choices are read here, in the child only: the bot never parses."""
        from nlp.model_config import CONFIGS
        from training.corpora import DEFAULT_MIX, MIXES
        from training.distill import PLANS
        from training.registry import QUICK_ROLE
        from training.train import ANNEAL_EPOCHS

        parser = argparse.ArgumentParser(prog=f"python -m {cls.MODULE}", description=description)
        parser.add_argument("--config", choices=sorted(CONFIGS), default=cls.config)
        parser.add_argument("--epochs", type=int, default=None, help="at most N epochs")
        parser.add_argument(
            "--limit", type=int, default=None, help="only the first N training rows"
        )
        parser.add_argument(
            "--test-limit", type=int, default=None, help="only the first N test rows"
        )
        parser.add_argument("--out", type=Path, default=None, help="registry directory")
        parser.add_argument("--seed", type=int, default=cls.seed)
        parser.add_argument(
            "--data",
            choices=sorted(MIXES),
            default=None,
            help="labelled text added to NSMC's training file (training/corpora.py); "
            f"default: {DEFAULT_MIX.name}, with the sources this machine has",
        )
        parser.add_argument(
            "--distill",
            choices=sorted(PLANS),
            default=None,
            help="unlabelled text a teacher labels for this run (training/distill.py); "
            "default: the configuration's own plan (DISTILL_PLANS: the default ensemble distils)",
        )
        parser.add_argument(
            "--teacher",
            default=None,
            help="a model version directory, or 'current' (the registry's served version); "
            "without it, --distill trains the teacher first",
        )
        parser.add_argument(
            "--anneal-from",
            type=Path,
            default=None,
            metavar="VERSION_DIR",
            help=f"continue this version's networks for --epochs (default {ANNEAL_EPOCHS}), "
            "the learning rate falling linearly to 0",
        )
        parser.add_argument(
            "--no-holdout",
            action="store_true",
            help="final fit: train on every training row for the configuration's epochs "
            "(chosen on the validation split); reports no validation accuracy",
        )
        parser.add_argument(
            "--make-current",
            choices=get_args(MakeCurrent),
            default=cls.make_current,
            help="auto: when there is no current version or the new one is at least as accurate",
        )
        parser.add_argument(
            "--role",
            choices=(QUICK_ROLE,),
            default=None,
            help="quick: mark the version as a stand-in to serve while the full model trains",
        )
        parser.add_argument(
            "--replaces",
            default=None,
            metavar="VERSION",
            help="the quick version this one replaces",
        )
        parser.add_argument(
            "--watch-stdin", action="store_true", help="exit when stdin closes (the parent died)"
        )
        parser.add_argument(
            "--events",
            action="store_true",
            help="stdout carries only progress events as JSON lines (training.protocol); "
            "everything else goes to stderr",
        )
        args = parser.parse_args(argv)
        require_positive(parser, args, ("epochs", "limit", "test_limit"))
        return cls(**vars(args))


def require_positive(
    parser: argparse.ArgumentParser, args: argparse.Namespace, names: Sequence[str]
) -> None:
    """argparse's exit (code 2, its message) for a count below 1 among `names`."""
    for name in names:
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive number")


@dataclass(frozen=True)
class DemoCommand:
    """The command line of `python -m training.demos`: the bot's demo worker builds it with
    `argv`, the child reads it with `parse`; the settings travel as JSON."""

    MODULE: ClassVar[str] = "training.demos"

    demo: str  # one of training.demos.DEMOS
    epochs: int | None = None  # default: the demo's own (training.demos.DEFAULT_EPOCHS)
    seed: int = 0
    settings: DemoSettings | None = None  # default: DemoSettings()
    events: bool = False  # stdout carries only ProgressEvents, the result last
    watch_stdin: bool = False  # exit when stdin closes (the parent died)

    def argv(self, python: str = sys.executable) -> tuple[str, ...]:
        args = [self.demo, "--seed", str(self.seed)]
        if self.epochs is not None:
            args += ["--epochs", str(self.epochs)]
        if self.settings is not None:
            args += ["--settings", json.dumps(asdict(self.settings))]
        args += ["--events"] * self.events + ["--watch-stdin"] * self.watch_stdin
        return (python, "-m", self.MODULE, *args)

    @classmethod
    def parse(cls, argv: Sequence[str] | None, description: str | None = None) -> DemoCommand:
        """With the demo's default epochs filled in; bad arguments (an unknown demo, epochs
        or a seed out of range, settings that are not DemoSettings) exit with code 2."""
        from training.demos import (
            DEFAULT_EPOCHS,
            DEMOS,
            DemoArgumentError,
            DemoSettings,
            validate_args,
        )

        parser = argparse.ArgumentParser(prog=f"python -m {cls.MODULE}", description=description)
        parser.add_argument("demo", choices=DEMOS)
        parser.add_argument(
            "--epochs",
            type=int,
            default=None,
            help="default: " + ", ".join(f"{d} {e}" for d, e in DEFAULT_EPOCHS.items()),
        )
        parser.add_argument("--seed", type=int, default=cls.seed)
        parser.add_argument(
            "--settings", default=None, help="DemoSettings as JSON (the bot's, or a test's smaller)"
        )
        parser.add_argument(
            "--events",
            action="store_true",
            help="stdout carries only events as JSON lines (training.protocol), the result last",
        )
        parser.add_argument(
            "--watch-stdin", action="store_true", help="exit when stdin closes (the parent died)"
        )
        args = parser.parse_args(argv)
        try:
            args.demo, args.epochs, args.seed = validate_args(args.demo, args.epochs, args.seed)
            if args.settings is not None:
                args.settings = DemoSettings(**json.loads(args.settings))
        except DemoArgumentError as error:
            parser.error(str(error))
        except (ValueError, TypeError) as error:
            parser.error(f"bad --settings: {error}")
        return cls(**vars(args))


def protocol_stream() -> TextIO:
    """A private copy of stdout for the JSON lines; fd 1 itself then points at stderr, so
    stray prints from Python or C libraries cannot corrupt the protocol."""
    stream = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    sys.stdout.flush()
    os.dup2(2, 1)
    return stream


def exit_when_parent_dies(code: int = EXIT_PARENT_GONE) -> None:
    """The parent holds our stdin open; EOF means it is gone, and nobody would read our
    result or make it current, so stop rather than publish an orphan version."""

    def watch() -> None:
        # os.read on the raw descriptor: a daemon thread blocked inside sys.stdin's buffered
        # reader holds its lock, and Python aborts (SIGABRT) at exit when it finds it held.
        while os.read(0, 4096):
            pass
        os._exit(code)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
