"""Wiring: open the runtime (database, model, service), build the Application, run it.

The handlers and their order: bot.handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from apscheduler.triggers.cron import CronTrigger
from telegram import Update
from telegram.ext import (
    Application,
    JobQueue,
    Updater,
)

from bot import i18n
from bot.bot_api_request import AiohttpRequest
from bot.dashboard import Dashboard
from bot.dashboard_web import routes as dashboard_routes
from bot.delivery import PatientRateLimiter
from bot.demo_runner import DemoRunner
from bot.digest_sender import CHECK_INTERVAL_S, DigestSender
from bot.error_reports import ErrorReporter
from bot.first_model import FullModelFollowUp
from bot.handler_context import HandlerContext
from bot.handlers import build_handlers, register_handlers
from bot.inbox import InboxApplication, InboxBot, InboxQueue
from bot.job_callbacks import JobCallbacks
from bot.long_jobs import LongJobs
from bot.menus import publish_menus
from bot.metrics import Metrics, Probes
from bot.poll_pacing import PollPacer
from bot.ratelimit import RateLimiter
from bot.retraining import RETRAIN_LOCK, ChildProcess, Retrainer
from bot.served_version import ServedVersion, choose_at_start
from bot.service import SentimentService
from bot.serving import ModelService
from bot.settings import Role, Settings
from bot.storage import Storage, StorageError
from bot.storage.replica_store import LEASE_S
from bot.webhook import WebhookServer
from training.registry import Registry

log = logging.getLogger(__name__)

PRUNE_INTERVAL_S = 6 * 3600  # how often the retention job looks for expired rows
DUE_CHECK_S = 60  # how often a trainer counts the corrections the replicas stored
# PostgreSQL: how often to look for updates a dead replica left (one is taken for dead
# once its lease has run out, LEASE_S after its last renewal).
ORPHAN_REPLAY_S = LEASE_S
METRICS_REFRESH_S = 15  # how often the database-wide figures of /metrics are read
# How long a request may wait for a free pooled connection. python-telegram-bot's 1 s
# dropped replies whenever the Bot API answered slowly under load (TimedOut, "not sent");
# a request waiting for a connection is queued work, and the rate limiter already paces it.
POOL_TIMEOUT_S = 60.0
DIGEST_CHECK_S = CHECK_INTERVAL_S  # how often each process looks for due digests
DIGEST_FIRST_S = 10


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
    first_model: FullModelFollowUp
    served: ServedVersion
    jobs: LongJobs  # retrains and demos, outside the update handlers
    dashboard: Dashboard | None = None  # set by build_application, which has the Bot

    def web_routes(self) -> list[Any]:
        """The dashboard's page and API, when DASHBOARD_URL is set."""
        url = self.settings.dashboard_url
        if url is None or self.dashboard is None:
            return []
        max_age = self.settings.dashboard_max_age
        return dashboard_routes(urlsplit(url).path, self.dashboard, max_age)

    async def readiness_problem(self) -> str | None:
        """Why this process should not get traffic now, or None: it needs its model and
        its database (the webhook's /health/ready)."""
        try:
            await self.storage.schema_version()
        except StorageError as error:
            return f"database: {error}"
        return None


@contextlib.asynccontextmanager
async def open_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    registry = Registry(settings.paths.registry_dir)
    registry.clean_staging()
    if settings.database_url is None:
        settings.database_path.parent.mkdir(parents=True, exist_ok=True)
    storage = await Storage.open(settings.database, busy_timeout=settings.db_busy_timeout)
    log.info("storage: %s (%s)", settings.database_label, storage.backend)
    try:
        async with storage.replicas.exclusive(RETRAIN_LOCK) as no_retrain_anywhere:
            if no_retrain_anywhere:  # a run left "running" is not another replica's, under way
                await storage.runs.fail_stale_runs()
        model, choice = await choose_at_start(storage.replicas, registry)
    except BaseException:
        await storage.close()
        raise
    models = ModelService(model)
    await models.start()
    served = ServedVersion(storage.replicas, models, registry, choice)
    child = ChildProcess(settings.python, settings.retrain_timeout)
    retrainer = Retrainer(storage, registry, settings.retrain, served=served, child=child)
    log_path = settings.database_path.parent / "full-model-training.log"
    first_model = FullModelFollowUp(settings, registry, retrainer, served, log_path)
    service = SentimentService(settings, storage, models, registry, served, first_model=first_model)
    await service.load_overlay()
    demos = DemoRunner(settings.demo_cache_dir)
    jobs = LongJobs()
    if settings.role.runs_jobs:  # a replica leaves the full model to the trainer
        first_model.start()  # only when the current version is a quick stand-in
    try:
        yield Runtime(
            settings,
            storage,
            registry,
            models,
            service,
            retrainer,
            demos,
            first_model,
            served,
            jobs,
        )
    finally:
        await jobs.stop()
        await first_model.stop()
        await demos.aclose()
        await retrainer.cancel()
        await models.stop()
        await storage.close()


def build_application(runtime: Runtime) -> Application:
    settings = runtime.settings
    # Polling confirms updates with the next getUpdates; a webhook with its 200.
    inbox = InboxQueue(deferred=not settings.webhook_url)
    inbox.store = runtime.storage.inbox
    inbox.metrics = Metrics()
    inbox.metrics.watch(
        Probes(
            served_version=lambda: runtime.models.model.version,
            swaps=lambda: runtime.models.stats().swaps,
            backlog=inbox.qsize,
        )
    )
    bot = InboxBot(
        settings.token,
        base_url=settings.base_url,
        base_file_url=settings.base_file_url,
        # A few keep-alive connections carry hundreds of calls a second.
        request=AiohttpRequest(settings.http_connections, pool_timeout=POOL_TIMEOUT_S),
        get_updates_request=AiohttpRequest(),
        rate_limiter=PatientRateLimiter(overall_max_rate=settings.outgoing_per_second_here),
        inbox=inbox,
        pacer=PollPacer(0.0 if settings.webhook_url else settings.poll_interval),
    )
    application = (
        Application.builder()
        .application_class(InboxApplication)
        .bot(bot)
        .update_queue(inbox)
        .concurrent_updates(256)  # lets messages that arrive together share one trace batch
        .build()
    )
    runtime.dashboard = Dashboard(runtime.service, bot, url=settings.dashboard_url)
    service = runtime.service
    job_callbacks = JobCallbacks(service, runtime.retrainer, runtime.jobs)
    digests = DigestSender(service.storage, settings, clock=service.clock)
    handlers = build_handlers(
        HandlerContext(service, job_callbacks.admin_langs),
        limiter=RateLimiter(settings.rate_limit_per_minute_here),
        retrainer=runtime.retrainer,
        demos=runtime.demos,
        jobs=runtime.jobs,
        after_correction=job_callbacks.after_correction,
        digests=digests,
        dashboard=runtime.dashboard,
        reporter=ErrorReporter(settings.error_report_chats, lang=i18n.DEFAULT_LANGUAGE),
        metrics=inbox.metrics,
    )
    register_handlers(application, handlers)
    follow_other_processes(application, runtime, inbox)
    metrics = inbox.metrics

    async def refresh_metrics(context) -> None:
        await metrics.refresh(runtime.storage)

    _jobs(application).run_repeating(
        refresh_metrics, interval=METRICS_REFRESH_S, first=METRICS_REFRESH_S, name="metrics"
    )
    if settings.role.runs_jobs:
        schedule_jobs(application, job_callbacks, settings)
    schedule_digests(application, digests)
    return application


def schedule_digests(application: Application, sender: DigestSender) -> None:
    """Every process looks for due digests; the database claim lets one of them send
    each (bot.storage.digest_store), so a replica that dies leaves its digests to the others."""

    async def send_digests(context) -> None:
        sent = await sender.send_due(context.bot)
        if sent:
            log.info("digests: sent %d", sent)

    _jobs(application).run_repeating(
        send_digests, interval=DIGEST_CHECK_S, first=DIGEST_FIRST_S, name="digests"
    )


def _jobs(application: Application) -> JobQueue:
    """The job queue, which the job-queue extra always provides."""
    if application.job_queue is None:
        raise RuntimeError("python-telegram-bot was installed without its job-queue extra")
    return application.job_queue


def _updater(application: Application) -> Updater:
    if application.updater is None:
        raise RuntimeError("the application was built without an updater")
    return application.updater


def _inbox(application: Application) -> InboxQueue:
    """The update queue, which build_application makes an InboxQueue."""
    queue = application.update_queue
    if not isinstance(queue, InboxQueue):
        raise TypeError(f"the update queue is a {type(queue).__name__}, not an InboxQueue")
    return queue


def follow_other_processes(application: Application, runtime: Runtime, inbox: InboxQueue) -> None:
    """What every process does when it may not be alone: serve the model version recorded
    in the database and (PostgreSQL) the corrections others stored, and (PostgreSQL,
    processes that take updates) take over the updates of a process that died."""
    settings = runtime.settings
    if runtime.storage.backend == "postgresql" and settings.role.takes_updates:
        # At start-up only, a process would find just its own predecessor's updates.

        async def replay_orphans(context) -> None:
            await inbox.replay_unhandled(context.bot)

        _jobs(application).run_repeating(
            replay_orphans,
            interval=ORPHAN_REPLAY_S,
            first=ORPHAN_REPLAY_S,
            name="replay-orphans",
        )
    if settings.model_poll_seconds:
        shared = runtime.storage.backend == "postgresql"  # SQLite: one process, nothing to see

        async def follow_model(context) -> None:
            await runtime.served.follow()
            if shared:
                await runtime.service.refresh_overlay()

        _jobs(application).run_repeating(
            follow_model,
            interval=settings.model_poll_seconds,
            first=settings.model_poll_seconds,
            name="follow-model",
        )


def schedule_jobs(application: Application, jobs: JobCallbacks, settings: Settings) -> None:
    """The retrains and the retention job: in the one process with BOT_ROLE all or
    trainer (a replica runs none of them)."""
    if settings.retrain_cron:
        _jobs(application).run_custom(
            jobs.scheduled_retrain,
            job_kwargs={
                "trigger": CronTrigger.from_crontab(
                    settings.retrain_cron, timezone=settings.timezone
                )
            },
            name="retrain",
        )
    _jobs(application).run_repeating(
        jobs.prune, interval=PRUNE_INTERVAL_S, first=60, name="retention"
    )
    if settings.retrain_interval_minutes:
        _jobs(application).run_repeating(
            jobs.interval_retrain,
            interval=settings.retrain_interval_minutes * 60,
            first=settings.retrain_interval_minutes * 60,
            name="retrain-interval",
        )
    if settings.role is Role.TRAINER:  # corrections arrive at the replicas: look for them
        _jobs(application).run_repeating(
            jobs.corrections_retrain,
            interval=DUE_CHECK_S,
            first=DUE_CHECK_S,
            name="retrain-due",
        )


async def run_bot(settings: Settings, stop: asyncio.Event) -> None:
    """Serve until `stop` is set: long polling, or a webhook when WEBHOOK_URL is set."""
    async with open_runtime(settings) as runtime:
        application = build_application(runtime)
        async with application:
            await publish_menus(application.bot)
            await application.start()
            if settings.role.takes_updates:
                await _inbox(application).replay_unhandled(application.bot)
            log.info("serving model %s as %s", runtime.models.model.version, settings.role)
            # Long jobs stop as soon as the signal comes, while updates stop arriving, and
            # before PTB's stop, which would wait for them; their askers are told.
            jobs_stopped = asyncio.create_task(_stop_jobs_on(stop, runtime.jobs))
            metrics = _inbox(application).metrics
            with contextlib.suppress(StorageError):  # then at the first refresh
                if metrics is not None:
                    await metrics.refresh(runtime.storage)
            monitor = _health_server(application, runtime)
            if not settings.role.takes_updates:
                await stop.wait()
            elif settings.webhook_url:
                await _serve_webhook(application, runtime, stop)
            else:
                await _poll(application, settings, stop)
            await jobs_stopped
            if monitor is not None:
                await monitor.close()
            await application.stop()


async def _stop_jobs_on(stop: asyncio.Event, jobs: LongJobs) -> None:
    await stop.wait()
    log.info("stopping")
    await jobs.stop()


async def _poll(application: Application, settings: Settings, stop: asyncio.Event) -> None:
    await _updater(application).start_polling(
        poll_interval=0,  # InboxBot waits between polls when it pays (bot/poll_pacing.py)
        timeout=settings.poll_timeout,
        allowed_updates=Update.ALL_TYPES,
        drop_pending_updates=False,
    )
    await stop.wait()
    await _updater(application).stop()


async def _serve_webhook(application: Application, runtime: Runtime, stop: asyncio.Event) -> None:
    """Listen first, then tell Telegram where: no delivery finds the port closed. The
    webhook stays registered at exit, so another replica (or the restarted bot) takes
    the updates that Telegram keeps meanwhile."""
    settings = runtime.settings
    server = WebhookServer(
        # The proxy in front forwards the public URL's path unchanged.
        path=urlsplit(settings.webhook_url or "").path,
        bot=application.bot,
        queue=_inbox(application),
        secret=settings.webhook_secret,
        ready=runtime.readiness_problem,
        metrics=_inbox(application).metrics,
        extra_routes=runtime.web_routes(),
    )
    server.listen(settings.webhook_listen, settings.webhook_port)
    await application.bot.set_webhook(
        settings.webhook_url,
        secret_token=settings.webhook_secret,
        allowed_updates=Update.ALL_TYPES,
    )
    await stop.wait()
    await server.close()


def _health_server(application: Application, runtime: Runtime) -> WebhookServer | None:
    """Polling mode (or a trainer) with METRICS_PORT or DASHBOARD_URL: the health checks,
    /metrics (with METRICS_PORT) and the dashboard (with DASHBOARD_URL) on METRICS_PORT,
    else WEBHOOK_PORT (in webhook mode they are all on the webhook's own server)."""
    settings = runtime.settings
    takes_webhook = settings.role.takes_updates and settings.webhook_url
    if not (settings.metrics_port or settings.dashboard_url) or takes_webhook:
        return None
    server = WebhookServer(
        path=None,
        bot=application.bot,
        queue=_inbox(application),
        secret=None,
        ready=runtime.readiness_problem,
        metrics=_inbox(application).metrics if settings.metrics_port else None,
        extra_routes=runtime.web_routes(),
    )
    server.listen(settings.webhook_listen, settings.metrics_port or settings.webhook_port)
    return server


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
