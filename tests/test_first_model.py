"""A fresh install answers within minutes: a quick n-gram model first, the full model
trained behind it by a child process and hot-swapped in; a failed or interrupted run is
resumed at the next start, because the quick model's metadata says what it is.

Real training on real NSMC rows, kept small: 2,000 training reviews, the "full" model a
Kiwi network for one epoch.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from bot.app import open_runtime
from bot.first_model import (
    FollowUpState,
    Phase,
    ensure_model,
    progress_line,
    total_epochs,
    training_command,
)
from bot.replies import first_model_text
from bot.settings import FirstModelPlan, Settings
from training.protocol import TrainCommand
from training.registry import QUICK_ROLE, Registry

SMALL = FirstModelPlan(
    limit=2_000, quick_test_rows=300, full_config="kiwi", full_test_rows=300, epochs=1
)
SENTENCE = "배우 연기가 정말 좋았어요"

pytestmark = pytest.mark.slow  # trains models and runs the bot's training children


def _settings(folder: Path, plan: FirstModelPlan = SMALL) -> Settings:
    settings = Settings.from_env(
        {
            "DATABASE_PATH": str(folder / "bot.sqlite3"),
            "MODEL_REGISTRY": str(folder / "models"),
            "ADMIN_IDS": "99",
            "RETRAIN_CRON": "off",
        }
    )
    return replace(settings, first_model=plan)


@pytest.fixture(scope="module")
def quick_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An install after its first step: only the quick model, current."""
    folder = tmp_path_factory.mktemp("fresh")
    ensure_model(_settings(folder))
    return folder


@pytest.fixture
def install(quick_folder: Path, tmp_path: Path) -> Path:
    shutil.copytree(quick_folder / "models", tmp_path / "models")
    return tmp_path


async def _until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


def _version_of(runtime) -> str:
    return runtime.models.model.version


async def test_the_quick_model_answers_first_and_the_full_model_replaces_it(install):
    registry = Registry(install / "models")
    quick = registry.current_name()
    assert registry.info(quick).is_quick and registry.info(quick).metrics["config"] == "ngram"
    settings = _settings(install)
    async with open_runtime(settings) as runtime:
        reply = await runtime.service.analyse(
            SENTENCE, user_id=5, chat_id=5, message_id=1, lang="ko"
        )
        assert (await runtime.storage.verdicts.get_verdict(reply.verdict_id)).model_version == quick
        assert runtime.retrainer.running  # no retrain competes with it for the cores
        assert "빠른 모델" in await runtime.service.status("ko")
        assert f"{quick} · accuracy" in await runtime.service.models_text("en")
        assert "(quick)" in await runtime.service.models_text("en")
        assert "(빠른 모델)" in await runtime.service.models_text("ko")
        follow_up = runtime.first_model
        # A real training child: about a minute idle, over three on 2 cores shared with
        # two other trainings; the bound only catches a hang.
        await _until(lambda: follow_up.state.phase is not Phase.TRAINING, timeout=600)
        state = follow_up.state
        assert state.phase is Phase.SERVING, state.error
        full = state.full_version
        assert registry.current_name() == full == _version_of(runtime)
        info = registry.info(full)
        assert not info.is_quick and info.replaces == quick and info.metrics["config"] == "kiwi"
        assert (await runtime.models.trace(SENTENCE)).model_version == full
        assert state.epochs_done == state.epochs_total == 1
        assert "replaced the quick model" in await runtime.service.status("en")
        assert not runtime.retrainer.running
    assert (install / "full-model-training.log").stat().st_size > 0
    async with open_runtime(settings) as runtime:  # a restart trains nothing more
        assert runtime.first_model.state is None and _version_of(runtime) == full


async def test_a_failed_full_training_keeps_the_quick_model_and_the_next_start_resumes(install):
    registry = Registry(install / "models")
    quick = registry.current_name()
    failing = replace(_settings(install), python=shutil.which("false") or "false")
    async with open_runtime(failing) as runtime:
        await _until(lambda: runtime.first_model.state.phase is not Phase.TRAINING, timeout=30)
        assert runtime.first_model.state.phase is Phase.FAILED
        assert registry.current_name() == quick == _version_of(runtime)
        assert "다시 학습해요" in await runtime.service.status("ko")
        assert not runtime.retrainer.running
        assert (await runtime.models.trace(SENTENCE)).model_version == quick
    async with open_runtime(_settings(install)) as runtime:
        assert runtime.first_model.state.phase is Phase.TRAINING  # resumed from the marker
        await _until(lambda: runtime.retrainer.running, timeout=10)
    assert registry.current_name() == quick  # stopped mid-way: nothing half-served


async def test_a_full_model_published_before_a_crash_is_served_without_retraining(install):
    registry = Registry(install / "models")
    quick = registry.current_name()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "training.train",
            "--config",
            "ngram",
            "--limit",
            "1000",
            "--test-limit",
            "100",
            "--no-holdout",
            "--replaces",
            quick,
            "--make-current",
            "no",
            "--out",
            str(registry.root),
        ],
        check=True,
        capture_output=True,
    )
    published = registry.replacement_of(quick)
    assert published is not None and registry.current_name() == quick
    async with open_runtime(_settings(install)) as runtime:
        await _until(lambda: runtime.first_model.state.phase is not Phase.TRAINING, timeout=30)
        assert runtime.first_model.state.phase is Phase.SERVING
        assert registry.current_name() == published == _version_of(runtime)
    assert not (install / "full-model-training.log").exists()


def test_progress_counts_every_epoch_of_the_default_final_fit():
    plan = FirstModelPlan()
    assert total_epochs(plan) == 3 + 2 + 7 + 1  # Kiwi, mecab, syllable networks; n-grams
    assert total_epochs(replace(plan, epochs=1)) == 4
    state = FollowUpState(Phase.TRAINING, "q", time.time(), epochs_done=7, epochs_total=13)
    assert "50%" in progress_line(state)  # the test evaluation is the 14th step
    done = replace(state, epochs_done=13)
    assert done.evaluating and "evaluating" in progress_line(done)
    assert "평가 중" in first_model_text(done, "ko", time.time())


def test_the_commands_mark_the_quick_model_and_leave_current_to_the_bot(tmp_path):
    """Read back as the child reads them (training.protocol.TrainCommand.parse)."""
    plan = FirstModelPlan()

    def parsed(argv: tuple[str, ...]) -> TrainCommand:
        assert argv[:3] == ("py", "-m", "training.train")
        return TrainCommand.parse(argv[3:])

    quick = parsed(training_command("py", tmp_path, plan, quick=True))
    assert quick.config == "ngram" and quick.role == QUICK_ROLE and quick.data == "nsmc"
    assert quick.test_limit == 10_000 and quick.limit is None and quick.no_holdout
    assert quick.make_current == "yes" and quick.out == tmp_path.resolve()
    behind = parsed(training_command("py", tmp_path, plan, quick=False, replaces="q1"))
    assert behind.replaces == "q1" and behind.role is None
    assert behind.make_current == "no"  # the bot moves CURRENT
    assert behind.events and behind.watch_stdin
    first = parsed(training_command("py", tmp_path, replace(plan, quick=False), quick=False))
    assert first.config == "default" and first.make_current == "yes" and not first.events
