"""benchmarks.profile_parts: py-spy's stacks shared out over the parts of the bot's path."""

from __future__ import annotations

import pytest

from benchmarks.profile_parts import part_of, share_out

ROOT = "_run_module_as_main (<frozen runpy>:198);Runner.run (asyncio/runners.py:118)"
HANDLER = f"{ROOT};InboxApplication.process_update (bot/inbox.py:180)"
RAW = "\n".join(
    [
        # the inbox owns the JSON it writes, even though json is no part of its own
        f"{ROOT};InboxQueue._write_then_put (bot/inbox.py:110);dumps (json/__init__.py:238) 10",
        # a reply's HTTP call is HTTP's, though the replies module made it
        f"{HANDLER};send_reply (bot/keyboards.py:40);AsyncClient.send (httpx/_client.py:1600) 20",
        f"{HANDLER};Service.verdict (bot/service.py:90);Storage.add (bot/storage/x.py:5) 30",
        f"{HANDLER};render (bot/replies.py:12) 40",
        # start-up and a waiting event loop are left out
        f"{ROOT};run_bot (bot/app.py:300);load_model (nlp/ensemble.py:20) 500",
        f"{ROOT} 700",
    ]
)


def test_each_stack_goes_to_the_first_part_it_touches() -> None:
    assert part_of(("Runner.run (asyncio/runners.py:118)",)) is None
    assert part_of(("x (nlp/inference.py:1)", "y (sqlalchemy/sql/base.py:2)")) == "scoring"
    assert part_of(("select (selectors.py:468)", "z (logging/__init__.py:1)")) == (
        "event_loop_other"
    )


def test_the_cpu_per_message_is_shared_in_proportion_to_the_samples() -> None:
    parts = share_out(RAW, ms_per_message=2.0)
    assert parts == pytest.approx(
        {"inbox": 0.2, "bot_api_http": 0.4, "database": 0.6, "replies": 0.8}
    )


def test_the_main_thread_alone_leaves_the_other_threads_out() -> None:
    worker = "Thread._bootstrap (threading.py:1002);_worker (concurrent/futures/thread.py:83)"
    raw = f"{RAW}\n{worker};run (onnxruntime/capi/x.py:395) 100"
    assert share_out(raw, 2.0)["scoring"] == pytest.approx(1.0)
    assert "scoring" not in share_out(raw, 2.0, main_thread=True)


def test_a_profile_of_start_up_only_is_refused() -> None:
    with pytest.raises(ValueError, match="no samples"):
        share_out(f"{ROOT};load_model (nlp/ensemble.py:20) 5\n", 1.0)
