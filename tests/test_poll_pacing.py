"""The wait between polls (bot/poll_pacing.py), on a clock the tests move by hand."""

from __future__ import annotations

import pytest

from bot.poll_pacing import RATE_WINDOW_S, PollPacer, update_chat
from tests.clocks import FakeClock

LONGEST = 0.05


def message(update_id: int, chat_id: int) -> dict[str, object]:
    return {"update_id": update_id, "message": {"message_id": 1, "chat": {"id": chat_id}}}


def stream(pacer: PollPacer, clock: FakeClock, rate: float, seconds: float) -> None:
    """Independent users at ``rate`` a second (each update from a new chat), polled as the
    bot polls: one poll per update while it does not wait, else one per wait."""
    update_id = 0
    until = clock.now + seconds
    while clock.now < until:
        wait = pacer.delay()
        gap = max(wait, 1 / rate)
        clock.now += gap
        count = max(1, round(gap * rate))
        pacer.polled([message(update_id + i, 1_000 + update_id + i) for i in range(count)])
        update_id += count


def test_a_lone_message_is_followed_by_a_poll_at_once() -> None:
    clock = FakeClock()
    pacer = PollPacer(LONGEST, clock)
    pacer.polled([message(1, 7)])
    assert pacer.delay() == 0.0


def test_a_busy_stream_of_independent_users_waits_the_longest_wait() -> None:
    clock = FakeClock()
    pacer = PollPacer(LONGEST, clock)
    stream(pacer, clock, rate=100, seconds=2)
    assert pacer.rate == pytest.approx(100, rel=0.15)
    assert pacer.delay() == pytest.approx(LONGEST)
    clock.now += LONGEST / 2
    assert pacer.delay() == pytest.approx(LONGEST / 2, abs=1e-6)  # measured from the poll's return
    clock.now += LONGEST
    assert pacer.delay() == 0.0


def test_a_stream_too_slow_to_batch_does_not_wait() -> None:
    clock = FakeClock()
    pacer = PollPacer(LONGEST, clock)
    stream(pacer, clock, rate=20, seconds=5)  # a wait of 50 ms would collect one update
    assert pacer.delay() == 0.0


def test_a_conversation_waiting_on_each_reply_is_polled_at_once() -> None:
    """One user, each message sent once the reply to the one before has arrived: fast
    enough to batch, were it not that nothing else can arrive during a wait."""
    clock = FakeClock()
    pacer = PollPacer(LONGEST, clock)
    for update_id in range(500):
        assert pacer.delay() == 0.0
        clock.now += 0.008
        pacer.polled([message(update_id, 7)])
        pacer.sending_to(7)  # the reply, before the next message
    assert pacer.rate > 2 / LONGEST  # fast enough to batch by the rate alone
    assert pacer.delay() == 0.0


def test_a_conversation_among_a_busy_stream_skips_one_wait_only() -> None:
    clock = FakeClock()
    pacer = PollPacer(LONGEST, clock)
    stream(pacer, clock, rate=100, seconds=2)
    pacer.sending_to(7)
    clock.now += 0.01
    pacer.polled([message(10_000, 7), message(10_001, 8)])
    assert pacer.delay() == 0.0
    clock.now += 0.01
    pacer.polled([message(10_002, 9)])  # chat 7's reply was before the previous poll
    assert pacer.delay() == pytest.approx(LONGEST)


def test_the_rate_fades_once_the_stream_stops() -> None:
    clock = FakeClock()
    pacer = PollPacer(LONGEST, clock)
    stream(pacer, clock, rate=100, seconds=2)
    clock.now += 3 * RATE_WINDOW_S  # a long poll that returned nothing
    pacer.polled([])
    assert pacer.delay() == 0.0
    clock.now += 1
    pacer.polled([message(1, 7)])
    assert pacer.delay() == 0.0


def test_no_longest_wait_never_waits() -> None:
    clock = FakeClock()
    pacer = PollPacer(0.0, clock)
    stream(pacer, clock, rate=1_000, seconds=1)
    assert pacer.delay() == 0.0


def test_the_chat_of_each_kind_of_update() -> None:
    assert update_chat(message(1, -100)) == -100
    callback = {"id": "q", "from": {"id": 7}, "message": {"chat": {"id": 7}}, "data": "x"}
    assert update_chat({"update_id": 2, "callback_query": callback}) == 7
    inline = {"id": "q", "from": {"id": 7}, "inline_message_id": "i", "data": "x"}
    assert update_chat({"update_id": 3, "callback_query": inline}) is None
    member = {"chat": {"id": -5}, "from": {"id": 7}, "date": 0}
    assert update_chat({"update_id": 4, "my_chat_member": member}) == -5
    assert update_chat({"update_id": 5}) is None
    assert update_chat("not an update") is None
