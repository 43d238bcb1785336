"""What a group message costs the database once its chat's settings and the opt-outs are
cached: the inbox's insert, then the score, its words and the handled mark in one
transaction, and no reads. A private message: the inbox's insert, the verdict, and the
handled mark once the reply is sent (its own transaction: a mark committed with the
verdict, before the reply, would lose the reply to a kill in between). On PostgreSQL
the statements come from SQLAlchemy's compiled cache (its dialects' INSERT … ON CONFLICT
never would, hence ``shared_sql``); on SQLite each transaction is one trip to SQLite's
thread (``Database.write_sql``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event

from bot.storage import Storage, sqlite_thread

MESSAGES = 20


async def _group_message(storage: Storage, i: int) -> None:
    """What the bot does for one group message (bot.service.observe_group_message)."""
    assert await storage.inbox.receive(i, "{}")
    if not await storage.mood_optouts.is_out(7):
        steps = [("좋다", 0.1), (f"단어{i % 3}", -0.2)]
        await storage.mood.add_score(-1, 7, 0.6, "v1", 1e9 + i, "좋다", i, steps=steps, update_id=i)
    await storage.chats.chat_settings(-1)
    await storage.inbox.handled(i)  # committed with the score already


async def _private_message(storage: Storage, i: int) -> None:
    """What the bot does for one private message (bot.service.analyse, then the inbox)."""
    assert await storage.inbox.receive(i, "{}")
    await storage.verdicts.remember_verdict(
        chat_id=7, message_id=i, text="좋다", predicted_label=1, probability=0.9,
        model_version="v1", user_id=7,
    )  # fmt: skip
    await storage.inbox.handled(i)


def _count_trips(monkeypatch: pytest.MonkeyPatch, trips: list[object]) -> None:
    """Appends each function sent to SQLite's thread: one a write transaction."""
    original = sqlite_thread.Connection._execute

    async def counted(self, fn, *args, **kwargs):
        trips.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(sqlite_thread.Connection, "_execute", counted)


def _record_statements(engine: Any, runs: list[list[tuple[str, str]]]) -> Callable[..., None]:
    """Appends each compiled statement's first words and its cache use to the last run;
    returns the listener, for `event.remove`."""

    def on_execute(conn, cursor, statement, parameters, context, executemany) -> None:
        if context is not None and context.compiled is not None:
            runs[-1].append((" ".join(statement.split()[:3]), context.cache_hit.name))

    event.listen(engine, "before_cursor_execute", on_execute)
    return on_execute


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_postgresql_runs_a_group_messages_statements_from_the_compiled_cache(
    database: str,
) -> None:
    async with await Storage.open(database) as storage:
        runs: list[list[tuple[str, str]]] = []
        commits: list[int] = []

        engine = storage._db.engine.sync_engine  # the test watches the bot's own engine
        on_execute = _record_statements(engine, runs)
        event.listen(engine, "commit", lambda conn: commits.append(len(runs)))
        for i in range(MESSAGES):
            runs.append([])
            await _group_message(storage, i)
        event.remove(engine, "before_cursor_execute", on_execute)
        assert await storage.inbox.count_unhandled() == 0
        hot = ["INSERT INTO inbox", "INSERT INTO mood_scores", "INSERT INTO mood_words"]
        hot.append("UPDATE inbox SET")
        assert all(run == [(s, "CACHE_HIT") for s in hot] for run in runs[1:]), runs[1:3]
        assert all(commits.count(message) == 2 for message in range(2, MESSAGES + 1))


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_postgresql_runs_a_private_messages_statements_from_the_compiled_cache(
    database: str,
) -> None:
    async with await Storage.open(database) as storage:
        runs: list[list[tuple[str, str]]] = []

        engine = storage._db.engine.sync_engine
        on_execute = _record_statements(engine, runs)
        for i in range(MESSAGES):
            runs.append([])
            await _private_message(storage, i)
        event.remove(engine, "before_cursor_execute", on_execute)
        assert await storage.inbox.count_unhandled() == 0
        hot = ["INSERT INTO inbox", "INSERT INTO verdicts", "UPDATE inbox SET"]
        assert all(run == [(s, "CACHE_HIT") for s in hot] for run in runs[1:]), runs[1:3]


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_sqlite_takes_one_trip_per_transaction(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    trips: list[object] = []
    async with await Storage.open(database) as storage:
        await _group_message(storage, 0)  # reads the settings and the opt-outs
        _count_trips(monkeypatch, trips)
        for i in range(1, MESSAGES):
            await _group_message(storage, i)
        monkeypatch.undo()
        assert await storage.inbox.count_unhandled() == 0
        [(scores,)] = await storage._fetch("SELECT COUNT(*) FROM mood_scores")
        [(uses,)] = await storage._fetch("SELECT SUM(uses) FROM mood_words")
    assert (scores, uses) == (MESSAGES, 2 * MESSAGES)
    assert trips == ["_transaction"] * 2 * (MESSAGES - 1)


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_sqlite_takes_one_trip_per_private_message_transaction(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    trips: list[object] = []
    async with await Storage.open(database) as storage:
        _count_trips(monkeypatch, trips)
        for i in range(MESSAGES):
            await _private_message(storage, i)
        monkeypatch.undo()
        assert await storage.inbox.count_unhandled() == 0
        [(verdicts,)] = await storage._fetch("SELECT COUNT(*) FROM verdicts")
    assert verdicts == MESSAGES
    assert trips == ["_transaction"] * 3 * MESSAGES


async def test_group_messages_scored_together_share_one_transaction(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The messages of one poll are traced in one batch, so their scores arrive together:
    one commit for all of them, each with its own answer and its update marked handled."""
    commits: list[object] = []
    async with await Storage.open(database) as storage:
        for i in range(MESSAGES):
            assert await storage.inbox.receive(i, "{}")
        engine = storage._db.engine.sync_engine

        def on_commit(connection) -> None:  # PostgreSQL's (SQLAlchemy's) commits
            commits.append(connection)

        event.listen(engine, "commit", on_commit)
        _count_trips(monkeypatch, commits)  # SQLite's: each write transaction is one trip
        steps = [("좋다", 0.1)]
        added = await asyncio.gather(
            *(
                # the last message is the first one again: not counted twice
                storage.mood.add_score(
                    -1, 7, 0.6, "v1", 1e9 + i, None, i % (MESSAGES - 1), steps=steps, update_id=i
                )
                for i in range(MESSAGES)
            )
        )
        for i in range(MESSAGES):
            await storage.inbox.handled(i)  # committed with the scores already
        monkeypatch.undo()
        event.remove(engine, "commit", on_commit)
        assert added == [True] * (MESSAGES - 1) + [False]
        assert len(commits) == 1
        assert await storage.inbox.count_unhandled() == 0
        [(scores,)] = await storage._fetch("SELECT COUNT(*) FROM mood_scores")
        [(uses,)] = await storage._fetch("SELECT SUM(uses) FROM mood_words")
    assert (scores, uses) == (MESSAGES - 1, MESSAGES - 1)
