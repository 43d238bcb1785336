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
import shutil
import signal
import sys
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from bot.retraining import (
    OutcomeStatus,
    RetrainAlreadyRunning,
    Retrainer,
    RetrainSettings,
)
from bot.storage import RunStatus, Storage
from training import retrain
from training.corrections import (
    CorrectionRow,
    build_correction_set,
    is_heldout,
    normalise,
    read_rows,
    write_rows,
)
from training.registry import Registry

# Small enough for a loaded 2-core machine, big enough that the gate's figures are real.
SMALL = RetrainSettings(epochs=1, limit=4_000, test_limit=1_000)


def _row(id: int, text: str, label: int, user: int = 1, at: float | None = None):
    return CorrectionRow(id, text, label, user, float(id) if at is None else at)


# --- building the correction set ------------------------------------------------------------


def test_texts_are_deduplicated_after_normalisation():
    decomposed = unicodedata.normalize("NFD", "정말 좋아요")
    rows = [
        _row(1, "정말 좋아요", 1, user=1),
        _row(2, "  정말   좋아요 ", 1, user=2),
        _row(3, decomposed, 1, user=3),
        _row(4, "정말\u3000좋아요\n", 1, user=4),
        _row(5, "별로예요", 0, user=1),
    ]
    built = build_correction_set(rows, heldout_fraction=0.0)
    assert sorted(example.text for example in built.train) == ["별로예요", "정말 좋아요"]
    assert built.duplicates == 3 and built.conflicts == 0 and built.ties == 0
    merged = next(example for example in built.train if example.text == "정말 좋아요")
    assert merged.ids == (1, 2, 3, 4) and merged.label == 1
    assert built.used_ids == [1, 2, 3, 4, 5]


def test_conflicts_go_to_the_majority_and_ties_are_dropped():
    rows = [
        _row(1, "그냥 그래요", 1, user=1),
        _row(2, "그냥 그래요", 0, user=2),
        _row(3, "그냥 그래요", 0, user=3),
        _row(4, "애매하네", 1, user=1),
        _row(5, "애매하네", 0, user=2),
    ]
    built = build_correction_set(rows, heldout_fraction=0.0)
    assert [(e.text, e.label, e.ids) for e in built.train] == [("그냥 그래요", 0, (1, 2, 3))]
    assert built.conflicts == 2 and built.ties == 1
    assert built.used_ids == [1, 2, 3]  # the tied rows stay pending for a later vote


def test_each_user_counts_at_most_n_of_their_newest_corrections():
    # Ids and times disagree on purpose: "newest" means created_at, not insertion order.
    rows = [_row(i, f"리뷰 {i}", 1, user=7, at=at) for i, at in enumerate([50, 10, 40, 30, 20])]
    rows.append(_row(9, "다른 사람", 0, user=8))
    built = build_correction_set(rows, max_per_user=2, heldout_fraction=0.0)
    assert built.capped == 3
    assert sorted(built.train_texts) == ["다른 사람", "리뷰 0", "리뷰 2"]
    assert build_correction_set(rows, max_per_user=None, heldout_fraction=0.0).capped == 0


def test_a_capped_user_cannot_outvote_others():
    rows = [_row(i, "반전 대박", 1, user=i) for i in (1, 2)]
    rows += [_row(10 + i, "반전 대박" + " " * i, 0, user=3) for i in range(3)]  # same text
    rows += [_row(20 + i, f"스팸 {i}", 0, user=3, at=100.0 + i) for i in range(5)]
    built = build_correction_set(rows, max_per_user=5, heldout_fraction=0.0)
    # User 3's five newest rows are the spam ones, so the three opposite votes wait.
    assert dict(zip(built.train_texts, built.train_labels))["반전 대박"] == 1
    assert built.capped == 3


def test_the_held_out_split_is_deterministic_and_by_text():
    rows = [_row(i, f"리뷰 번호 {i}", i % 2, user=i % 13) for i in range(1_000)]
    built = build_correction_set(rows, max_per_user=None, heldout_fraction=0.2)
    assert 150 < len(built.heldout) < 250
    assert not set(built.train_ids) & set(built.heldout_ids)
    # The same text lands on the same side whatever else is in the run, in any order.
    again = build_correction_set(list(reversed(rows[:300])), heldout_fraction=0.2)
    assert set(again.heldout_texts) == {t for t in built.heldout_texts if int(t.split()[-1]) < 300}
    assert all(is_heldout(normalise(text), 0.2) for text in built.heldout_texts)
    assert build_correction_set(rows, heldout_fraction=0.0).heldout == ()


def test_rows_round_trip_through_the_exchange_file(tmp_path):
    rows = [_row(1, "재밌어요 =1+1", 1, user=5, at=12.5), _row(2, "노잼", 0)]
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


@pytest.fixture
async def storage(tmp_path):
    async with await Storage.open(tmp_path / "bot.db") as store:
        yield store


# Slang the small model reads as negative ("it kills", "it's a cheat" = it is great):
# users teach it, and the held-out variants show whether it generalised.
SUBJECTS = (
    "이 영화", "오늘 본 영화", "배우들 연기", "결말", "영상미", "음악", "스토리", "주인공",
    "감독 연출", "이번 작품", "액션 장면", "마지막 장면", "OST", "반전", "캐릭터",
)  # fmt: skip
SLANG = ("죽인다", "진짜 죽인다", "사기다")


async def _add_slang_corrections(storage: Storage, model_version: str) -> int:
    texts = [f"{subject} {slang}" for subject in SUBJECTS for slang in SLANG]
    for index, text in enumerate(texts):
        await storage.add_correction(
            text=text,
            predicted_label=0,
            predicted_probability=0.3,
            corrected_label=1,
            user_id=100 + index % 5,
            chat_id=1,
            model_version=model_version,
        )
    return len(texts)


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


# --- the real child, end to end -------------------------------------------------------------


async def test_an_accepted_retrain_swaps_the_model_and_consumes_the_corrections(registry, storage):
    base = registry.current_name()
    added = await _add_slang_corrections(storage, base)
    swapped: list[str] = []
    events: list[dict] = []

    async def on_accept(version: str) -> None:
        assert registry.current_name() == version  # CURRENT moved before the swap
        swapped.append(version)

    async def on_progress(event: dict) -> None:
        events.append(event)

    # The gate is told to accept any candidate that is not clearly broken: whether one
    # epoch on 4k rows learns this slang varies with the recipe (a change of dropout turned
    # 4 of 6 held-out fixes into 2 of 5), and the gate's judgement has its own tests in
    # test_gate.py. Here the point is what the bot does with an accepted candidate.
    settings = RetrainSettings(
        epochs=1, limit=4_000, test_limit=1_000, max_accuracy_drop=0.05, min_fixed_share=0.0
    )
    outcome = await Retrainer(storage, registry, settings, on_accept).run("admin", on_progress)

    assert outcome.status is OutcomeStatus.ACCEPTED, outcome.message
    candidate = outcome.candidate_version
    assert candidate is not None and candidate != base
    assert registry.current_name() == candidate and swapped == [candidate]
    assert registry.info(candidate).metrics["fine_tuned_from"] == base
    figures = outcome.figures
    expected = build_correction_set(await storage.all_corrections())
    assert figures["n_heldout"] == len(expected.heldout) > 0
    assert 0 <= figures["fixed_on_heldout"] <= figures["wrong_before"] <= figures["n_heldout"]
    assert figures["current_version"] == base and figures["candidate_version"] == candidate
    assert figures["test_n"] == 1_000 and figures["corrections"]["rows"] == added
    # Every correction was decided on (no ties, none capped): none is pending any more.
    assert await storage.count_pending() == 0
    consumed = {row.consumed_by_version for row in await storage.all_corrections()}
    assert consumed == {candidate} and outcome.corrections_used == added
    run = (await storage.runs())[0]
    assert (run.id, run.status, run.candidate_version) == (
        outcome.run_id,
        RunStatus.ACCEPTED,
        candidate,
    )
    assert run.base_version == base and run.figures["wrong_before"] == figures["wrong_before"]
    stages = [event["stage"] for event in events if event["event"] == "stage"]
    assert stages == ["tokenising", "training", "evaluating", "gating"]
    epoch = next(event for event in events if event["event"] == "epoch")
    assert (epoch["epoch"], epoch["epochs"]) == (1, 1) and epoch["loss"] > 0
    assert "val_accuracy" in epoch
    assert events[0]["event"] == "started" and events[-1]["event"] == "done"
    assert _staging_leftovers(registry) == []


async def test_kill_9_mid_training_leaves_registry_and_database_as_they_were(registry, storage):
    added = await _add_slang_corrections(storage, registry.current_name())
    before = _snapshot(registry)
    training = asyncio.Event()

    async def on_progress(event: dict) -> None:
        if event.get("stage") == "training":
            training.set()

    retrainer = Retrainer(storage, registry, SMALL)
    task = asyncio.create_task(retrainer.run("nightly", on_progress))
    await asyncio.wait_for(training.wait(), timeout=120)
    pid = retrainer.child_pid
    assert pid is not None
    command = psutil.Process(pid).cmdline()
    scratch = Path(command[command.index("--corrections") + 1]).parent
    # Kill while the candidate is being written: a half-made version exists in staging.
    await _until(lambda: bool(_staging_leftovers(registry)), timeout=120)
    await asyncio.sleep(2)  # into TensorFlow's start-up and the fit itself
    assert retrainer.child_pid == pid
    os.kill(pid, signal.SIGKILL)
    outcome = await asyncio.wait_for(task, timeout=60)

    assert outcome.status is OutcomeStatus.FAILED
    assert "killed (SIGKILL)" in outcome.message
    assert _snapshot(registry) == before
    assert _staging_leftovers(registry) == []
    assert not scratch.exists()
    assert await storage.count_pending() == added
    run = (await storage.runs())[0]
    assert run.id == outcome.run_id and run.status is RunStatus.FAILED
    assert "SIGKILL" in run.message and run.finished_at is not None
    assert not retrainer.running and retrainer.child_pid is None


async def test_two_retrains_at_once_start_one_child(registry, storage):
    added = await _add_slang_corrections(storage, registry.current_name())
    before = _snapshot(registry)
    retrainer = Retrainer(storage, registry, SMALL)
    started: list[int] = []
    children_seen: list[int] = []

    async def on_progress(event: dict) -> None:
        if event["event"] == "started":
            started.append(event["pid"])
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
    assert await storage.count_pending() == added
    assert (await storage.runs())[0].status is RunStatus.FAILED
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
    corrections = tmp_path / "corrections.json"
    write_rows(corrections, [_row(1, "이 영화 죽인다", 1), _row(2, "결말 사기다", 1)])
    result_path = tmp_path / "result.json"
    out = io.StringIO()
    before = _snapshot(registry)

    code = retrain.main(
        ["--registry", str(registry.root), "--corrections", str(corrections),
         "--out-result", str(result_path), "--limit", "200", "--heldout-fraction", "0"],
        out=out,
    )  # fmt: skip

    assert code == retrain.EXIT_DISK_FULL
    result = json.loads(result_path.read_text(encoding="utf-8"))
    assert result["status"] == "failed" and result["error_kind"] == "disk_full"
    assert (
        result["error"].startswith("disk full while writing") and "weights.npz" in result["error"]
    )
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e.get("stage") for e in events[:2]] == ["tokenising", "training"]
    assert events[-1]["event"] == "error" and events[-1]["error_kind"] == "disk_full"
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

args = sys.argv[1:]
assert args[:2] == ["-m", "training.retrain"], args
value = lambda flag: args[args.index(flag) + 1]
registry = Path(value("--registry"))
rows = json.loads(Path(value("--corrections")).read_text(encoding="utf-8"))
mode = os.environ["FAKE_RETRAIN"]
emit = lambda **event: print(json.dumps(event), flush=True)
emit(event="stage", stage="training")
if mode == "disk-full":
    emit(event="error", status="failed", error="disk full while writing weights.npz")
    sys.exit(3)
candidate = "fake-candidate"
current = (registry / "CURRENT").read_text().strip()
shutil.copytree(registry / "versions" / current, registry / "versions" / candidate)
emit(event="stage", stage="evaluating", candidate_version=candidate)
accepted = mode == "accept"
if not accepted:
    shutil.rmtree(registry / "versions" / candidate)
reasons = [
    "test accuracy 80.00% vs 80.00% now on 1000 reviews: ok",
    "held-out corrections: fixes 0 of the 2 the current model gets wrong: "
    + ("ok" if accepted else "too few"),
]
figures = {{"wrong_before": 2, "fixed_on_heldout": 0}}
result = {{
    "status": "accepted" if accepted else "rejected", "accepted": accepted,
    "decision": {{"accepted": accepted, "reasons": reasons, "figures": figures}},
    "figures": figures, "candidate_version": candidate,
    "correction_ids": [row["id"] for row in rows], "seconds": 0.1,
}}
Path(value("--out-result")).write_text(json.dumps(result), encoding="utf-8")
emit(event="done", status=result["status"], candidate_version=candidate)
"""


@pytest.fixture
def fake_child(tmp_path, monkeypatch) -> Callable[[str], RetrainSettings]:
    script = tmp_path / "fake-python"
    script.write_text(FAKE_CHILD.format(python=sys.executable), encoding="utf-8")
    script.chmod(0o755)

    def settings(mode: str) -> RetrainSettings:
        monkeypatch.setenv("FAKE_RETRAIN", mode)
        return RetrainSettings(python=str(script))

    return settings


async def test_a_rejected_candidate_keeps_the_model_and_the_corrections(
    registry, storage, fake_child
):
    added = await _add_slang_corrections(storage, registry.current_name())
    before = _snapshot(registry)
    swapped: list[str] = []

    async def on_accept(version: str) -> None:
        swapped.append(version)

    outcome = await Retrainer(storage, registry, fake_child("reject"), on_accept).run("admin")

    assert outcome.status is OutcomeStatus.REJECTED and swapped == []
    assert "too few" in outcome.message and "ok" not in outcome.message
    assert outcome.reasons[1].endswith("too few")
    assert _snapshot(registry) == before
    assert await storage.count_pending() == added
    run = (await storage.runs())[0]
    assert (run.status, run.candidate_version) == (RunStatus.REJECTED, "fake-candidate")
    assert run.figures["wrong_before"] == 2 and "too few" in run.message


async def test_a_failed_hot_swap_moves_current_back(registry, storage, fake_child):
    added = await _add_slang_corrections(storage, registry.current_name())
    before = _snapshot(registry)

    async def broken_swap(version: str) -> None:
        assert registry.current_name() == version
        raise RuntimeError("model failed its warm-up")

    outcome = await Retrainer(storage, registry, fake_child("accept"), broken_swap).run("admin")

    assert outcome.status is OutcomeStatus.FAILED
    assert "warm-up" in outcome.message
    assert _snapshot(registry) == before  # CURRENT back, the candidate gone
    assert await storage.count_pending() == added
    assert (await storage.runs())[0].status is RunStatus.FAILED


async def test_a_correction_changed_during_the_run_stays_pending(registry, storage, fake_child):
    await _add_slang_corrections(storage, registry.current_name())
    first = (await storage.pending_corrections())[0]

    async def on_progress(event: dict) -> None:
        if event.get("stage") == "training":  # the user changes their mind mid-run
            await storage.add_correction(
                text=first.text,
                predicted_label=1,
                predicted_probability=0.7,
                corrected_label=0,
                user_id=first.user_id,
                chat_id=first.chat_id,
                model_version=first.model_version,
            )

    retrainer = Retrainer(storage, registry, fake_child("accept"))
    outcome = await retrainer.run("admin", on_progress)

    assert outcome.status is OutcomeStatus.ACCEPTED
    assert registry.current_name() == "fake-candidate"
    pending = await storage.pending_corrections()
    assert [(row.id, row.corrected_label) for row in pending] == [(first.id, 0)]


async def test_disk_full_in_the_child_is_reported(registry, storage, fake_child):
    await _add_slang_corrections(storage, registry.current_name())
    before = _snapshot(registry)
    outcome = await Retrainer(storage, registry, fake_child("disk-full")).run("nightly")
    assert outcome.status is OutcomeStatus.FAILED
    assert outcome.message == "training failed: disk full while writing weights.npz"
    assert _snapshot(registry) == before
    run = (await storage.runs())[0]
    assert run.status is RunStatus.FAILED and run.message == outcome.message


async def test_without_corrections_no_run_is_started(registry, storage, fake_child):
    outcome = await Retrainer(storage, registry, fake_child("accept")).run("nightly")
    assert outcome.status is OutcomeStatus.NOTHING_TO_DO and outcome.run_id is None
    assert "0 pending" in outcome.message
    assert await storage.runs() == []


def test_settings_become_child_arguments():
    arguments = RetrainSettings(mode="full", limit=None, learning_rate=None).cli_arguments()
    assert arguments[arguments.index("--mode") + 1] == "full"
    assert "--limit" not in arguments and "--learning-rate" not in arguments
    parsed = retrain._parse(["--registry", "r", "--corrections", "c", "--out-result", "o"])
    defaults = RetrainSettings()
    assert parsed.test_limit == defaults.test_limit and parsed.max_per_user == defaults.max_per_user
    assert parsed.max_accuracy_drop == defaults.max_accuracy_drop
    assert parsed.min_fixed_share == defaults.min_fixed_share


def test_the_child_stops_when_its_parent_is_gone(registry, tmp_path):
    """The parent holds the child's stdin; if the bot dies, nobody would apply the result."""
    import subprocess

    corrections = tmp_path / "corrections.json"
    write_rows(corrections, [_row(1, "이 영화 죽인다", 1)])
    result_path = tmp_path / "result.json"
    child = subprocess.Popen(
        [sys.executable, "-m", "training.retrain", "--registry", str(registry.root),
         "--corrections", str(corrections), "--out-result", str(result_path), "--watch-stdin"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    child.stdin.close()  # what the kernel does when the parent dies
    assert child.wait(timeout=60) == retrain.EXIT_PARENT_GONE
    assert not result_path.exists()
    assert [info.name for info in registry.versions()] == [registry.current_name()]


def test_warming_the_token_cache_skips_the_ngram_member(tmp_path, monkeypatch):
    """A full retrain of the default ensemble tokenises for its networks only: the n-gram
    member reads raw text and has no tokeniser."""
    from nlp.config import DEFAULT
    from training.data import load_split
    from training.retrain import _warm_token_cache

    monkeypatch.setenv("SENTIMENT_CACHE_DIR", str(tmp_path))
    _warm_token_cache(DEFAULT, load_split("train").head(50))
    cached = sorted(path.name for path in tmp_path.rglob("*") if path.is_file())
    assert len(cached) == 3, cached  # kiwi, mecab, syllable
