"""The settings and opt-outs a group message needs, cached per process
(``bot.storage.cache``), on SQLite and on PostgreSQL: this process's changes are seen at
once, another replica's within ``CACHED_S`` and not before (the cache is really used)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.storage import Storage
from bot.storage.cache import CACHED_S, Cached
from tests.clocks import T0, FakeClock

CHAT = -100


@pytest.fixture
async def replica(database: str, storage: Storage) -> AsyncIterator[Storage]:
    """Another process's Storage on the same database."""
    async with await Storage.open(database, clock=FakeClock()) as opened:
        yield opened


async def test_this_process_sees_its_own_setting_changes_at_once(storage: Storage) -> None:
    chats = storage.chats
    assert (await chats.chat_settings(CHAT)).alert_threshold is None  # now cached
    await chats.set_alert_threshold(CHAT, 0.3)
    assert (await chats.chat_settings(CHAT)).alert_threshold == 0.3
    assert await chats.set_alert_active(CHAT, True)
    assert (await chats.chat_settings(CHAT)).alert_active
    await chats.set_chat_language(CHAT, "en")
    await chats.set_chat_timezone(CHAT, "Europe/Paris")
    await chats.set_store_text(CHAT, True)
    settings = await chats.chat_settings(CHAT)
    assert (settings.language, settings.timezone, settings.store_text) == (
        "en",
        "Europe/Paris",
        True,
    )
    await chats.set_alert_threshold(CHAT, None)  # also resets the pending alert
    settings = await chats.chat_settings(CHAT)
    assert (settings.alert_threshold, settings.alert_active) == (None, False)


async def test_another_replicas_setting_change_is_seen_within_the_cache_time(
    storage: Storage, replica: Storage, clock: FakeClock
) -> None:
    assert (await storage.chats.chat_settings(CHAT)).alert_threshold is None
    await replica.chats.set_alert_threshold(CHAT, 0.4)
    await replica.chats.set_chat_language(CHAT, "en")
    clock.now = T0 + CACHED_S - 0.5
    assert (await storage.chats.chat_settings(CHAT)).alert_threshold is None  # cached
    clock.now = T0 + CACHED_S
    settings = await storage.chats.chat_settings(CHAT)
    assert (settings.alert_threshold, settings.language) == (0.4, "en")


async def test_a_failed_compare_and_set_drops_the_stale_settings(
    storage: Storage, replica: Storage
) -> None:
    """Another replica fired the alert: this process's cached flag is stale, and its own
    attempt both fails (one alert per dip) and refreshes the flag."""
    await storage.chats.set_alert_threshold(CHAT, 0.4)
    assert not (await storage.chats.chat_settings(CHAT)).alert_active
    assert await replica.chats.set_alert_active(CHAT, True)
    assert not await storage.chats.set_alert_active(CHAT, True)
    assert (await storage.chats.chat_settings(CHAT)).alert_active


async def test_opt_outs_are_cached_and_follow_this_process_and_other_replicas(
    storage: Storage, replica: Storage, clock: FakeClock
) -> None:
    optouts = storage.mood_optouts
    assert not await optouts.is_out(1)
    await optouts.opt_out(2)  # this process: seen at once
    assert await optouts.is_out(2)
    await replica.mood_optouts.opt_out(1)
    await replica.mood_optouts.opt_in(2)
    clock.now = T0 + 1
    assert not await optouts.is_out(1) and await optouts.is_out(2)  # cached
    clock.now = T0 + CACHED_S + 1
    assert await optouts.is_out(1) and not await optouts.is_out(2)
    assert await optouts.opt_in(1)
    assert not await optouts.is_out(1)


def test_a_read_that_raced_a_change_is_not_kept() -> None:
    clock = FakeClock()
    cache: Cached[int, str] = Cached(clock)
    generation = cache.generation  # a read begins
    cache.drop(7)  # this process changes the row meanwhile
    cache.put(7, "read before the change", generation)
    assert cache.get(7) is None
    cache.put(7, "fresh", cache.generation)
    assert cache.get(7) == "fresh"
    clock.now = T0 - 1  # a clock set back does not make an entry live forever
    assert cache.get(7) is None
    clock.now = T0 + CACHED_S
    assert cache.get(7) is None
