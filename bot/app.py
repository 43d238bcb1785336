"""Wiring: open the runtime (database, model, service), build the Application, run it.

Handler groups, in the order PTB consults them:
    -1  gatekeeping: the per-user rate limit for private chats
     0  commands, buttons, private text, group text, explicit ignores
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC
from urllib.parse import urlsplit

from apscheduler.triggers.cron import CronTrigger
from telegram import BotCommand, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest

from bot.config import Settings
from bot.delivery import PatientRateLimiter
from bot.handlers import Handlers
from bot.inbox import InboxApplication, InboxBot, InboxQueue
from bot.ratelimit import RateLimiter
from bot.replicas import ModelFollower
from bot.retraining import RETRAIN_LOCK, ChildProcess, Retrainer
from bot.service import SentimentService
from bot.serving import ModelService
from bot.storage import Storage
from training.demo_runner import DemoRunner
from training.registry import Registry

log = logging.getLogger(__name__)

PRUNE_INTERVAL_S = 6 * 3600  # how often the retention job looks for expired rows
ORPHAN_REPLAY_S = 30  # PostgreSQL: how often to look for updates a dead replica left

COMMANDS = [
    BotCommand("help", "도움말 / help"),
    BotCommand("trace", "단어별 흐름 그래프 / trace chart"),
    BotCommand("correct", "판정 고치기 (답장으로) / correct a verdict (as a reply)"),
    BotCommand("mood", "그룹 분위기 / group mood"),
    BotCommand("mood_alert", "분위기 알림 기준 / mood alert threshold"),
    BotCommand("forget", "내 데이터 지우기 / delete my data"),
    BotCommand("rnn", "SimpleRNN 실습 / SimpleRNN demo"),
    BotCommand("lstm", "LSTM 실습 / LSTM demo"),
    BotCommand("gru", "GRU 실습 / GRU demo"),
]


@dataclass
class Runtime:
    """The parts the bot runs on; opened together, closed together."""

    settings: Settings
    storage: Storage
    registry: Registry
    models: ModelService
    service: SentimentService
    retrainer: Retrainer
    demos: DemoRunner
    follower: ModelFollower


@contextlib.asynccontextmanager
async def open_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    registry = Registry(settings.paths.registry_dir)
    registry.clean_staging()
    model = await asyncio.to_thread(registry.load_current)
    if settings.database_url is None:
        settings.database_path.parent.mkdir(parents=True, exist_ok=True)
    storage = await Storage.open(settings.database, busy_timeout=settings.db_busy_timeout)
    log.info("storage: %s (%s)", settings.database_label, storage.backend)
    async with storage.exclusive(RETRAIN_LOCK) as no_retrain_anywhere:
        if no_retrain_anywhere:  # a run left "running" is not another replica's, under way
            await storage.fail_stale_runs()
    models = ModelService(model)
    await models.start()
    follower = ModelFollower(storage, models, registry)
    await follower.start()

    async def hot_swap(version: str) -> None:
        await models.swap(lambda: registry.load(version))
        await follower.publish(version)

    child = ChildProcess(settings.python, settings.retrain_timeout)
    retrainer = Retrainer(storage, registry, settings.retrain, on_accept=hot_swap, child=child)
    service = SentimentService(settings, storage, models, registry)
    service.on_serve = follower.publish
    await service.load_overlay()
    demos = DemoRunner(settings.demo_cache_dir)
    try:
        yield Runtime(settings, storage, registry, models, service, retrainer, demos, follower)
    finally:
        await demos.aclose()
        await retrainer.cancel()
        await models.stop()
        await storage.close()


def build_application(runtime: Runtime) -> Application:
    settings = runtime.settings
    # Polling confirms updates with the next getUpdates; a webhook with its 200.
    inbox = InboxQueue(deferred=not settings.webhook_url)
    inbox.storage = runtime.storage
    bot = InboxBot(
        settings.token,
        base_url=settings.base_url,
        base_file_url=settings.base_file_url,
        # PTB's default of 256 connections costs CPU: httpcore checks every pooled
        # connection on each request. A few keep-alive connections carry hundreds a second.
        request=HTTPXRequest(connection_pool_size=settings.http_connections),
        get_updates_request=HTTPXRequest(),
        rate_limiter=PatientRateLimiter(overall_max_rate=settings.outgoing_per_second),
        inbox=inbox,
    )
    application = (
        Application.builder()
        .application_class(InboxApplication)
        .bot(bot)
        .update_queue(inbox)
        .concurrent_updates(256)  # lets messages that arrive together share one trace batch
        .build()
    )
    handlers = Handlers(
        runtime.service,
        RateLimiter(settings.rate_limit_per_minute),
        runtime.retrainer,
        runtime.demos,
    )
    register_handlers(application, handlers)
    if settings.retrain_cron:
        application.job_queue.run_custom(
            handlers.scheduled_retrain,
            job_kwargs={"trigger": CronTrigger.from_crontab(settings.retrain_cron, timezone=UTC)},
            name="retrain",
        )
    application.job_queue.run_repeating(
        handlers.prune, interval=PRUNE_INTERVAL_S, first=60, name="retention"
    )
    if runtime.storage.backend == "postgresql":
        # Replicas: updates received by a process that died since are replayed by the
        # others (at start-up only, a process would find just its own predecessor's).

        async def replay_orphans(context) -> None:
            await inbox.replay_unhandled(context.bot)

        application.job_queue.run_repeating(
            replay_orphans, interval=ORPHAN_REPLAY_S, first=ORPHAN_REPLAY_S,
            name="replay-orphans",
        )  # fmt: skip
    if settings.model_poll_seconds:

        async def follow_model(context) -> None:
            await runtime.follower.check()

        application.job_queue.run_repeating(
            follow_model, interval=settings.model_poll_seconds,
            first=settings.model_poll_seconds, name="follow-model",
        )  # fmt: skip
    if settings.retrain_interval_minutes:
        application.job_queue.run_repeating(
            handlers.interval_retrain, interval=settings.retrain_interval_minutes * 60,
            first=settings.retrain_interval_minutes * 60, name="retrain-interval",
        )  # fmt: skip
    return application


def register_handlers(application: Application, handlers: Handlers) -> None:
    private = filters.ChatType.PRIVATE
    groups = filters.ChatType.GROUPS
    new_message = filters.UpdateType.MESSAGE
    application.add_handler(MessageHandler(new_message, handlers.rate_limit), group=-1)
    commands = {
        ("start", "help"): handlers.help,
        "trace": handlers.trace_command,
        "correct": handlers.correct_command,
        "forget": handlers.forget,
        "mood": handlers.mood,
        "mood_alert": handlers.mood_alert,
        "store_text": handlers.store_text,
        "status": handlers.status,
        "corrections": handlers.corrections,
        "models": handlers.models,
        "rollback": handlers.rollback,
        "retrain": handlers.retrain,
        "review": handlers.review,
        ("rnn", "lstm", "gru"): handlers.demo,
    }
    for names, callback in commands.items():
        application.add_handler(CommandHandler(names, callback, filters=new_message))
    application.add_handler(CallbackQueryHandler(handlers.button))
    text = filters.TEXT & ~filters.COMMAND & new_message
    application.add_handler(MessageHandler(text & private, handlers.private_text))
    application.add_handler(MessageHandler(text & groups, handlers.group_text))
    application.add_handler(
        MessageHandler(private & new_message & ~filters.TEXT, handlers.not_text)
    )
    application.add_handler(
        MessageHandler(private & new_message & filters.COMMAND, handlers.unknown_command)
    )
    ignored = filters.UpdateType.EDITED | filters.UpdateType.CHANNEL_POSTS
    application.add_handler(MessageHandler(ignored, handlers.ignore))
    application.add_error_handler(handlers.error)


async def run_bot(settings: Settings, stop: asyncio.Event) -> None:
    """Serve until `stop` is set: long polling, or a webhook when WEBHOOK_URL is set."""
    async with open_runtime(settings) as runtime:
        application = build_application(runtime)
        async with application:
            await application.bot.set_my_commands(COMMANDS)
            await application.start()
            await application.update_queue.replay_unhandled(application.bot)
            if settings.webhook_url:
                await application.updater.start_webhook(
                    listen=settings.webhook_listen,
                    port=settings.webhook_port,
                    # The proxy in front forwards the public URL's path unchanged.
                    url_path=urlsplit(settings.webhook_url).path.lstrip("/"),
                    webhook_url=settings.webhook_url,
                    secret_token=settings.webhook_secret,
                    allowed_updates=Update.ALL_TYPES,
                )
            else:
                await application.updater.start_polling(
                    # Without a pause, a busy bot polls once per update and spends as
                    # much on getUpdates as on replies; 10 ms batches them (bench: 155 ->
                    # 200 msg/s) for at most 10 ms of extra latency.
                    poll_interval=settings.poll_interval,
                    timeout=settings.poll_timeout,
                    allowed_updates=Update.ALL_TYPES,
                    drop_pending_updates=False,
                )
            log.info("serving model %s", runtime.models.model.version)
            await stop.wait()
            await application.updater.stop()
            await application.stop()


def serve_forever(settings: Settings) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await run_bot(settings, stop)

    with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
        runner.run(main())


def _event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it exists (not on Windows): the bot spends most of its time in the event loop
    (sockets, the Bot API's HTTP), and uvloop does that part about twice as fast."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop
