"""Word statistics and opt-outs in a real database, on SQLite and on PostgreSQL: what is
added, what the window query returns, and what /forget, /optout and retention remove."""

from __future__ import annotations

import pytest

from bot.mood_words import WordDriver
from bot.storage import Removed, Storage
from tests.clocks import T0, FakeClock
from tests.databases import rows

HOUR = 3600.0
HOUR_START = 1_699_999_200.0  # the UTC hour T0 falls in


def shown(drivers: tuple[WordDriver, ...]) -> tuple[tuple[str, float, int, int], ...]:
    return tuple((d.word, round(d.effect, 6), d.uses, d.members) for d in drivers)


async def add_dip(storage: Storage, chat: int = -1, at: float = T0) -> None:
    """Three members say 최악 (one twice), two say 지루해, all say 좋다."""
    for user in (1, 2, 3):
        await storage.mood_words.add(chat, user, at, [("최악", -0.4), ("좋다", 0.1)])
    await storage.mood_words.add(chat, 1, at + 60, [("최악", -0.2)])
    for user in (1, 2):
        await storage.mood_words.add(chat, user, at + 120, [("지루해", -0.9)])


async def test_words_are_summed_per_member_and_hour_without_texts(
    storage: Storage, database: str
) -> None:
    await add_dip(storage)
    stored = await rows(
        database,
        "SELECT chat_id, user_id, hour, word, effect, uses FROM mood_words "
        "WHERE word = '최악' ORDER BY user_id",
    )
    assert [(r[0], r[1], r[2], r[3], r[5]) for r in stored] == [
        (-1, 1, HOUR_START, "최악", 2),
        (-1, 2, HOUR_START, "최악", 1),
        (-1, 3, HOUR_START, "최악", 1),
    ]
    assert stored[0][4] == pytest.approx(-0.6)
    await storage.mood_words.add(-1, 1, T0, [])  # a message without words adds nothing
    [(count,)] = await rows(database, "SELECT COUNT(*) FROM mood_words")
    assert count == 8  # (member, word) pairs: 3 × 최악, 3 × 좋다, 2 × 지루해


async def test_drivers_count_distinct_members_in_the_window(storage: Storage) -> None:
    await add_dip(storage)
    await add_dip(storage, chat=-2)  # another group's words stay there
    await add_dip(storage, at=T0 - 5 * HOUR)  # earlier hours of the same group
    drivers = await storage.mood_words.drivers(-1, T0 - 60, T0 + 600, min_members=3)
    assert shown(drivers.down) == (("최악", -1.4, 4, 3),)
    assert shown(drivers.up) == (("좋다", 0.3, 3, 3),)
    wider = await storage.mood_words.drivers(-1, T0 - 6 * HOUR, T0, min_members=2, top=1)
    assert shown(wider.down) == (("지루해", -3.6, 4, 2),)
    assert not await storage.mood_words.drivers(-1, T0 + HOUR, T0 + 2 * HOUR, 1)


async def test_forget_removes_a_members_words_everywhere(storage: Storage) -> None:
    await add_dip(storage)
    await add_dip(storage, chat=-2)
    removed = await storage.retention.forget_user(1)
    assert removed == Removed(words=6)
    drivers = await storage.mood_words.drivers(-1, T0, T0, min_members=3)
    assert not drivers.down  # 최악 now has two members left
    assert (await storage.mood_words.drivers(-2, T0, T0, min_members=2)).down[0].members == 2


async def test_opting_out_deletes_scores_and_words_and_holds_until_opting_in(
    storage: Storage, database: str
) -> None:
    await add_dip(storage)
    for user in (1, 2):
        for chat in (-1, -2):
            await storage.mood.add_score(chat, user, 0.3, "m1", T0, None)
    assert not await storage.mood_optouts.is_out(1)
    result = await storage.mood_optouts.opt_out(1)
    assert (result.scores, result.words, result.already) == (2, 3, False)
    assert await storage.mood_optouts.is_out(1) and not await storage.mood_optouts.is_out(2)
    assert await rows(database, "SELECT COUNT(*) FROM mood_scores WHERE user_id = 1") == [(0,)]
    assert await rows(database, "SELECT COUNT(*) FROM mood_words WHERE user_id = 1") == [(0,)]
    assert await rows(database, "SELECT COUNT(*) FROM mood_scores WHERE user_id = 2") == [(2,)]
    again = await storage.mood_optouts.opt_out(1)
    assert (again.scores, again.words, again.already) == (0, 0, True)
    await storage.retention.forget_user(1)
    assert await storage.mood_optouts.is_out(1)  # /forget does not undo the choice
    assert await rows(database, "SELECT user_id, since FROM mood_optouts") == [(1, T0)]
    assert await storage.mood_optouts.opt_in(1) and not await storage.mood_optouts.opt_in(1)
    assert not await storage.mood_optouts.is_out(1)


async def test_retention_prunes_words_by_their_hour(storage: Storage) -> None:
    await add_dip(storage, at=T0 - 30 * 86_400)
    await add_dip(storage)
    removed = await storage.retention.prune(T0 - 86_400)
    assert removed.words == 8
    left = await storage.mood_words.drivers(-1, 0, T0 + HOUR, min_members=1)
    assert {(d.word, d.uses) for d in left.down} == {("지루해", 2), ("최악", 4)}
    assert all(type(d.uses) is int for d in left.down)


async def test_a_score_its_words_and_its_handled_mark_commit_together(
    storage: Storage, database: str, clock: FakeClock
) -> None:
    assert await storage.inbox.receive(5, '{"update_id": 5}')
    steps = [("좋다", 0.2), ("최악", -0.5)]
    assert await storage.mood.add_score(
        -1, 1, 0.7, "m1", T0, "좋다 최악", 10, steps=steps, update_id=5
    )
    assert await rows(database, "SELECT COUNT(*) FROM mood_words") == [(2,)]
    marked = "SELECT update_id, done_at, payload FROM inbox"
    assert await rows(database, marked) == [(5, T0, None)]
    clock.now = T0 + 60
    await storage.inbox.handled(5)  # committed with the score: nothing left to write
    assert await rows(database, marked) == [(5, T0, None)]
    assert await storage.inbox.count_unhandled() == 0

    # The same message again (a redelivery under another update): not counted twice,
    # but its update is marked handled all the same.
    assert await storage.inbox.receive(6, '{"update_id": 6}')
    assert not await storage.mood.add_score(
        -1, 1, 0.7, "m1", T0, None, 10, steps=steps, update_id=6
    )
    assert await rows(database, "SELECT SUM(uses) FROM mood_words") == [(2,)]
    assert await storage.inbox.count_unhandled() == 0


async def test_a_member_opted_out_on_another_replica_is_never_scored(
    storage: Storage, database: str
) -> None:
    """The score's own statement checks the opt-out, so a process whose cached opt-outs
    are behind another replica's still stores nothing of the member."""
    async with await Storage.open(database, clock=FakeClock()) as replica:
        await replica.mood_optouts.opt_out(1)
    steps = [("좋다", 0.2)]
    assert not await storage.mood.add_score(-1, 1, 0.7, "m1", T0, None, 10, steps=steps)
    assert await storage.mood.add_score(-1, 2, 0.7, "m1", T0, None, 11, steps=steps)
    assert await rows(database, "SELECT user_id FROM mood_scores") == [(2,)]
    assert await rows(database, "SELECT user_id FROM mood_words") == [(2,)]
