"""SIGTERM during a retrain: the bot (a real `python -m bot` process against the fake Bot
API) kills the training child, tells the admin it stopped, exits within 10 s, and the
next start does not retrain again for the same /retrain (see bot/long_jobs.py)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from bot.storage import Storage
from tests.databases import database_env, rows
from tests.e2e import ADMIN_ID, telegram_env
from tests.slang import SUBJECTS, correct_to_positive

REPO = Path(__file__).resolve().parents[1]
EXIT_SECONDS = 10.0


def _start_bot(tg, tmp_path: Path, registry: Path, database: str) -> subprocess.Popen:
    env = {
        **os.environ,
        **telegram_env(tg),
        **database_env(database),
        "MODEL_REGISTRY": str(registry),
        "ADMIN_IDS": str(ADMIN_ID),
        "DEMO_CACHE_DIR": str(tmp_path / "demos"),
        "RETRAIN_CRON": "off",
        "RETRAIN_INTERVAL_MINUTES": "0",
        "RETRAIN_AFTER_CORRECTIONS": "0",
        "PYTHONPATH": str(REPO),
    }  # POLL_TIMEOUT as in production (30 s): a stop must not wait for the long poll
    log = (tmp_path / "bot.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "bot"], env=env, cwd=tmp_path, stdout=log, stderr=log
    )


async def _until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


def _training_children(bot: subprocess.Popen) -> list[psutil.Process]:
    try:
        children = psutil.Process(bot.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for child in children:
        try:
            if "training.retrain" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:
            continue
    return found


async def _add_corrections(database: str, version: str) -> None:
    """Twenty slang texts, each from another user: enough for a retrain to start."""
    async with await Storage.open(database) as storage:
        for index, text in enumerate(
            f"{s} {w}" for s in SUBJECTS[:10] for w in ("죽인다", "사기다")
        ):
            await correct_to_positive(storage, text, 100 + index, version)


async def test_sigterm_during_a_retrain_exits_fast_and_never_retrains_twice(
    tg, trained_registry, tmp_path
):
    database = str(tmp_path / "bot.sqlite3")
    registry = Path(shutil.copytree(trained_registry.root, tmp_path / "models"))
    await _add_corrections(database, trained_registry.current_name())
    admin = tg.create_user("관리자", user_id=ADMIN_ID)
    chat = tg.private_chat(admin)
    bot = _start_bot(tg, tmp_path, registry, database)
    try:
        await _until(lambda: any(c[0] == "getUpdates" for c in tg.calls), 90, "bot polls")
        tg.send_text(chat, admin, "/retrain")
        progress = await tg.wait_for_bot_message(chat, timeout=30)
        assert "재학습" in progress["text"]
        await _until(lambda: _training_children(bot), 60, "the training child runs")
        children = _training_children(bot)
        # The /retrain was marked handled before the retrain began: nothing to replay.
        assert await rows(database, "SELECT COUNT(*) FROM inbox WHERE done_at IS NULL") == [(0,)]

        stopping = time.monotonic()
        bot.send_signal(signal.SIGTERM)
        # Waited for off the loop: the fake Bot API runs on it and must answer meanwhile.
        await asyncio.to_thread(bot.wait, 30)
        took = time.monotonic() - stopping
        print(f"exit after SIGTERM during a retrain: {took:.1f} s")
        assert took <= EXIT_SECONDS and bot.returncode == 0
        assert not any(
            child.is_running() and child.status() != psutil.STATUS_ZOMBIE for child in children
        )
        stopped = tg.bot_message(chat, progress["message_id"])
        assert "중단했어요" in stopped["text"], stopped["text"]
        [(status, message)] = await rows(database, "SELECT status, message FROM training_runs")
        assert status == "failed", message

        bot = _start_bot(tg, tmp_path, registry, database)
        polls = len([c for c in tg.calls if c[0] == "getUpdates"])
        await _until(
            lambda: len([c for c in tg.calls if c[0] == "getUpdates"]) > polls,
            90,
            "the restarted bot polls",
        )
        # Replayed updates are queued before polling starts: once a message sent now is
        # answered, a replayed /retrain would have answered too.
        tg.send_text(chat, admin, "오늘 영화 정말 재밌었다")
        await tg.wait_for_bot_message(chat, timeout=30)
        assert [m for m in tg.bot_messages(chat) if "재학습을 시작" in (m.get("text") or "")] == []
        assert await rows(database, "SELECT COUNT(*) FROM training_runs") == [(1,)]
        assert not _training_children(bot)
    finally:
        bot.send_signal(signal.SIGTERM)
        try:
            bot.wait(timeout=30)
        except subprocess.TimeoutExpired:
            bot.kill()


async def test_stopping_cancels_long_jobs_and_tells_their_askers():
    from bot.long_jobs import LongJobs

    jobs = LongJobs()
    began, told, cleaned = asyncio.Event(), [], []

    async def work() -> None:
        began.set()
        try:
            await asyncio.Event().wait()  # a retrain that would run for minutes
        finally:
            cleaned.append("child killed")

    async def notice() -> None:
        await asyncio.sleep(0)  # a real notice is a request to Telegram
        told.append("stopped, try again")

    jobs.start("retrain", work(), on_stopped=notice)
    await asyncio.wait_for(began.wait(), 5)
    await jobs.stop(timeout=5)
    assert cleaned == ["child killed"] and told == ["stopped, try again"]
    assert jobs.running == 0

    jobs.start("demo", work(), on_stopped=notice)  # asked for while stopping: told at once
    await jobs.stop(timeout=5)
    assert told == ["stopped, try again"] * 2 and cleaned == ["child killed"]


async def test_a_long_job_that_fails_is_logged_and_its_asker_told(caplog):
    from bot.long_jobs import LongJobs

    jobs, told = LongJobs(), []

    async def broken() -> None:
        raise RuntimeError("the worker crashed")

    async def notice() -> None:
        told.append("something went wrong")

    jobs.start("demo rnn", broken(), on_failed=notice)
    async with asyncio.timeout(5):
        while jobs.running:
            await asyncio.sleep(0.01)
    assert told == ["something went wrong"]
    assert "demo rnn failed" in caplog.text and "the worker crashed" in caplog.text
