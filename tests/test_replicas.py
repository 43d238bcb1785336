"""Bot processes sharing one database: they serve the model version it records, and only
one of them retrains at a time (see bot/model_follower.py, bot/retraining.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest
from aiohttp import web

from bot.app import open_runtime, run_bot
from bot.model_follower import ModelFollower
from bot.retraining import RETRAIN_LOCK, Retrainer, RetrainRunningElsewhere
from bot.settings import Settings
from bot.storage import Storage
from tests.databases import database_env, rows
from tests.e2e import telegram_env, webhook_env
from tests.fake_telegram import running_fake_telegram
from tests.ports import free_port
from training.registry import Registry, RegistryError

REPO = Path(__file__).resolve().parents[1]


@dataclass
class FakeModel:
    version: str


class FakeModels:
    """What the follower needs of bot.serving.ModelService."""

    def __init__(self, version: str) -> None:
        self.model = FakeModel(version)
        self.swaps: list[str] = []

    async def swap(self, load):
        model = load()
        self.model = model
        self.swaps.append(model.version)
        return model


class FakeRegistry:
    def __init__(self, *versions: str) -> None:
        self.versions = set(versions)

    def load(self, name: str) -> FakeModel:
        if name not in self.versions:
            raise RegistryError(f"no version {name}")
        return FakeModel(name)


def _follower(storage: Storage, models: FakeModels, registry: FakeRegistry) -> ModelFollower:
    """A follower over the fakes, which offer what it uses of ModelService and Registry."""
    return ModelFollower(storage, cast(Any, models), cast(Any, registry))


async def test_the_first_process_records_what_it_serves(database: str) -> None:
    async with await Storage.open(database) as storage:
        follower = _follower(storage, FakeModels("v1"), FakeRegistry("v1"))
        assert await follower.start() is None
        assert await storage.served_version() == "v1"


async def test_a_process_follows_a_version_another_made_current(database: str) -> None:
    async with await Storage.open(database) as one, await Storage.open(database) as two:
        first_models, second_models = FakeModels("v1"), FakeModels("v1")
        first = _follower(one, first_models, FakeRegistry("v1", "v2"))
        second = _follower(two, second_models, FakeRegistry("v1", "v2"))
        await first.start()
        await second.start()
        assert await second.check() is None  # nothing changed

        await first_models.swap(lambda: FakeModel("v2"))  # an accepted retrain, then
        await first.publish("v2")
        assert await first.check() is None  # its own record: nothing to do
        assert await second.check() == "v2"
        assert second_models.model.version == "v2" and second_models.swaps == ["v2"]
        assert await second.check() is None  # once


async def test_between_its_swap_and_its_publish_a_process_keeps_its_new_model(database):
    async with await Storage.open(database) as storage:
        models = FakeModels("v1")
        follower = _follower(storage, models, FakeRegistry("v1", "v2"))
        await follower.start()
        await models.swap(lambda: FakeModel("v2"))
        assert await follower.check() is None  # the record still says v1: no swap back
        assert models.model.version == "v2"


async def test_a_version_that_cannot_be_loaded_here_is_reported_once(database, caplog):
    async with await Storage.open(database) as one, await Storage.open(database) as two:
        await _follower(one, FakeModels("v1"), FakeRegistry("v1")).start()
        models = FakeModels("v1")
        follower = _follower(two, models, FakeRegistry("v1"))  # its own registry
        await follower.start()
        await one.set_served_version("v9")
        with caplog.at_level(logging.WARNING, logger="bot.model_follower"):
            assert await follower.check() is None
            assert await follower.check() is None
        assert models.model.version == "v1"
        assert len([r for r in caplog.records if "v9" in r.getMessage()]) == 1


async def test_a_process_that_starts_late_catches_up(database: str) -> None:
    async with await Storage.open(database) as storage:
        await storage.set_served_version("v2")
        models = FakeModels("v1")  # its registry's CURRENT is older
        assert await _follower(storage, models, FakeRegistry("v1", "v2")).start() == "v2"
        assert models.model.version == "v2"


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_a_retrain_runs_in_one_process_at_a_time(database, trained_registry) -> None:
    registry = Registry(trained_registry.root)  # only read: no run gets as far as training
    async with await Storage.open(database) as one, await Storage.open(database) as two:
        async with one.exclusive(RETRAIN_LOCK) as held:  # the other replica's run
            assert held
            with pytest.raises(RetrainRunningElsewhere) as refused:
                await Retrainer(two, registry).run("admin")
            assert refused.value.trigger == "another bot process"
        outcome = await Retrainer(two, registry).run("admin")  # free again
        assert outcome.status == "nothing_to_do"


# --- two bots on one PostgreSQL, every update delivered to both -------------------------


@contextlib.asynccontextmanager
async def tee(*targets: str):
    """A webhook endpoint that hands every delivery to all ``targets`` (a load balancer
    that delivers twice, or Telegram retrying into another replica); 200 if one took it."""

    answers: list[list[int]] = []  # per delivery, each target's status

    async def forward(request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower().startswith("x-")}
        headers["Content-Type"] = "application/json"
        async with aiohttp.ClientSession() as session:

            async def post(url: str) -> int:
                try:
                    async with session.post(url, data=body, headers=headers) as response:
                        return response.status
                except aiohttp.ClientError:
                    return 502

            statuses = await asyncio.gather(*(post(url) for url in targets))
        answers.append(statuses)
        return web.Response(status=200 if 200 in statuses else 502)

    app = web.Application()
    app.router.add_post("/hook", forward)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{port}/hook", answers
    finally:
        await runner.cleanup()


def replica_settings(tg, database: str, registry, port: int, tmp_path) -> Settings:
    return Settings.from_env(
        {
            **telegram_env(tg),
            "DATABASE_URL": database,
            "MODEL_REGISTRY": str(registry),
            **webhook_env(port),
            "WEBHOOK_SECRET": "replica-secret",
            "RETRAIN_CRON": "off",
            "RETRAIN_INTERVAL_MINUTES": "0",
            "DEMO_CACHE_DIR": str(tmp_path / f"demos-{port}"),
        }
    )


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_two_replicas_answer_each_message_once(database, trained_registry, tmp_path):
    ports = [free_port(), free_port()]
    async with running_fake_telegram() as tg:
        root = tmp_path / "registry"
        shutil.copytree(trained_registry.root, root)
        replicas = [replica_settings(tg, database, root, port, tmp_path) for port in ports]
        stop = asyncio.Event()
        async with tee(*(f"http://127.0.0.1:{port}/hook" for port in ports)) as (balancer, answers):
            tasks = [asyncio.create_task(run_bot(settings, stop)) for settings in replicas]
            try:
                async with asyncio.timeout(90):
                    while len([c for c in tg.calls if c[0] == "setWebhook"]) < 2:
                        assert not any(t.done() for t in tasks), [t for t in tasks if t.done()]
                        await asyncio.sleep(0.05)
                tg.forward_webhook(balancer)
                users = [tg.create_user(f"사용자{i}") for i in range(12)]
                for user in users:
                    tg.send_text(tg.private_chat(user), user, "오늘 영화 정말 재밌었다")
                for user in users:
                    await tg.wait_for_bot_message(tg.private_chat(user), timeout=30)
            finally:
                stop.set()
                await asyncio.wait_for(asyncio.gather(*tasks), 30)
            # Both replicas have stopped, which waits for the updates they were handling:
            # a second answer, were one coming, has been sent.
            assert [len(tg.bot_messages(tg.private_chat(user))) for user in users] == [1] * 12
            # Both replicas took every update (200); one of them handled it.
            assert len(answers) >= 12 and all(a == [200, 200] for a in answers), answers
            [(received,)] = await rows(database, "SELECT COUNT(*) FROM inbox")
            assert received == 12
        tg.assert_no_errors()


def test_a_database_that_cannot_be_reached_stops_the_bot_with_a_clear_message(
    trained_registry, tmp_path
):
    env = {
        **os.environ,
        "DATABASE_URL": f"postgresql://bot:s3cret@127.0.0.1:{free_port()}/bot",
        "MODEL_REGISTRY": str(trained_registry.root),
        "DEMO_CACHE_DIR": str(tmp_path / "demos"),
        "PYTHONPATH": str(REPO),
    }
    env.pop("TELEGRAM_TOKEN", None)
    done = subprocess.run(
        [sys.executable, "-m", "bot"],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 3, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert "cannot be reached" in last and "127.0.0.1" in last and "s3cret" not in last


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_a_rollback_on_one_replica_is_served_by_the_other(
    database, trained_registry, tmp_path
):
    """Two whole runtimes (database, registry, model service) on one PostgreSQL and one
    shared registry: /rollback on one, the other's poll swaps the same version in."""
    root = tmp_path / "registry"
    shutil.copytree(trained_registry.root, root)
    current = (root / "CURRENT").read_text().strip()
    older = "0000-older"  # sorts before the current one: /rollback's default target
    shutil.copytree(root / "versions" / current, root / "versions" / older)
    settings = Settings.from_env(
        {
            **database_env(database),
            "MODEL_REGISTRY": str(root),
            "DEMO_CACHE_DIR": str(tmp_path / "demos"),
        }
    )
    async with open_runtime(settings) as first, open_runtime(settings) as second:
        assert await second.storage.served_version() == current
        assert "0000-older" in await first.service.rollback([], "en")
        assert first.models.model.version == older
        assert await second.follower.check() == older
        assert second.models.model.version == older
        assert await first.follower.check() is None  # its own change


async def test_a_correction_made_on_one_replica_reaches_the_other(
    database, trained_registry, tmp_path
):
    """Its author's next message may land on either replica: both must answer as corrected."""
    root = tmp_path / "registry"
    shutil.copytree(trained_registry.root, root)
    settings = Settings.from_env({"MODEL_REGISTRY": str(root), **database_env(database)})
    async with open_runtime(settings) as a, open_runtime(settings) as b:
        text = "이 영화 진짜 대박이다"
        first = await a.service.analyse(text, user_id=7, chat_id=7, message_id=1, lang="en")
        await a.service.correct_verdict(
            first.verdict_id, user_id=7, chat_id=7, label=None, lang="en"
        )
        assert await b.service.refresh_overlay() is True  # what b's follow-model job does
        assert await b.service.refresh_overlay() is False  # nothing new since
        again = await b.service.analyse(text, user_id=7, chat_id=7, message_id=2, lang="en")
        assert "your correction" in again.text
