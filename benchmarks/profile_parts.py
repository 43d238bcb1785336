"""Share a message's CPU out over the parts of the bot's path, from py-spy's raw stacks.

py-spy (`record --format raw`, idle threads left out) writes one line per distinct stack,
root first, frames as ``function (file:line)`` joined by ``;``, then the sample count.
Each stack goes to the first part in `PARTS` that any of its frames belongs to, so a part
owns everything it calls (the inbox's JSON, a reply's HTTP call is the HTTP part's, as
that part is listed before the replies). SQLite runs in aiosqlite's own thread: every
statement's execution, the inbox's included, is in "database"; "inbox" is the main
thread's side of writing an update down and marking it handled.

py-spy cannot tell a thread waiting in C (SQLite's fsync) from one computing, so its share of
samples is not a share of CPU for the worker threads; `share_out(main_thread=True)` shares
only the event loop's thread, whose Python frames are CPU, and the caller measures the
threads' CPU itself (`psutil`).

Start-up (imports, loading and warming the model, migrations) is left out: py-spy can only
start the bot, not join it later, on this machine; so are threads waiting (`WAITING`).
"""

from __future__ import annotations

from collections import Counter

# part -> markers: a frame belongs to the part when its text contains one of them.
PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("inbox", ("InboxQueue._write_then_put", "retry_unavailable", "InboxQueue.settled")),
    ("scoring", ("nlp/", "onnxruntime/", "kiwipiepy/", "bot/serving.py")),
    ("database", ("bot/storage/", "sqlalchemy/", "aiosqlite/", "sqlite3/", "asyncpg/")),
    (
        "bot_api_http",
        (
            *("httpx/", "httpcore/", "h11/", "anyio/", "telegram/request/"),
            *("aiohttp/", "yarl/", "multidict/", "bot/bot_api_request.py"),
        ),
    ),
    ("telegram_objects", ("telegram/_",)),
    ("rate_limit", ("bot/ratelimit.py", "bot/delivery.py", "_aioratelimiter", "aiolimiter/")),
    ("replies", ("bot/replies.py", "bot/keyboards.py", "bot/i18n.py", "bot/menus.py")),
    ("handlers", ("bot/",)),
    ("ptb_dispatch", ("telegram/ext/",)),
)
OTHER = "event_loop_other"
THREAD_ROOT = "Thread._bootstrap"  # the first frame of every thread but the main one
START_UP = (
    "_find_and_load",
    "load_model",
    "_load_and_warm",
    "ModelService.start",
    "alembic/",
    "build_application",
    "Database.open",
)
# Leaf frames of threads waiting, which py-spy cannot tell from running on this machine:
# the event loop in epoll, aiosqlite's and the executor's threads on their queues.
WAITING = (
    "Runner.run (asyncio/runners.py:118)",
    "_connection_worker_thread (aiosqlite/core.py:59)",
    "_worker (concurrent/futures/thread.py:81)",
)


def parse(raw: str) -> Counter[tuple[str, ...]]:
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in raw.splitlines():
        frames, _, count = line.rpartition(" ")
        if frames and count.isdigit():
            stacks[tuple(frames.split(";"))] += int(count)
    return stacks


def part_of(stack: tuple[str, ...]) -> str | None:
    """The part a stack's samples count for; None for start-up and for waiting."""
    if stack[-1] in WAITING or any(m in frame for frame in stack for m in START_UP):
        return None
    for part, markers in PARTS:
        if any(marker in frame for frame in stack for marker in markers):
            return part
    return OTHER


def share_out(raw: str, ms_per_message: float, *, main_thread: bool = False) -> dict[str, float]:
    """ms of CPU per message in each part: ``ms_per_message`` in the proportion of the
    steady-state samples (start-up left out); with ``main_thread``, of the event loop's
    thread only."""
    samples: Counter[str] = Counter()
    for stack, count in parse(raw).items():
        if main_thread and any(THREAD_ROOT in frame for frame in stack):
            continue
        part = part_of(stack)
        if part is not None:
            samples[part] += count
    total = sum(samples.values())
    if not total:
        raise ValueError("the profile holds no samples after start-up")
    return {part: ms_per_message * count / total for part, count in samples.items()}
