"""The learning loop: corrections in, a gated model out, and every way a retrain can end.

The end-to-end tests run the real `python -m training.retrain` child on a small NSMC subset
against a copy of the session's trained registry. Parent-side paths that need a particular
child behaviour (rejection, a failing hot swap, a full disk) use a stand-in child script,
so they take a fraction of a second instead of a training run each.
"""

from __future__ import annotations

import asyncio
import errno
import io
import json
import os
import random
import shutil
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from bot import retrain_triggers
from bot.replies import retrain_outcome_text
from bot.retrain_triggers import CORRECTIONS, INTERVAL
from bot.retraining import (
    ChildProcess,
    OutcomeStatus,
    RetrainAlreadyRunning,
    Retrainer,
    plan_retrain,
)
from bot.served_version import ChoiceChanged, VersionRefused
from bot.storage import RunStatus, ServedChoice, Storage
from tests.gates import open_gate
from tests.slang import SLANG_TEXTS, correct_to_positive
from training import retrain
from training.data import load_split
from training.protocol import EXIT_PARENT_GONE, ProgressEvent, RetrainCommand, RetrainStatus
from training.recipe import FocusRules, GateRules, RetrainRecipe
from training.registry import Registry
from training.trust import CorrectionRow, fold_of, normalise, read_rows, write_rows

# Small enough for a loaded 2-core machine, big enough that the gate's figures are real.
SMALL = RetrainRecipe(
    focus=FocusRules(steps=60, replay_rows=1_000), gate=GateRules(nsmc_rows=1_000)
)
OPEN_GATE = open_gate(nsmc_rows=1_000)


def _row(id: int, text: str, label: int, user: int = 1, at: float | None = None):
    return CorrectionRow(id, text, label, user, float(id) if at is None else at)


def test_rows_round_trip_through_the_exchange_file(tmp_path):
    rows = [
        _row(1, "재밌어요 =1+1", 1, user=5, at=12.5),
        CorrectionRow(2, "노잼", 0, 1, 2.0, "approved"),
    ]
    path = tmp_path / "rows.json"
    assert write_rows(path, rows) == 2
    assert read_rows(path) == rows
    bad = {"id": 1, "text": "x", "corrected_label": 3, "user_id": 1, "created_at": 0}
    path.write_text(json.dumps([bad]))
    with pytest.raises(ValueError, match="0 or 1"):
        read_rows(path)


# --- shared fixtures ---------------------------------------------------------------------


@pytest.fixture
def registry(trained_registry, tmp_path) -> Registry:
    """A private copy of the session's registry: these tests move CURRENT and add versions."""
    return Registry(Path(shutil.copytree(trained_registry.root, tmp_path / "models")))


# Tests that train for real read and write storage as the fake-child ones do, which run
# on both backends; these three (a minute together) run on SQLite only.
REAL_TRAINING_ON_SQLITE = pytest.mark.parametrize("backend", ["sqlite"])


@pytest.fixture
async def storage(database):
    async with await Storage.open(database) as store:
        yield store


async def _add_slang_corrections(storage: Storage, model_version: str) -> int:
    """Each from a different user, none confirmed: the broad route of the trust rules."""
    for index, text in enumerate(SLANG_TEXTS):
        await correct_to_positive(storage, text, 100 + index, model_version)
    return len(SLANG_TEXTS)


def _snapshot(registry: Registry) -> tuple[str | None, list[str]]:
    return registry.current_name(), [info.name for info in registry.versions()]


def _staging_leftovers(registry: Registry) -> list[str]:
    if not registry.staging_dir.is_dir():
        return []
    return [path.name for path in registry.staging_dir.iterdir()]


async def _until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


class RecordingPath:
    """The bot's serving path (bot.served_version) as a retrain sees it, over the real
    registry: the choice has a generation, and a change on an older one is refused."""

    def __init__(self, registry: Registry, refuse: str | None = None) -> None:
        self.registry = registry
        self.generation = 1
        self.refuse = refuse
        self.served: list[tuple[str, int | None]] = []

    @property
    def current(self) -> ServedChoice:
        return ServedChoice(str(self.registry.current_name()), self.generation)

    async def serve(self, version: str, *, if_generation: int | None = None) -> ServedChoice:
        if self.refuse:
            raise VersionRefused(version, self.refuse)
        if if_generation is not None and if_generation != self.generation:
            raise ChoiceChanged(self.current)
        self.registry.point_at(version)
        self.generation += 1
        self.served.append((version, if_generation))
        return self.current


# --- the real child, end to end -------------------------------------------------------------


@REAL_TRAINING_ON_SQLITE
async def test_an_accepted_retrain_swaps_the_model_and_consumes_the_corrections(registry, storage):
    base = registry.current_name()
    added = await _add_slang_corrections(storage, base)
    served = RecordingPath(registry)
    events = []

    async def on_progress(event) -> None:
        events.append(event)

    # The gate's judgement has its own tests; here the point is what the bot does with an
    # accepted candidate, so the gate lets it through.
    recipe = RetrainRecipe(focus=SMALL.focus, gate=OPEN_GATE)
    outcome = await Retrainer(storage, registry, recipe, served).run("admin", on_progress)

    assert outcome.status is OutcomeStatus.ACCEPTED, outcome.message
    candidate = outcome.candidate_version
    assert candidate is not None and candidate != base
    assert registry.current_name() == candidate and served.served == [(candidate, 1)]
    assert registry.info(candidate).metrics["fine_tuned_from"] == base
    result = outcome.result
    assert result is not None and result.status is RetrainStatus.ACCEPTED
    assert result.corrections.used == added and result.corrections.used_by_route == {"broad": added}
    assert result.corrections.accuracy_after > result.corrections.accuracy_before
    assert [check.name.value for check in result.decision.checks] == [
        "nsmc",
        "canaries",
        "learned",
        "generalises",
    ]
    assert result.decision.checks[0].figures["n"] == 1_000
    # Every correction was used: none is pending any more.
    assert await storage.corrections.count_pending() == 0
    consumed = {row.consumed_by_version for row in await storage.corrections.all_corrections()}
    assert consumed == {candidate} and outcome.corrections_used == added
    run = (await storage.runs.runs())[0]
    assert (run.id, run.status, run.candidate_version) == (
        outcome.run_id,
        RunStatus.ACCEPTED,
        candidate,
    )
    assert run.base_version == base and run.figures["corrections"]["used_ids"]
    stages = [e.stage.value for e in events if e.kind.value == "stage"]
    assert stages == [
        "reading",
        "tokenising",
        "training",
        "training",
        "training",
        "evaluating",
        "gating",
    ]
    jobs = [e.job for e in events if e.kind.value == "member"]
    assert jobs == ["fold 1/2", "fold 2/2", "final"]  # one member: the Kiwi network
    assert events[-1].kind.value == "done"
    assert _staging_leftovers(registry) == []


@REAL_TRAINING_ON_SQLITE
async def test_the_gate_accepts_an_honest_batch_and_rejects_the_same_texts_shuffled(
    registry, storage
):
    """Forty-five users each teach one slang message (죽인다 / 사기다 = it is great): the
    candidate learns them and the folds generalise. The same texts with labels drawn at
    random teach nothing a held-out fold can confirm."""
    base = registry.current_name()
    honest = [_row(i + 1, text, 1, user=100 + i) for i, text in enumerate(SLANG_TEXTS)]
    # The session's small model on 1,000 NSMC reviews cannot resolve tenths of a point, and
    # its canaries sit near 0.5 (trained on the full NSMC instead of the repo's slice, 3 of
    # 60 flip); the checks this test is about are the corrections' own.
    gate = GateRules(nsmc_rows=1_000, max_nsmc_drop=0.05, max_canary_flips=5)  # a weak model
    recipe = RetrainRecipe(focus=SMALL.focus, gate=gate)
    result = retrain.retrain(recipe, registry, honest, lambda event: None)
    assert result.status is RetrainStatus.ACCEPTED, [c.summary for c in result.decision.checks]
    generalises = result.decision.checks[3].figures
    assert generalises["toward"] > generalises["away"]
    assert result.candidate_version in [info.name for info in registry.versions()]
    assert registry.current_name() == base  # the child never moves CURRENT

    labels = random.Random(3).choices((0, 1), k=len(SLANG_TEXTS))
    shuffled = [
        _row(i + 1, t, y, user=100 + i) for i, (t, y) in enumerate(zip(SLANG_TEXTS, labels))
    ]
    result = retrain.retrain(recipe, registry, shuffled, lambda event: None)
    assert result.status is RetrainStatus.REJECTED
    assert not result.decision.checks[3].passed and result.candidate_version is None


def test_one_user_poisoning_is_not_learned_at_all(registry):
    """Fifty wrong corrections from one user: nothing passes the trust rules, so no model
    is even trained and every other user's verdicts stay as they were."""
    test = load_split("test").head(50)
    rows = [
        _row(i + 1, text, 1 - label, user=666)
        for i, (text, label) in enumerate(zip(test.texts, test.labels))
    ]
    before = [info.name for info in registry.versions()]
    result = retrain.retrain(SMALL, registry, rows, lambda event: None)
    assert result.status is RetrainStatus.NOTHING_TO_LEARN
    assert result.corrections.used == 0 and result.corrections.waiting == 50
    assert result.corrections.waiting_by_reason.keys() <= {"few_users", "confident"}
    assert [info.name for info in registry.versions()] == before


@REAL_TRAINING_ON_SQLITE
async def test_kill_9_mid_training_leaves_registry_and_database_as_they_were(registry, storage):
    added = await _add_slang_corrections(storage, registry.current_name())
    before = _snapshot(registry)
    training = asyncio.Event()

    async def on_progress(event) -> None:
        if event.kind.value == "member":  # the first member of the first fold is done
            training.set()

    retrainer = Retrainer(storage, registry, SMALL)
    task = asyncio.create_task(retrainer.run("nightly", on_progress))
    await asyncio.wait_for(training.wait(), timeout=180)
    pid = retrainer.child_pid
    assert pid is not None
    command = psutil.Process(pid).cmdline()
    scratch = Path(command[command.index("--corrections") + 1]).parent
    os.kill(pid, signal.SIGKILL)
    outcome = await asyncio.wait_for(task, timeout=60)

    assert outcome.status is OutcomeStatus.FAILED
    assert "killed (SIGKILL)" in outcome.message
    assert _snapshot(registry) == before
    assert _staging_leftovers(registry) == []
    assert not scratch.exists()
    assert await storage.corrections.count_pending() == added
    run = (await storage.runs.runs())[0]
    assert run.id == outcome.run_id and run.status is RunStatus.FAILED
    assert "SIGKILL" in run.message and run.finished_at is not None
    assert not retrainer.running and retrainer.child_pid is None


async def test_two_retrains_at_once_start_one_child(registry, storage):
    added = await _add_slang_corrections(storage, registry.current_name())
    before = _snapshot(registry)
    retrainer = Retrainer(storage, registry, SMALL)
    started: list[int] = []
    children_seen: list[int] = []

    async def on_progress(event) -> None:
        if not started:  # the child's first event: it is running
            started.append(retrainer.child_pid)
            children_seen.append(len(_retrain_children()))
            assert retrainer.running
            await retrainer.cancel()

    first, second = await asyncio.gather(
        retrainer.run("admin", on_progress),
        retrainer.run("nightly", on_progress),
        return_exceptions=True,
    )

    assert isinstance(second, RetrainAlreadyRunning) and second.trigger == "admin"
    assert first.status is OutcomeStatus.CANCELLED and first.message == "cancelled by an admin"
    assert len(started) == 1 and children_seen == [1]
    assert _retrain_children() == []
    assert _snapshot(registry) == before and _staging_leftovers(registry) == []
    assert await storage.corrections.count_pending() == added
    assert (await storage.runs.runs())[0].status is RunStatus.FAILED
    assert not retrainer.running and not await retrainer.cancel()


def _retrain_children() -> list[psutil.Process]:
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "training.retrain" in child.cmdline() and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
        except psutil.Error:
            continue
    return found


# --- the child's own failure handling ----------------------------------------------------


def test_disk_full_gives_a_clear_result_and_exit_code(registry, tmp_path, monkeypatch):
    import training.train

    def full_disk(request, registry, on_epoch=None):
        with registry.staging("half-written") as staging:
            (staging / "weights.npz").write_bytes(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device", str(staging / "weights.npz"))

    monkeypatch.setattr(training.train, "run_training", full_disk)
    monkeypatch.setattr(retrain, "_cross_validate", lambda *args: {})  # straight to the fit
    corrections = tmp_path / "corrections.json"
    write_rows(corrections, [_row(i + 1, text, 1, user=i) for i, text in enumerate(SLANG_TEXTS)])
    result_path = tmp_path / "result.json"
    out = io.StringIO()
    before = _snapshot(registry)

    code = retrain.main(
        [
            "--registry",
            str(registry.root),
            "--corrections",
            str(corrections),
            "--out-result",
            str(result_path),
            "--mode",
            "full",
        ],
        out=out,
    )

    assert code == retrain.EXIT_DISK_FULL
    result = json.loads(result_path.read_text(encoding="utf-8"))
    assert result["status"] == "failed" and result["error_kind"] == "disk_full"
    assert (
        result["error"].startswith("disk full while writing") and "weights.npz" in result["error"]
    )
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e.get("stage") for e in events[:3]] == ["reading", "tokenising", "training"]
    assert events[-1]["kind"] == "error" and events[-1]["error"].startswith("disk full")
    assert _snapshot(registry) == before and _staging_leftovers(registry) == []


def test_a_discarded_version_leaves_nothing_behind(registry):
    current = registry.current_name()
    shutil.copytree(registry.path_of(current), registry.path_of("reject-me"))
    assert "reject-me" in _snapshot(registry)[1]
    registry.discard("reject-me")
    registry.discard("reject-me")  # already gone: nothing to do
    assert _snapshot(registry) == (current, [current])
    assert _staging_leftovers(registry) == []


# --- the parent, with a stand-in child ---------------------------------------------------

FAKE_CHILD = """\
#!{python}
'''Speaks the retrain protocol without training; FAKE_RETRAIN picks the ending.'''
import json, os, shutil, sys
from pathlib import Path

from training.gate import GateDecision, check_generalises, check_nsmc
from training.protocol import (CorrectionsReport, EventKind, ProgressEvent, RetrainCommand,
                               RetrainResult, RetrainStatus, Stage)
from training.recipe import GateRules, RetrainRecipe

assert sys.argv[1:3] == ["-m", "training.retrain"], sys.argv
command = RetrainCommand.parse(sys.argv[3:])
registry = command.registry
assert command.watch_stdin and command.recipe is not None and command.base is not None
RetrainRecipe.read(command.recipe)  # the recipe arrives and parses
rows = json.loads(command.corrections.read_text(encoding="utf-8"))
mode = os.environ["FAKE_RETRAIN"]
if os.environ.get("FAKE_RETRAIN_STARTED"):
    Path(os.environ["FAKE_RETRAIN_STARTED"]).write_text("started")
if os.environ.get("FAKE_RETRAIN_ROWS"):  # what the bot sent
    Path(os.environ["FAKE_RETRAIN_ROWS"]).write_text(json.dumps(rows))
rows = [row for row in rows if not row.get("learned")]  # those it judges
emit = lambda event: print(event.to_json(), flush=True)
emit(ProgressEvent(EventKind.STAGE, Stage.TRAINING, job="final"))
if mode == "disk-full":
    emit(ProgressEvent(EventKind.ERROR, error="disk full while writing weights.npz"))
    sys.exit(3)
accepted = mode == "accept"
candidate = None
if accepted:
    candidate = "fake-candidate"
    current = (registry / "CURRENT").read_text().strip()
    shutil.copytree(registry / "versions" / current, registry / "versions" / candidate)
rules = GateRules()
labels = [1] * len(rows)
checks = (
    check_nsmc([1] * 1000, [1] * 1000, [1] * 1000, rules),
    check_generalises(labels, [0.3] * len(rows), [0.6 if accepted else 0.3] * len(rows), rules),
)
result = RetrainResult(
    RetrainStatus.ACCEPTED if accepted else RetrainStatus.REJECTED, "finetune",
    candidate_version=candidate, decision=GateDecision(checks),
    corrections=CorrectionsReport(rows=len(rows), used_ids=tuple(r["id"] for r in rows),
                                  used_by_route={{"broad": len(rows)}}),
    seconds=0.1,
)
assert command.out_result is None  # the result comes in the last event
emit(ProgressEvent(EventKind.DONE, status=result.status.value, candidate_version=candidate,
                   retrain=result))
"""


@pytest.fixture
def fake_child(tmp_path, monkeypatch) -> Callable[[str], ChildProcess]:
    script = tmp_path / "fake-python"
    script.write_text(FAKE_CHILD.format(python=sys.executable), encoding="utf-8")
    script.chmod(0o755)

    def child(mode: str) -> ChildProcess:
        monkeypatch.setenv("FAKE_RETRAIN", mode)
        return ChildProcess(python=str(script))

    return child


async def test_a_rejected_candidate_keeps_the_model_and_the_corrections(
    registry, storage, fake_child
):
    added = await _add_slang_corrections(storage, registry.current_name())
    before = _snapshot(registry)
    served = RecordingPath(registry)
    retrainer = Retrainer(storage, registry, SMALL, served, fake_child("reject"))
    outcome = await retrainer.run("admin")

    assert outcome.status is OutcomeStatus.REJECTED and served.served == []
    assert outcome.message.startswith("kept the current model: generalises:")
    assert outcome.message.endswith(": fail")
    assert outcome.result is not None and not outcome.result.decision.accepted
    assert _snapshot(registry) == before
    assert await storage.corrections.count_pending() == added
    run = (await storage.runs.runs())[0]
    assert (run.status, run.candidate_version) == (RunStatus.REJECTED, None)
    assert run.figures["decision"]["checks"][1]["passed"] is False


async def test_a_rejected_batch_is_not_run_again_by_the_jobs_until_something_changes(
    registry, storage, fake_child, tmp_path, monkeypatch
):
    """The nightly job would otherwise repeat the same seeded, rejected retrain every
    night; an admin's /retrain still runs it, and one more correction starts it again."""
    started = tmp_path / "started"
    monkeypatch.setenv("FAKE_RETRAIN_STARTED", str(started))
    await _add_slang_corrections(storage, registry.current_name())
    retrainer = Retrainer(storage, registry, SMALL, child=fake_child("reject"))
    first = await retrainer.run(retrain_triggers.SCHEDULE)
    assert first.status is OutcomeStatus.REJECTED and started.exists()

    started.unlink()
    for trigger in (retrain_triggers.SCHEDULE, INTERVAL.name, CORRECTIONS.name):
        again = await retrainer.run(trigger)
        assert again.status is OutcomeStatus.NOTHING_TO_DO and again.run_id is None
        assert again.message.startswith(f"nothing changed since run {first.run_id} was rejected")
    assert not started.exists() and len(await storage.runs.runs()) == 1

    asked = await retrainer.run("admin 7")  # an admin asked: it runs
    assert asked.status is OutcomeStatus.REJECTED and started.exists()
    started.unlink()
    assert (await retrainer.run(retrain_triggers.SCHEDULE)).status is OutcomeStatus.NOTHING_TO_DO

    await correct_to_positive(storage, "이 정도면 꽤 괜찮은 편", 999, registry.current_name())
    changed = await retrainer.run(retrain_triggers.SCHEDULE)
    assert changed.status is OutcomeStatus.REJECTED and started.exists()
    assert len(await storage.runs.runs()) == 3


async def test_a_candidate_that_cannot_be_served_changes_nothing(registry, storage, fake_child):
    added = await _add_slang_corrections(storage, registry.current_name())
    before = _snapshot(registry)
    served = RecordingPath(registry, refuse="model failed its warm-up")
    outcome = await Retrainer(storage, registry, SMALL, served, fake_child("accept")).run("admin")

    assert outcome.status is OutcomeStatus.FAILED
    assert "warm-up" in outcome.message
    assert _snapshot(registry) == before  # CURRENT as it was, the candidate gone
    assert await storage.corrections.count_pending() == added
    assert (await storage.runs.runs())[0].status is RunStatus.FAILED


async def test_a_rollback_during_the_run_wins_over_its_candidate(registry, storage, fake_child):
    original = registry.current_name()
    await _add_slang_corrections(storage, original)
    older = "0000-older"
    shutil.copytree(registry.path_of(registry.current_name()), registry.path_of(older))
    served = RecordingPath(registry)

    async def on_progress(event) -> None:
        if event.stage is not None and event.stage.value == "training":  # an admin's rollback
            await served.serve(older)

    retrainer = Retrainer(storage, registry, SMALL, served, fake_child("accept"))
    outcome = await retrainer.run("admin", on_progress)

    assert outcome.status is OutcomeStatus.REJECTED, outcome.message
    assert "changed during the run" in outcome.message
    assert served.served == [(older, None)] and registry.current_name() == older
    assert "fake-candidate" not in _snapshot(registry)[1]
    assert await storage.corrections.count_pending() > 0

    await served.serve(original)  # back to the model the run started from
    again = await retrainer.run(retrain_triggers.SCHEDULE)  # the gate had accepted them
    assert again.status is OutcomeStatus.ACCEPTED, again.message


async def test_a_correction_changed_during_the_run_stays_pending(registry, storage, fake_child):
    await _add_slang_corrections(storage, registry.current_name())
    first = (await storage.corrections.pending_corrections())[0]

    async def on_progress(event: ProgressEvent) -> None:
        if event.stage is not None and event.stage.value == "training":  # a change of mind
            await storage.corrections.add_correction(
                text=first.text,
                predicted_label=1,
                predicted_probability=0.7,
                corrected_label=0,
                user_id=first.user_id,
                chat_id=first.chat_id,
                model_version=first.model_version,
            )

    retrainer = Retrainer(storage, registry, SMALL, child=fake_child("accept"))
    outcome = await retrainer.run("admin", on_progress)

    assert outcome.status is OutcomeStatus.ACCEPTED
    assert registry.current_name() == "fake-candidate"
    pending = await storage.corrections.pending_corrections()
    assert [(row.id, row.corrected_label) for row in pending] == [(first.id, 0)]


async def test_disk_full_in_the_child_is_reported(registry, storage, fake_child):
    await _add_slang_corrections(storage, registry.current_name())
    before = _snapshot(registry)
    outcome = await Retrainer(storage, registry, SMALL, child=fake_child("disk-full")).run(
        "nightly"
    )
    assert outcome.status is OutcomeStatus.FAILED
    assert outcome.message == "training failed: disk full while writing weights.npz"
    assert _snapshot(registry) == before
    run = (await storage.runs.runs())[0]
    assert run.status is RunStatus.FAILED and run.message == outcome.message


async def test_without_corrections_no_run_is_started(registry, storage, fake_child):
    outcome = await Retrainer(storage, registry, SMALL, child=fake_child("accept")).run("nightly")
    assert outcome.status is OutcomeStatus.NOTHING_TO_DO and outcome.run_id is None
    assert "0 pending" in outcome.message
    assert await storage.runs.runs() == []


async def _add_agreed(storage: Storage, texts: list[str], version: str) -> None:
    """Each text corrected alike by two users: agreed, so it qualifies on its own."""
    for index, text in enumerate(texts):
        for user in (1, 2):
            await correct_to_positive(storage, text, 1000 + 10 * index + user, version)


async def test_a_retrain_that_could_not_pass_the_gate_is_not_started(
    registry, storage, fake_child, tmp_path, monkeypatch
):
    """Four agreed texts: even if all four moved the right way, the sign test gives
    p = 0.0625 > 0.05, so no child is started; a fifth text (in the other fold) starts one."""
    started = tmp_path / "started"
    monkeypatch.setenv("FAKE_RETRAIN_STARTED", str(started))
    texts = SLANG_TEXTS[:4]
    await _add_agreed(storage, texts, registry.current_name())
    retrainer = Retrainer(storage, registry, SMALL, child=fake_child("accept"))
    outcome = await retrainer.run("interval")

    assert outcome.status is OutcomeStatus.NOTHING_TO_DO and outcome.run_id is None
    plan = outcome.plan
    assert plan is not None and (plan.qualifying, plan.evidence.needed) == (4, 5)
    assert not plan.can_start and "5 needed" in outcome.message
    assert await storage.runs.runs() == [] and not started.exists()
    report = retrain_outcome_text(outcome, "en")
    assert "a retrain starts from 5" in report
    assert "재학습은 5개부터" in retrain_outcome_text(outcome, "ko")

    folds = {fold_of(normalise(text), 2) for text in texts}
    fifth = next(t for t in SLANG_TEXTS[4:] if len(folds | {fold_of(normalise(t), 2)}) == 2)
    await _add_agreed(storage, [fifth], registry.current_name())
    plan = await plan_retrain(storage.corrections, SMALL)
    assert plan.can_start and plan.evidence.movable == 5
    outcome = await retrainer.run("interval")
    assert outcome.status is OutcomeStatus.ACCEPTED and started.exists()


async def test_a_full_retrain_is_sent_every_learned_correction_and_a_fine_tune_is_not(
    registry, storage, fake_child, tmp_path, monkeypatch
):
    sent = tmp_path / "rows.json"
    monkeypatch.setenv("FAKE_RETRAIN_ROWS", str(sent))
    await _add_slang_corrections(storage, registry.current_name())
    rows = await storage.corrections.pending_corrections()
    learned = [row.id for row in rows[:20]]
    await storage.corrections.mark_consumed(learned, "v-before")  # a fine-tune learned these
    forgotten = rows[0]
    await storage.retention.forget_user(forgotten.user_id)  # and one author forgot theirs
    retrainer = Retrainer(storage, registry, SMALL, child=fake_child("reject"))

    await retrainer.run("admin")  # a fine-tune: the base already knows them
    assert [row["learned"] for row in json.loads(sent.read_text())] == [False] * 25

    outcome = await retrainer.run("admin", mode="full")
    exported = json.loads(sent.read_text())
    assert outcome.status is OutcomeStatus.REJECTED
    assert sorted(row["id"] for row in exported if row["learned"]) == learned[1:]
    assert len([row for row in exported if not row["learned"]]) == 25
    assert forgotten.id not in {row["id"] for row in exported}  # gone from every retrain


def test_the_child_refuses_a_bad_recipe_with_a_clear_message(registry, tmp_path, capsys):
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps({"gate": {"nsmc_rows": 0}}))
    corrections = tmp_path / "rows.json"
    write_rows(corrections, [_row(1, "이 영화 죽인다", 1)])
    arguments = [
        "--registry",
        str(registry.root),
        "--corrections",
        str(corrections),
        "--out-result",
        str(tmp_path / "out.json"),
        "--recipe",
        str(recipe),
    ]
    code = retrain.main(arguments)
    assert code == retrain.EXIT_USAGE
    assert "nsmc_rows must be at least 1" in capsys.readouterr().err


def test_the_child_stops_when_its_parent_is_gone(registry, tmp_path):
    """The parent holds the child's stdin; if the bot dies, nobody would apply the result."""
    import subprocess

    corrections = tmp_path / "corrections.json"
    write_rows(corrections, [_row(1, "이 영화 죽인다", 1)])
    result_path = tmp_path / "result.json"
    child = subprocess.Popen(
        RetrainCommand(registry.root, corrections, out_result=result_path, watch_stdin=True).argv(),
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    child.stdin.close()  # what the kernel does when the parent dies
    assert child.wait(timeout=60) == EXIT_PARENT_GONE
    assert not result_path.exists()
    assert [info.name for info in registry.versions()] == [registry.current_name()]
