"""Bot processes sharing one database: they serve the model version it records, and only
one of them retrains at a time (see bot/served_version.py, bot/retraining.py)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import random
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
from bot.retraining import RETRAIN_LOCK, Retrainer, RetrainRunningElsewhere
from bot.served_version import ChoiceChanged, ServedVersion, VersionRefused, choose_at_start
from bot.settings import Settings
from bot.storage import ServedChoice, Storage
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
    """What bot.served_version needs of bot.serving.ModelService."""

    def __init__(self, version: str) -> None:
        self.model = FakeModel(version)
        self.swaps: list[str] = []

    async def prepare(self, load):
        await asyncio.sleep(0)  # a real load yields to the loop: let others interleave
        return load()

    def install(self, model):
        old, self.model = self.model, model
        self.swaps.append(model.version)
        return old


@dataclass
class FakeInfo:
    problem: str | None


class FakeRegistry:
    """Versions by name and a CURRENT pointer; ``loadable`` False: present but broken."""

    def __init__(self, *versions: str, current: str | None = None) -> None:
        self.versions = set(versions)
        self.broken: set[str] = set()
        self.current = current or sorted(versions)[0]
        self.root = Path("fake-registry")

    def info(self, name: str) -> FakeInfo:
        return FakeInfo(None if name in self.versions else f"no version {name}")

    def load(self, name: str) -> FakeModel:
        if name not in self.versions or name in self.broken:
            raise RegistryError(f"cannot load {name}")
        return FakeModel(name)

    def current_name(self) -> str | None:
        return self.current

    def point_at(self, name: str) -> None:
        self.current = name

    def use(self, name: str) -> None:  # what `python -m training.registry use` does
        self.current = name


async def _process(storage: Storage, registry: FakeRegistry) -> ServedVersion:
    """One bot process's serving side, as bot.app opens it."""
    model, choice = await choose_at_start(storage.replicas, cast(Any, registry))
    return ServedVersion(
        storage.replicas, cast(Any, FakeModels(model.version)), cast(Any, registry), choice
    )


async def test_the_first_process_records_what_it_serves(database: str) -> None:
    async with await Storage.open(database) as storage:
        served = await _process(storage, FakeRegistry("v1"))
        assert served.current == ServedChoice("v1", 1)
        assert await storage.replicas.served_choice() == ServedChoice("v1", 1)


async def test_a_process_follows_a_version_another_chose(database: str) -> None:
    registry = FakeRegistry("v1", "v2")  # shared by both
    async with await Storage.open(database) as one, await Storage.open(database) as two:
        first, second = await _process(one, registry), await _process(two, registry)
        assert await second.follow() is None  # nothing changed

        assert await first.serve("v2") == ServedChoice("v2", 2)  # a rollback, a retrain
        assert registry.current == "v2" and first.models.model.version == "v2"
        assert await first.follow() is None  # its own change
        assert await second.follow() == ServedChoice("v2", 2)
        assert cast(Any, second.models).swaps == ["v2"] and await second.follow() is None  # once


async def test_a_change_decided_on_an_older_choice_cannot_win(database: str) -> None:
    """A retrain that started on v1 finishes after an admin rolled back to v0: the
    rollback stays, the candidate is not served anywhere."""
    registry = FakeRegistry("v0", "v1", "candidate", current="v1")
    async with await Storage.open(database) as storage:
        served = await _process(storage, registry)
        started_on = served.current
        await served.serve("v0")
        with pytest.raises(ChoiceChanged) as stale:
            await served.serve("candidate", if_generation=started_on.generation)
        assert stale.value.now == ServedChoice("v0", 2)
        assert served.current == ServedChoice("v0", 2) and registry.current == "v0"
        assert await storage.replicas.served_choice() == ServedChoice("v0", 2)


async def test_a_restart_after_registry_use_serves_the_new_version(database: str) -> None:
    """`make train` or `python -m training.registry use` while the bot is down."""
    registry = FakeRegistry("v1", "v2")
    async with await Storage.open(database) as storage:
        await _process(storage, registry)
        registry.use("v2")
        restarted = await _process(storage, registry)
        assert restarted.current == ServedChoice("v2", 2)
        assert await storage.replicas.served_choice() == ServedChoice("v2", 2)


async def test_a_running_process_adopts_registry_use_within_a_poll(database: str) -> None:
    registry = FakeRegistry("v1", "v2")
    async with await Storage.open(database) as one, await Storage.open(database) as two:
        first, second = await _process(one, registry), await _process(two, registry)
        registry.use("v2")  # offline, while both run
        results = await asyncio.gather(first.follow(), second.follow())
        assert ServedChoice("v2", 2) in results  # adopted once, one generation up
        assert first.current == second.current == ServedChoice("v2", 2)
        assert await one.replicas.served_choice() == ServedChoice("v2", 2)


async def test_a_version_that_cannot_be_loaded_is_refused_once_and_retried_when_it_changes(
    database, caplog
):
    registry = FakeRegistry("v1", "v2", "v3")
    async with await Storage.open(database) as one, await Storage.open(database) as two:
        first = await _process(one, registry)
        second_registry = FakeRegistry("v1", "v2", "v3")
        second_registry.broken = {"v2"}  # e.g. its copy of v2 is damaged
        second = await _process(two, second_registry)
        await first.serve("v2")
        second_registry.current = "v2"  # as a shared registry would say
        with caplog.at_level(logging.WARNING, logger="bot.served_version"):
            assert await second.follow() is None
            assert await second.follow() is None
        assert second.models.model.version == "v1"  # never half-served
        assert len([r for r in caplog.records if "v2" in r.getMessage()]) == 1
        second_registry.broken = set()
        assert await second.follow() is None  # the same choice: not tried again
        await first.serve("v3")
        second_registry.current = "v3"
        assert await second.follow() == ServedChoice("v3", 3)  # a new choice: tried


async def test_an_offline_choice_that_cannot_be_loaded_is_refused_once(database, caplog):
    registry = FakeRegistry("v1", "v2", "v3")
    async with await Storage.open(database) as storage:
        served = await _process(storage, registry)
        registry.broken = {"v2"}
        registry.use("v2")
        with caplog.at_level(logging.ERROR, logger="bot.served_version"):
            assert await served.follow() is None
            assert await served.follow() is None
        assert len([r for r in caplog.records if "v2" in r.getMessage()]) == 1
        assert served.current == ServedChoice("v1", 1)
        assert await storage.replicas.served_choice() == ServedChoice("v1", 1)
        registry.use("v3")  # the admin's next choice is tried
        assert await served.follow() == ServedChoice("v3", 2)
        with pytest.raises(VersionRefused):
            await served.serve("missing")
        assert served.current == ServedChoice("v3", 2)


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_interleaved_changes_on_two_processes_end_on_the_last_choice(database) -> None:
    """100 rollbacks, accepted retrains (on the choice they started from) and polls,
    interleaved on two processes sharing one PostgreSQL: every process ends on the last
    version chosen, generations only grow, and nothing fails."""
    versions = [f"v{i:03d}" for i in range(40)]
    registry = FakeRegistry(*versions)
    rng = random.Random(18)
    async with await Storage.open(database) as one, await Storage.open(database) as two:
        processes = [await _process(one, registry), await _process(two, registry)]
        seen: list[list[int]] = [[], []]

        async def operation(number: int) -> None:
            index = rng.randrange(2)
            process = processes[index]
            kind = number % 3
            if kind == 0:  # /rollback to some version
                await process.serve(rng.choice(versions))
            elif kind == 1:  # an accepted retrain, decided on the choice it started from
                base = process.current
                await asyncio.sleep(0)
                with contextlib.suppress(ChoiceChanged):
                    await process.serve(rng.choice(versions), if_generation=base.generation)
            else:
                await process.follow()
            seen[index].append(process.generation)

        results = await asyncio.gather(*(operation(n) for n in range(100)), return_exceptions=True)
        assert [r for r in results if r is not None] == []  # 0 errors
        last = await one.replicas.served_choice()
        assert last is not None and last.generation > 30
        for process in processes:
            await process.follow()
            assert process.current == last
        assert registry.current == last.version
        assert all(a <= b for gens in seen for a, b in itertools.pairwise(gens))


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_a_retrain_runs_in_one_process_at_a_time(database, trained_registry) -> None:
    registry = Registry(trained_registry.root)  # only read: no run gets as far as training
    async with await Storage.open(database) as one, await Storage.open(database) as two:
        async with one.replicas.exclusive(RETRAIN_LOCK) as held:  # the other replica's run
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
        assert await second.storage.replicas.served_version() == current
        assert "0000-older" in await first.service.rollback([], "en")
        assert first.models.model.version == older
        assert (await second.served.follow()).version == older
        assert second.models.model.version == older
        assert await first.served.follow() is None  # its own change


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_interleaved_changes_on_two_runtimes_end_on_the_last_choice(
    database, trained_registry, tmp_path
):
    """Two whole runtimes (real models, one PostgreSQL, one registry): 100 rollbacks,
    accepted retrains and polls interleaved while both answer messages. Both end on the
    last version chosen, /models and CURRENT agree, and nothing failed."""
    root = tmp_path / "registry"
    shutil.copytree(trained_registry.root, root)
    current = (root / "CURRENT").read_text().strip()
    versions = [current] + [f"0000-v{i}" for i in range(4)]
    for version in versions[1:]:
        shutil.copytree(root / "versions" / current, root / "versions" / version)
    settings = Settings.from_env(
        {
            **database_env(database),
            "MODEL_REGISTRY": str(root),
            "DEMO_CACHE_DIR": str(tmp_path / "demos"),
        }
    )
    rng = random.Random(18)
    async with open_runtime(settings) as one, open_runtime(settings) as two:
        runtimes = [one, two]
        answered: list[str] = []
        done = asyncio.Event()

        async def chatter(runtime) -> None:  # messages keep flowing through every swap
            while not done.is_set():
                answered.append((await runtime.models.trace("정말 재밌어요")).model_version)

        async def operation(number: int) -> None:
            runtime = rng.choice(runtimes)
            if number % 3 == 0:  # an admin's /rollback to a named version
                await runtime.service.rollback([rng.choice(versions)], "en")
            elif number % 3 == 1:  # an accepted retrain, on the choice it started from
                base = runtime.served.current
                await asyncio.sleep(0)
                with contextlib.suppress(ChoiceChanged):
                    await runtime.served.serve(rng.choice(versions), if_generation=base.generation)
            else:
                await runtime.served.follow()

        chatters = [asyncio.create_task(chatter(runtime)) for runtime in runtimes]
        results = await asyncio.gather(*(operation(n) for n in range(100)), return_exceptions=True)
        done.set()
        await asyncio.gather(*chatters)
        assert [r for r in results if isinstance(r, BaseException)] == []  # 0 errors
        last = await one.storage.replicas.served_choice()
        assert last is not None and last.generation > 30
        for runtime in runtimes:
            await runtime.served.follow()
            assert runtime.served.current == last
            assert (await runtime.models.trace("좋다")).model_version == last.version
            marked = [
                line
                for line in (await runtime.service.models_text("en")).splitlines()
                if line.startswith("▶")
            ]
            assert len(marked) == 1 and f" {last.version} " in marked[0]
        assert (root / "CURRENT").read_text().strip() == last.version
        assert answered and set(answered) <= set(versions)


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
