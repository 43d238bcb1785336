"""Shared fixtures: the real NSMC data and one small model trained on it.

The data is the slice of NSMC in tests/data/nsmc (see its README), so a clone tests itself;
NSMC_DIR names another copy (the full corpus) for a full-size run. The model is trained once
per test session on 8,000 training rows for one epoch: small enough for CI, real enough that
its verdicts mean something.
"""

from __future__ import annotations

import os
import shutil

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as in serving; set before numpy loads
from pathlib import Path

import pytest

from tests.clocks import clock, storage  # noqa: F401  fixtures of the storage tests

REPO = Path(__file__).resolve().parents[1]
DEFAULT_NSMC = REPO / "tests" / "data" / "nsmc"  # NSMC_DIR overrides it


# --- tiers: `make test-fast` runs what needs no trained model, no child process and no
# PostgreSQL server; `make test` runs everything -------------------------------------------

# Fixtures that train a model or start PostgreSQL (tests/*.py): a test using any is slow.
MODEL_FIXTURES = frozenset(
    {"trained_registry", "trained_model", "ngram_registry", "noise_model", "gru_runs", "postgres"}
)
FAST_BUDGET_SECONDS = 60  # pyproject.toml's timeout: a hang fails with the test's name
SLOW_BUDGET_SECONDS = 600  # a session model, a retrain child or a PostgreSQL start included


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark slow what needs a model, a child process or a PostgreSQL server, and give it a
    longer budget; tests that start a child process themselves carry the mark explicitly."""
    for item in items:
        params = getattr(item, "callspec", None)
        on_postgres = params is not None and params.params.get("backend") == "postgresql"
        fixtures = set(getattr(item, "fixturenames", ()))
        if on_postgres or fixtures & MODEL_FIXTURES:
            item.add_marker(pytest.mark.slow)
        if item.get_closest_marker("slow") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(SLOW_BUDGET_SECONDS))


@pytest.fixture(scope="session")
def nsmc_dir() -> Path:
    path = Path(os.environ.get("NSMC_DIR", DEFAULT_NSMC))
    assert (path / "ratings_train.txt").is_file(), (
        f"NSMC data not found in {path}: NSMC_DIR must name a folder holding "
        "ratings_train.txt and ratings_test.txt, or be unset (tests never download it)"
    )
    return path


@pytest.fixture(scope="session", autouse=True)
def _isolated_environment(tmp_path_factory: pytest.TempPathFactory, nsmc_dir: Path):
    """Point every path setting at the test's own folders: nothing touches the user's."""
    from training.quiet import quiet_tensorflow

    cache = tmp_path_factory.mktemp("cache")
    patch = pytest.MonkeyPatch()
    patch.setenv("NSMC_DIR", str(nsmc_dir))
    patch.setenv("SENTIMENT_CACHE_DIR", str(cache))
    patch.setenv("MODEL_REGISTRY", str(tmp_path_factory.mktemp("default-registry")))
    patch.setenv("DATABASE_PATH", str(tmp_path_factory.mktemp("db") / "bot.sqlite3"))
    patch.delenv("DATABASE_URL", raising=False)  # a developer's PostgreSQL stays untouched
    patch.delenv("CHAT_DATA_DIR", raising=False)  # the tests train on their own slice only
    patch.setenv("DEMO_CACHE_DIR", str(tmp_path_factory.mktemp("demos")))
    quiet_tensorflow()  # for the tests that train in this process
    yield
    patch.undo()


@pytest.fixture(scope="session")
def trained_registry(tmp_path_factory: pytest.TempPathFactory, _isolated_environment):
    """A registry holding one real model (the Kiwi network, 8k rows, 1 epoch), made current."""
    from nlp.model_config import KIWI
    from training.data import load_split
    from training.registry import Registry
    from training.train import TrainingRequest, run_training

    registry = Registry(tmp_path_factory.mktemp("registry"))
    request = TrainingRequest(
        KIWI,
        load_split("train").head(8_000),
        load_split("test").head(2_000),
        epochs=1,
        progress=False,
    )
    result = run_training(request, registry)
    registry.use(result.name)
    return registry


@pytest.fixture(scope="session")
def trained_model(trained_registry):
    return trained_registry.load_current()


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server for the session, started on first use (see
    tests/postgres_server.py). No server is a test failure, not a skip."""
    from tests.postgres_server import NoPostgres, running_postgres

    manager = running_postgres()
    try:
        server = manager.__enter__()
    except NoPostgres as error:
        pytest.fail(f"PostgreSQL tests cannot run: {error}", pytrace=False)
    yield server
    manager.__exit__(None, None, None)


BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def database(backend, tmp_path, request) -> str:
    """Where a test's database lives: a fresh SQLite file, or a fresh PostgreSQL database."""
    if backend == "sqlite":
        return str(tmp_path / "bot.sqlite3")
    return request.getfixturevalue("postgres").new_database()


# --- the running bot over the fake Bot API (tests/e2e.py) ------------------------------


@pytest.fixture
async def tg():
    from tests.fake_telegram import running_fake_telegram

    async with running_fake_telegram() as server:
        yield server
        server.assert_no_errors()


@pytest.fixture
def settings(tg, trained_registry, tmp_path, database):
    """The bot on each backend: a SQLite file, or a fresh PostgreSQL database."""
    from tests.e2e import e2e_settings

    root = tmp_path / "registry"
    shutil.copytree(trained_registry.root, root)
    return e2e_settings(tg, root, tmp_path, database)


@pytest.fixture
async def bot(tg, settings):
    from tests.e2e import RunningBot

    running = RunningBot(settings)
    await running.start(tg)
    yield running
    await running.close()
