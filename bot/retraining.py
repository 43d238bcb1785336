"""Retraining from users' corrections, driven from the bot's event loop.

The bot never imports TensorFlow: training runs in a child process
(`python -m training.retrain`) that the event loop only talks to through pipes and files,
so a retrain neither blocks replies nor can crash the bot. The child proposes, the bot
disposes: the child publishes and gates a candidate, and this module asks the one serving
path (bot.served_version) to serve it, only if the served version is still the one the
candidate was trained from (a rollback meanwhile wins).

Bookkeeping follows what users would expect of their corrections:

* accepted: the candidate is served, the corrections the run decided on are marked consumed by the
  new version, and the run is stored with its figures;
* rejected: the corrections stay pending (nothing was learned from them), the run is
  stored with the gate's reasons, and the automatic triggers do not run the same
  corrections on the same model again (an admin's /retrain does);
* failed, killed, cancelled or timed out: the registry and CURRENT are left as they were,
  leftovers are cleaned, the corrections stay pending, and the outcome says what happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from bot import retrain_triggers
from bot.child_process import Child, ChildCommand, ChildExit
from bot.served_version import ChoiceChanged
from bot.storage import Correction, Corrections, RunStatus, ServedChoice, Storage, normalise_text
from training.gate import Evidence, evidence_of
from training.protocol import ProgressEvent, RetrainCommand, RetrainResult, RetrainStatus
from training.recipe import Mode, RetrainRecipe
from training.registry import Registry
from training.retrain import EXIT_DISK_FULL
from training.trust import CorrectionRow, select_for_training, write_rows

log = logging.getLogger(__name__)

ProgressCallback = Callable[[ProgressEvent], Awaitable[None]]


class ServingPath(Protocol):
    """What a retrain needs of bot.served_version.ServedVersion."""

    @property
    def current(self) -> ServedChoice: ...

    async def serve(self, version: str, *, if_generation: int | None = None) -> ServedChoice: ...


class OutcomeStatus(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    FAILED = "failed"
    CANCELLED = "cancelled"
    NOTHING_TO_DO = "nothing_to_do"  # too few usable corrections for the gate: not started


class RetrainAlreadyRunning(RuntimeError):
    """A second retrain was asked for while one runs; retrains never overlap."""

    def __init__(self, trigger: str, started_at: float) -> None:
        super().__init__(f"a retrain ({trigger}) is already running")
        self.trigger = trigger
        self.started_at = started_at


class RetrainRunningElsewhere(RetrainAlreadyRunning):
    """Another bot process on the same database holds the retrain lock."""

    def __init__(self) -> None:
        super().__init__("another bot process", time.time())


RETRAIN_LOCK = "retrain"  # the name of the cross-process lock (Replicas.exclusive)


@dataclass(frozen=True)
class ChildProcess:
    """How the retraining process is started; the recipe says what it does."""

    python: str = sys.executable
    timeout: float | None = 6 * 3600.0  # seconds before the child is killed


SAME_FOLD = "same_fold"  # qualifies, but the gate cannot judge it yet (training.gate.Evidence)


@dataclass(frozen=True)
class RetrainPlan:
    """What a retrain would learn now, and whether it may start: only when the texts that
    qualify could pass the gate's generalisation check (training.gate.evidence_of)."""

    pending: int  # pending correction rows
    qualifying: int  # texts the trust rules would let teach the shared model
    evidence: Evidence
    waiting: dict[str, int]  # texts that wait, by reason (training.trust.WaitReason, SAME_FOLD)

    @property
    def can_start(self) -> bool:
        return self.qualifying > 0 and self.evidence.enough

    def summary(self) -> str:
        """One line for the log and the run's message."""
        waiting = ", ".join(f"{n} {why}" for why, n in self.waiting.items())
        return (
            f"nothing to learn: {self.pending} pending correction(s), {self.evidence.movable} "
            f"text(s) the gate can judge, {self.evidence.needed} needed"
            + (f"; waiting ({waiting})" if waiting else "")
        )


async def plan_retrain(corrections: Corrections, recipe: RetrainRecipe) -> RetrainPlan:
    """The plan for the corrections pending now (for /status, and before every run)."""
    return plan_of(await exported_rows(corrections), recipe)


def plan_of(rows: Sequence[CorrectionRow], recipe: RetrainRecipe) -> RetrainPlan:
    """Judged on the new (pending) rows only: those learned before are not evidence."""
    rows = [row for row in rows if not row.learned]
    # Without the model's confidence every text counts as unconfident, which only lets
    # more through: if even this cannot pass, the child could not either.
    planned = select_for_training(rows, {}, recipe.trust, recipe.gate.folds)
    evidence = evidence_of([example.fold for example in planned.used], recipe.gate)
    waiting = planned.waiting_counts()
    if len(planned.used) > evidence.movable:
        waiting[SAME_FOLD] = len(planned.used) - evidence.movable
    return RetrainPlan(len(rows), len(planned.used), evidence, waiting)


async def exported_rows(corrections: Corrections, learned: bool = False) -> list[CorrectionRow]:
    """Pending corrections with the admins' decisions on them, as the child reads them;
    with `learned` (a full retrain, from scratch), also every correction an accepted model
    learned and nobody forgot, marked so: the new model must learn them again."""
    reviews = {(r.text_key, r.label): r.decision for r in await corrections.reviews()}

    def exported(row: Correction, was_learned: bool) -> CorrectionRow:
        review = reviews.get((normalise_text(row.text), row.corrected_label))
        return CorrectionRow.of(row, review, learned=was_learned)

    rows = [exported(row, False) for row in await corrections.pending_corrections()]
    if learned:
        rows += [exported(row, True) for row in await corrections.learned_corrections()]
    return rows


@dataclass(frozen=True)
class RetrainOutcome:
    status: OutcomeStatus
    trigger: str
    message: str  # one line, fit to show the admin as it is
    run_id: int | None = None
    base_version: str | None = None
    candidate_version: str | None = None
    result: RetrainResult | None = None  # the child's report, when it made one
    corrections_used: int = 0
    seconds: float = 0.0
    plan: RetrainPlan | None = None  # why nothing started (NOTHING_TO_DO before a run)

    @property
    def accepted(self) -> bool:
        return self.status is OutcomeStatus.ACCEPTED


@dataclass(frozen=True)
class _Active:
    trigger: str
    started_at: float


class Retrainer:
    """Runs at most one retrain at a time and applies its result.

    `served` is the bot's one path to change the served version (bot.served_version):
    an accepted candidate is served through it, on the condition that the choice is still
    the one the run started from. Without it (tests, tools) only CURRENT moves.
    """

    def __init__(
        self,
        storage: Storage,
        registry: Registry,
        recipe: RetrainRecipe | None = None,
        served: ServingPath | None = None,
        child: ChildProcess | None = None,
    ) -> None:
        self.storage = storage
        self.registry = registry
        self.recipe = recipe or RetrainRecipe()
        self.child = child or ChildProcess()
        self.served = served
        self._active: _Active | None = None
        self._child: Child | None = None
        self._cancel_requested = False

    @property
    def running(self) -> bool:
        return self._active is not None

    @property
    def child_pid(self) -> int | None:
        return self._child.pid if self._child is not None else None

    async def run(
        self,
        trigger: str,
        on_progress: ProgressCallback | None = None,
        mode: Mode | None = None,
    ) -> RetrainOutcome:
        """Retrain from the pending corrections; raises RetrainAlreadyRunning if busy.

        `mode` overrides the recipe's (the frequent runs are always focused fine-tunes;
        the recipe's mode is the nightly one). The check and the claim happen with no
        await in between, so two callers on the same event loop cannot both get through.
        """
        if self._active is not None:
            raise RetrainAlreadyRunning(self._active.trigger, self._active.started_at)
        self._active = _Active(trigger, time.time())
        self._cancel_requested = False
        try:
            # Across processes sharing the database (replicas on one PostgreSQL) too.
            async with self.storage.replicas.exclusive(RETRAIN_LOCK) as ours:
                if not ours:
                    raise RetrainRunningElsewhere()
                recipe = replace(self.recipe, mode=mode) if mode else self.recipe
                job = _Run(self, trigger, on_progress, recipe)
                return await job.execute()
        finally:
            self._active = None
            self._child = None

    @contextlib.asynccontextmanager
    async def exclusive(self, trigger: str) -> AsyncIterator[None]:
        """Hold the retraining slot for other training (the first full model): meanwhile
        `run` raises RetrainAlreadyRunning, so the two never share the two cores."""
        if self._active is not None:
            raise RetrainAlreadyRunning(self._active.trigger, self._active.started_at)
        self._active = _Active(trigger, time.time())
        try:
            yield
        finally:
            self._active = None

    @property
    def cancel_requested(self) -> bool:
        return self._cancel_requested

    def _attach(self, child: Child) -> None:
        """Remember the child so `cancel` can reach it, even before it has started."""
        self._child = child
        if self._cancel_requested:
            child.stop()

    async def cancel(self) -> bool:
        """Stop the running retrain (the child is stopped); False if none was running."""
        if self._active is None:
            return False
        self._cancel_requested = True
        if self._child is not None:
            self._child.stop()
        return True


class _Run:
    """One retrain, from reading the pending corrections to storing the outcome."""

    def __init__(
        self,
        owner: Retrainer,
        trigger: str,
        on_progress: ProgressCallback | None,
        recipe: RetrainRecipe,
    ) -> None:
        self.owner = owner
        self.storage, self.registry = owner.storage, owner.registry
        self.recipe, self.child, self.served = recipe, owner.child, owner.served
        self.trigger = trigger
        self.on_progress = on_progress
        self.started = time.monotonic()
        self.run_id: int | None = None
        self.base: str | None = None
        self.base_generation: int | None = None  # of the served choice the run started from
        self.candidate: str | None = None  # published by the child, as its events announce
        self.inputs = ""  # what decides the run's result (inputs_digest)

    async def execute(self) -> RetrainOutcome:
        # A retrain killed with the bot may have left a half-written version behind.
        await asyncio.to_thread(self.registry.clean_staging)
        rows = await exported_rows(self.storage.corrections, learned=self.recipe.mode == "full")
        plan = plan_of(rows, self.recipe)
        if not plan.can_start:  # certain to be rejected: not worth minutes of CPU
            return self._outcome(OutcomeStatus.NOTHING_TO_DO, plan.summary(), plan=plan)
        if self.served is not None:
            choice = self.served.current  # what answers now
            self.base, self.base_generation = choice.version, choice.generation
        else:
            self.base = self.registry.current_name()
        self.inputs = inputs_digest(rows, self.recipe, self.base)
        rejected = await self._rejected_with_these_inputs()
        if rejected is not None and not retrain_triggers.retries_a_rejection(self.trigger):
            message = (
                f"nothing changed since run {rejected} was rejected (the same corrections, "
                "model and settings): not run again"
            )
            return self._outcome(OutcomeStatus.NOTHING_TO_DO, message, plan=plan)
        self.run_id = await self.storage.runs.start_run(base_version=self.base)
        try:
            return await self._train_and_apply(rows)
        except BaseException as error:
            await self._fail_quietly(f"the retrain stopped: {type(error).__name__}: {error}")
            raise

    async def _train_and_apply(self, rows: Sequence[CorrectionRow]) -> RetrainOutcome:
        if self.base is None:
            return await self._failed("there is no current model to improve", None)
        with tempfile.TemporaryDirectory(prefix="retrain-") as scratch:
            corrections = Path(scratch) / "corrections.json"
            recipe = Path(scratch) / "recipe.json"
            await asyncio.to_thread(write_rows, corrections, rows)
            await asyncio.to_thread(self.recipe.write, recipe)
            if self.owner.cancel_requested:
                return await self._failed("cancelled before training started", None)
            end = await self._watch_child(corrections, recipe)
        result = end.final.retrain if end.final is not None else None
        return await self._apply(end, result, rows)

    # the child

    async def _watch_child(self, corrections: Path, recipe: Path) -> ChildExit:
        """The child's report comes in its last event (training.protocol)."""
        argv = RetrainCommand(
            registry=self.registry.root.resolve(),
            corrections=corrections,
            recipe=recipe,
            base=self.base,
            watch_stdin=True,
        ).argv(self.child.python)
        child = Child(ChildCommand(argv, timeout=self.child.timeout))
        self.owner._attach(child)
        return await child.run(self._relay)

    async def _relay(self, event: ProgressEvent) -> None:
        self.candidate = event.candidate_version or self.candidate
        await self._notify(event)

    async def _notify(self, event: ProgressEvent) -> None:
        """A failed progress message (Telegram flood limits, ...) must not stop a retrain."""
        if self.on_progress is None:
            return
        try:
            await self.on_progress(event)
        except Exception:
            log.exception("retrain progress callback failed")

    # applying the result

    async def _apply(
        self,
        end: ChildExit,
        result: RetrainResult | None,
        rows: Sequence[CorrectionRow],
    ) -> RetrainOutcome:
        if end.returncode != 0 or result is None or result.status is RetrainStatus.FAILED:
            return await self._failed(self._failure_message(end, result), self.candidate)
        if result.status is RetrainStatus.NOTHING_TO_LEARN:
            await self.storage.runs.finish_run(
                self._run_id(),
                RunStatus.REJECTED,
                figures=self._figures(result),
                message="nothing to learn",
            )
            return self._outcome(OutcomeStatus.NOTHING_TO_DO, "nothing to learn", result=result)
        if not result.accepted or result.candidate_version is None:
            return await self._rejected(result)
        return await self._accept(result, result.candidate_version, rows)

    async def _accept(
        self, result: RetrainResult, candidate: str, rows: Sequence[CorrectionRow]
    ) -> RetrainOutcome:
        try:
            await self._serve(candidate)
        except ChoiceChanged as changed:
            now = changed.now.version if changed.now else None
            message = f"the served model changed during the run (from {self.base} to {now}); "
            await asyncio.to_thread(self.registry.discard, candidate)
            self.inputs = ""  # the gate accepted these inputs: the jobs may run them again
            return await self._rejected(result, message + "not swapped")
        except Exception as error:
            return await self._failed(f"the new model could not be served: {error}", candidate)
        ids = _unchanged_ids(result.corrections.used_ids, rows, await self._pending())
        await self.storage.corrections.mark_consumed(ids, candidate)
        message = f"now serving {candidate} (learned from {len(ids)} correction(s))"
        await self.storage.runs.finish_run(
            self._run_id(),
            RunStatus.ACCEPTED,
            candidate_version=candidate,
            figures=self._figures(result),
            message=message,
        )
        return self._outcome(
            OutcomeStatus.ACCEPTED, message, candidate=candidate, result=result, used=len(ids)
        )

    async def _serve(self, candidate: str) -> None:
        """Through the serving path, on the condition the run started from; without one,
        the registry alone, on the same condition."""
        if self.served is not None:
            await self.served.serve(candidate, if_generation=self.base_generation)
            return
        now = self.registry.current_name()
        if now != self.base:
            raise ChoiceChanged(ServedChoice(now, 0) if now else None)
        await asyncio.to_thread(self.registry.use, candidate)

    async def _rejected(self, result: RetrainResult, message: str | None = None) -> RetrainOutcome:
        failed = [
            c.summary for c in (result.decision.checks if result.decision else ()) if not c.passed
        ]
        message = message or "kept the current model: " + "; ".join(failed)
        await self.storage.runs.finish_run(
            self._run_id(), RunStatus.REJECTED, figures=self._figures(result), message=message
        )
        return self._outcome(OutcomeStatus.REJECTED, message, result=result)

    def _figures(self, result: RetrainResult) -> dict[str, Any]:
        return {**result.to_dict(), "trigger": self.trigger, "inputs": self.inputs}

    async def _rejected_with_these_inputs(self) -> int | None:
        """The last run's id, if it was rejected on exactly this run's inputs."""
        last = await self.storage.runs.runs(limit=1)
        if not last or last[0].status is not RunStatus.REJECTED:
            return None
        return last[0].id if (last[0].figures or {}).get("inputs") == self.inputs else None

    async def _failed(self, message: str, candidate: str | None) -> RetrainOutcome:
        """Put the registry back as it was: no orphan candidate, no staging leftovers."""
        if candidate is not None and candidate != self.registry.current_name():
            await asyncio.to_thread(self.registry.discard, candidate)
        await asyncio.to_thread(self.registry.clean_staging)
        await self.storage.runs.finish_run(
            self._run_id(), RunStatus.FAILED, figures={"trigger": self.trigger}, message=message
        )
        cancelled = self.owner.cancel_requested
        status = OutcomeStatus.CANCELLED if cancelled else OutcomeStatus.FAILED
        return self._outcome(status, message)

    async def _fail_quietly(self, message: str) -> None:
        """Best effort on the way out of an unexpected error: the run must not stay open."""
        with contextlib.suppress(Exception):
            candidate = self.candidate
            if candidate is not None and candidate != self.registry.current_name():
                await asyncio.to_thread(self.registry.discard, candidate)
            await asyncio.to_thread(self.registry.clean_staging)
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await self.storage.runs.finish_run(
                self._run_id(), RunStatus.FAILED, figures={"trigger": self.trigger}, message=message
            )

    def _failure_message(self, end: ChildExit, result: RetrainResult | None) -> str:
        code = end.returncode
        if self.owner.cancel_requested:
            return "cancelled by an admin"
        if end.timed_out:
            return f"the training process took longer than {self.child.timeout:.0f} s"
        if result is not None and result.error:
            return f"training failed: {result.error}"
        if end.signal_name is not None:
            killed = f"the training process was killed ({end.signal_name})"
            if code == -signal.SIGKILL:
                return killed
            return f"{killed}: {end.last_stderr_line()}"  # e.g. an abort's reason
        announced = end.last_event.error if end.last_event else None
        if code == EXIT_DISK_FULL:
            return f"training failed: {announced or 'disk full'}"
        detail = announced or end.last_stderr_line()
        return f"the training process failed (exit code {code}): {detail}"

    async def _pending(self) -> list[Correction]:
        return await self.storage.corrections.pending_corrections()

    def _run_id(self) -> int:
        assert self.run_id is not None
        return self.run_id

    def _outcome(
        self,
        status: OutcomeStatus,
        message: str,
        *,
        candidate: str | None = None,
        result: RetrainResult | None = None,
        used: int = 0,
        plan: RetrainPlan | None = None,
    ) -> RetrainOutcome:
        return RetrainOutcome(
            status=status,
            trigger=self.trigger,
            message=message,
            run_id=self.run_id,
            base_version=self.base,
            candidate_version=candidate,
            result=result,
            corrections_used=used,
            seconds=round(time.monotonic() - self.started, 1),
            plan=plan,
        )


# --- helpers ------------------------------------------------------------------------------


def inputs_digest(rows: Sequence[CorrectionRow], recipe: RetrainRecipe, base: str | None) -> str:
    """What decides a retrain's result: the rows sent, the recipe, the model improved."""
    digest = hashlib.sha256(recipe.to_json().encode())
    digest.update(f"\n{base}\n".encode())
    for row in rows:
        digest.update(json.dumps(row.to_dict(), ensure_ascii=False, sort_keys=True).encode())
    return digest.hexdigest()[:24]


def _unchanged_ids(
    used: Sequence[int], exported: Sequence[CorrectionRow], pending: Sequence[Correction]
) -> list[int]:
    """Used ids whose row is still pending as exported: a user who changed a label during
    the run keeps the new label pending, since this candidate learned the old one."""
    before = {row.id: (row.corrected_label, row.created_at) for row in exported}
    now = {row.id: (row.corrected_label, row.created_at) for row in pending}
    return [i for i in used if i in now and now[i] == before.get(i)]
