"""BOT_ROLE: a replica takes updates and schedules nothing; a trainer takes no updates and
runs the jobs; `all` does both."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import pytest

from bot.app import build_application, open_runtime, run_bot
from bot.settings import Role


async def _job_names(settings) -> set[str]:
    async with open_runtime(settings) as runtime:
        jobs = build_application(runtime).job_queue
        assert jobs is not None
        return {job.name for job in jobs.scheduler.get_jobs()} | {
            str(job.name) for job in jobs.jobs()
        }


async def test_only_the_trainer_and_a_lone_bot_schedule_the_jobs(settings) -> None:
    lone = await _job_names(dataclasses.replace(settings, retrain_cron="0 3 * * *"))
    replica = await _job_names(dataclasses.replace(settings, role=Role.REPLICA))
    trainer = await _job_names(dataclasses.replace(settings, role=Role.TRAINER))
    assert {"retention", "retrain-interval", "retrain", "digests"} <= lone
    assert "retrain-due" not in lone
    # Every process follows the served version, refreshes its metrics and looks for due
    # digests (each claimed once in the database: bot.storage.digest_store); on PostgreSQL a
    # replica also takes over the updates of one that died.
    assert replica - {"replay-orphans"} == {"follow-model", "metrics", "digests"}
    assert {"retention", "retrain-interval", "retrain-due", "follow-model", "digests"} <= trainer


async def test_a_trainer_takes_no_updates(tg, settings, caplog) -> None:
    caplog.set_level(logging.INFO, logger="bot.app")
    stop = asyncio.Event()
    task = asyncio.create_task(run_bot(dataclasses.replace(settings, role=Role.TRAINER), stop))
    async with asyncio.timeout(60):  # started: the point where a replica would poll
        while not any("as trainer" in record.getMessage() for record in caplog.records):
            await asyncio.sleep(0.05)
    user = tg.create_user("지민")
    tg.send_text(tg.private_chat(user), user, "배우 연기가 정말 좋았어요")
    with pytest.raises(TimeoutError):  # an absence can only be waited for so long
        await tg.wait_for_call("getUpdates", timeout=3)
    stop.set()
    await asyncio.wait_for(task, 30)
    assert not any(method in ("getUpdates", "setWebhook") for method, _ in tg.calls)
    assert tg.bot_messages(tg.private_chat(user)) == []
