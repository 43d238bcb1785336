"""Whether another process is alive, on PostgreSQL: a process whose connection dropped, or
whose server restarted, is not taken for dead (its in-flight updates stay its own); a
killed one is, once its lease runs out. On a server of the test's own, since it restarts."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from bot.storage import Storage, replica_store
from tests.postgres_server import NoPostgres, running_postgres


@pytest.fixture(scope="module")
def own_postgres():
    try:
        with running_postgres() as server:
            yield server
    except NoPostgres as error:
        pytest.fail(f"PostgreSQL tests cannot run: {error}", pytrace=False)


@pytest.fixture
def short_lease(monkeypatch):
    monkeypatch.setattr(replica_store, "LEASE_S", 1.5)
    monkeypatch.setattr(replica_store, "LEASE_RENEW_S", 0.2)


async def _until(probe, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not await probe():
            await asyncio.sleep(0.05)


async def _inbox_of(storage: Storage, update_id: int) -> None:
    assert await storage.inbox.receive(update_id, "{}")


async def test_a_dropped_connection_is_not_death(own_postgres, short_lease) -> None:
    database = own_postgres.new_database()
    async with await Storage.open(database) as watcher, await Storage.open(database) as live:
        await _inbox_of(live, 1)
        cut = await watcher._fetch(
            "SELECT pg_terminate_backend(pid), extract(epoch from clock_timestamp()) "
            "FROM pg_locks WHERE locktype = 'advisory' AND granted"
        )  # the sessions that hold the liveness locks: both processes lose theirs
        assert len(cut) == 2
        assert await watcher.replicas.is_alive(live.process_id)  # its lease still runs
        assert await watcher.inbox.unhandled() == []

        async def renewed_past_a_lease() -> bool:
            [(renewed,)] = await watcher._fetch(
                sa.text("SELECT renewed_at FROM process_leases WHERE process_id = :p"),
                {"p": live.process_id},
            )
            return renewed > float(cut[0][1]) + replica_store.LEASE_S

        await _until(renewed_past_a_lease)  # what it had before the cut has run out
        assert live.replicas._locked  # it reconnected and took its lock back
        assert await watcher.replicas.is_alive(live.process_id)
        assert await watcher.inbox.unhandled() == []


async def test_a_server_restart_is_not_death(own_postgres, short_lease) -> None:
    database = own_postgres.new_database()
    async with await Storage.open(database) as watcher, await Storage.open(database) as live:
        await _inbox_of(live, 1)
        assert live.replicas._renewing is not None
        live.replicas._renewing.cancel()  # it has not come back yet when the watcher looks
        await asyncio.to_thread(own_postgres.restart)
        assert await watcher.replicas.is_alive(live.process_id)  # the lease counts from the restart
        assert await watcher.inbox.unhandled() == []


async def test_a_killed_process_is_dead_once_its_lease_runs_out(own_postgres, short_lease) -> None:
    database = own_postgres.new_database()
    async with await Storage.open(database) as watcher:
        killed = await Storage.open(database)
        await _inbox_of(killed, 1)
        assert killed.replicas._renewing is not None
        killed.replicas._renewing.cancel()  # as kill -9 leaves it: no renewal, the session gone
        await killed.replicas._drop_liveness_session()
        assert await watcher.replicas.is_alive(killed.process_id)  # within its lease
        await _until(lambda: _dead(watcher, killed.process_id))
        assert [update_id for update_id, _ in await watcher.inbox.unhandled()] == [1]
        await killed._db.close()


async def test_a_clean_stop_leaves_no_lease(own_postgres) -> None:
    database = own_postgres.new_database()
    async with await Storage.open(database) as watcher:
        stopped = await Storage.open(database)
        await stopped.close()
        assert not await watcher.replicas.is_alive(stopped.process_id)
        leases = await watcher._fetch(sa.text("SELECT process_id FROM process_leases"))
        assert [lease for (lease,) in leases] == [watcher.process_id]


async def _dead(watcher: Storage, process_id: str) -> bool:
    return not await watcher.replicas.is_alive(process_id)
