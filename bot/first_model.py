"""The first model of a fresh install: a quick stand-in at once, the full model behind it.

Training the full ensemble takes 12-14 minutes and ~4.9 GB on two cores; nobody should
wait that long for a first verdict. With FIRST_MODEL=quick (the default):

1. `ensure_model` fits the n-gram member alone (about a minute, ~1.2 GB) in a child
   process, publishes it with `"role": "quick"` in its metrics.json and makes it current.
2. `FullModelFollowUp`, started with the runtime whenever the current version is marked
   quick, trains the full model in a background child (`python -m training.train
   --events`, at a lower CPU priority, its stderr in a log file), reports its progress to
   the log and to `/status`, and once the version is published serves it through the one
   serving path (bot.served_version), if the quick version is still the one served.
3. If that child fails, or the bot stops, CURRENT still names the quick version, so the
   next start sees the marker and trains the full model again (tokenised corpora are
   cached, which spares most of the tokenising). A full model published just before a
   crash names the quick version it `replaces`; it is only made current, not retrained.

Like retraining, the child never moves CURRENT: the serving path does, from the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import time
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

from bot.child_process import Child, ChildCommand, child_environment
from bot.retraining import RetrainAlreadyRunning, Retrainer, ServingPath
from bot.served_version import ChoiceChanged, VersionRefused
from bot.settings import FirstModelPlan, Role, Settings
from bot.storage import ServedChoice
from nlp.model_config import CONFIGS, ModelConfig, members_of
from training.protocol import EventKind, ProgressEvent, TrainCommand
from training.registry import QUICK_ROLE, Registry

log = logging.getLogger(__name__)

BACKGROUND_NICENESS = 10  # replies first: training only gets the CPU the bot leaves
TRIGGER = "first full model"


def training_command(
    python: str, registry: Path, plan: FirstModelPlan, quick: bool, replaces: str | None = None
) -> tuple[str, ...]:
    """`python -m training.train` for the quick stand-in or the full model of `plan`."""
    command = TrainCommand(
        config=plan.quick_config if quick else plan.full_config,
        epochs=plan.epochs,
        limit=plan.limit,
        test_limit=plan.quick_test_rows if quick else plan.full_test_rows,
        out=registry.resolve(),
        no_holdout=True,
        replaces=replaces,
    )
    if quick:  # NSMC alone: the stand-in must answer within about a minute
        command = replace(command, data="nsmc", role=QUICK_ROLE, make_current="yes")
    elif replaces is None:  # FIRST_MODEL=full: nothing is served until this one is done
        command = replace(command, make_current="yes")
    else:  # the bot moves CURRENT once it has read the child's last event
        command = replace(command, make_current="no", events=True, watch_stdin=True)
    return command.argv(python)


def ensure_model(settings: Settings) -> None:
    """Before the bot starts: with no current model, train one in a child process, its
    progress bars in this terminal. Raises SystemExit if that fails."""
    registry = Registry(settings.paths.registry_dir)
    if registry.current_name() is not None:
        return
    if settings.role is Role.REPLICA:
        wait_for_first_model(registry)
        return
    plan = settings.first_model
    if plan.quick:
        print(
            "아직 모델이 없어 빠른 모델(n-gram)을 먼저 학습해요. 1-2분 뒤부터 답하고, "
            "전체 모델은 뒤에서 학습해 바꿔 넣어요.\n(No model yet: fitting a quick one "
            "first, 1-2 minutes; the full model then trains in the background.)"
        )
    else:
        print(
            "아직 모델이 없어 전체 모델을 먼저 학습해요 (약 12-14분).\n"
            "(No model yet: training the full model first, 12-14 minutes.)"
        )
    command = training_command(settings.python, registry.root, plan, quick=plan.quick)
    if subprocess.run(command, env=child_environment(), check=False).returncode != 0:
        raise SystemExit("training failed; see the messages above")


def wait_for_first_model(registry: Registry, poll_seconds: float = 5.0) -> None:
    """A replica trains nothing: it waits for the trainer's first model on the shared
    registry (the trainer fits the quick one in about a minute)."""
    print("No model yet: waiting for the trainer's first model in the shared registry.")
    while registry.current_name() is None:
        time.sleep(poll_seconds)


class TrainingFailed(RuntimeError):
    """The background training ended without a version to serve; the message says why."""


class Phase(StrEnum):
    TRAINING = "training"
    SERVING = "serving"  # the full model replaced the quick one
    FAILED = "failed"  # the quick model stays; the next start tries again


@dataclass(frozen=True)
class FollowUpState:
    """What `/status` and the log say about the full model's training."""

    phase: Phase
    quick_version: str
    started_at: float
    epochs_done: int = 0
    epochs_total: int = 1
    last: ProgressEvent | None = None  # the latest epoch event
    full_version: str | None = None
    error: str | None = None

    @property
    def evaluating(self) -> bool:
        """Every epoch is done; the ensemble is reading the test set (minutes on 50k)."""
        return self.phase is Phase.TRAINING and self.epochs_done >= self.epochs_total

    @property
    def fraction(self) -> float:
        """Epochs done, with the test evaluation counted as one more step."""
        if self.phase is Phase.SERVING:
            return 1.0
        return min(1.0, self.epochs_done / (self.epochs_total + 1))


def total_epochs(plan: FirstModelPlan) -> int:
    """Epochs the full training will report: a final fit runs every network for its
    configured epochs (no early stopping), and the n-gram member counts as one."""
    members = members_of(CONFIGS[plan.full_config])
    return sum((plan.epochs or m.max_epochs) if isinstance(m, ModelConfig) else 1 for m in members)


class FullModelFollowUp:
    """Trains the full model behind a quick one and swaps it in; one per runtime."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        retrainer: Retrainer,
        served: ServingPath,
        log_path: Path,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.retrainer = retrainer
        self.served = served
        self.log_path = log_path
        self.state: FollowUpState | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> bool:
        """Start in the background if the current version is a quick one; True if so."""
        base = self.served.current
        if not self.registry.info(base.version).is_quick:
            return False
        plan = self.settings.first_model
        self.state = FollowUpState(
            Phase.TRAINING, base.version, time.time(), epochs_total=total_epochs(plan)
        )
        self._task = asyncio.create_task(self._follow_up(base), name="full-model")
        return True

    async def stop(self) -> None:
        """Kills the child: training starts over at the next start (see the module doc)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _follow_up(self, base: ServedChoice) -> None:
        try:
            async with self.retrainer.exclusive(TRIGGER):  # no retrain meanwhile
                version = await asyncio.to_thread(self.registry.replacement_of, base.version)
                if version is None:
                    version = await self._train(base.version)
                await self._adopt(base, version)
        except asyncio.CancelledError:
            raise
        except (RetrainAlreadyRunning, TrainingFailed, VersionRefused, OSError) as error:
            self._fail(str(error))
        except Exception as error:  # a background task: report it, never lose it
            log.exception("full model follow-up failed")
            self._fail(f"{type(error).__name__}: {error}")

    async def _train(self, quick: str) -> str:
        command = training_command(
            self.settings.python,
            self.registry.root,
            self.settings.first_model,
            quick=False,
            replaces=quick,
        )
        log.info("training the full model in the background (log: %s)", self.log_path)
        child = ChildCommand(command, niceness=BACKGROUND_NICENESS, stderr_log=self.log_path)
        end = await Child(child).run(self._on_event)
        if end.error is not None:
            raise TrainingFailed(end.error)
        done = end.done
        if done is None or done.candidate_version is None:
            raise TrainingFailed(f"the training process ended with code {end.returncode}")
        return done.candidate_version

    async def _on_event(self, event: ProgressEvent) -> None:
        """Each epoch moves the progress `/status` and the log show."""
        if event.kind is EventKind.EPOCH and self.state is not None:
            self.state = replace(self.state, epochs_done=self.state.epochs_done + 1, last=event)
            log.info("%s", progress_line(self.state))

    async def _adopt(self, base: ServedChoice, version: str) -> None:
        """Served only if the quick version is still the choice: an admin who chose
        another version meanwhile keeps it."""
        try:
            await self.served.serve(version, if_generation=base.generation)
        except ChoiceChanged as changed:
            now = changed.now.version if changed.now else None
            raise TrainingFailed(
                f"{version} is ready, but the served version changed to {now}: not swapped"
            ) from changed
        assert self.state is not None
        self.state = replace(
            self.state,
            phase=Phase.SERVING,
            full_version=version,
            epochs_done=self.state.epochs_total,
        )
        minutes = (time.time() - self.state.started_at) / 60
        log.info("now serving the full model %s (trained in %.0f min)", version, minutes)

    def _fail(self, message: str) -> None:
        if self.state is not None:
            self.state = replace(self.state, phase=Phase.FAILED, error=message)
        log.error(
            "the full model was not trained: %s (log: %s); the quick model stays, and "
            "the next start tries again",
            message,
            self.log_path,
        )


def progress_line(state: FollowUpState) -> str:
    """One log line: a bar over all members' epochs, then where the training is."""
    cells = round(state.fraction * 20)
    bar = "█" * cells + "░" * (20 - cells)
    where = ""
    if state.last is not None:
        event = state.last
        where = (
            f" · member {event.member}/{event.members} {event.member_name}, "
            f"epoch {event.epoch}/{event.epochs}"
        )
    if state.evaluating:
        where += " · evaluating on the test set"
    minutes = (time.time() - state.started_at) / 60
    return f"full model [{bar}] {state.fraction:4.0%}{where} · {minutes:.0f} min"
