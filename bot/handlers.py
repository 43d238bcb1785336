"""The Telegram layer: the handler components built and registered in one place, the
per-user rate limit that runs before them, and the one error handler.

Kept thin on purpose: parsing of arguments and every decision live in `bot.service`, so
a handler only reads an Update and answers it. The components are split by concern, as
python-telegram-bot's rules-bot does, and share a `bot.handler_context.HandlerContext`
instead of a base class; each receives only the services it uses.

Handler groups, in the order PTB consults them:
    -1  gatekeeping: the per-user rate limit, in private chats and groups
     0  commands, buttons, documents, private text, group text, explicit ignores

Documented silent ignores: edited messages, channel posts, and non-text messages in
groups (a sticker in a group is not addressed to the bot).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from telegram import Bot, Update
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.admin_handlers import AdminHandlers
from bot.button_handlers import ButtonHandlers
from bot.dashboard import Dashboard
from bot.dashboard_handlers import DashboardHandlers
from bot.demo_runner import DemoRunner
from bot.digest_sender import DigestSender
from bot.error_reports import ErrorReporter
from bot.group_handlers import GroupHandlers
from bot.handler_context import HandlerContext
from bot.i18n import DEFAULT_LANGUAGE
from bot.identities import sender_id
from bot.import_handlers import ImportHandlers
from bot.long_jobs import LongJobs
from bot.metrics import Metrics
from bot.progress_messages import quietly
from bot.ratelimit import RateLimiter
from bot.replies import Lang, say
from bot.retraining import Retrainer
from bot.service import UsageError
from bot.serving import ServingBusy
from bot.storage import StorageError
from bot.user_handlers import UserHandlers

log = logging.getLogger(__name__)


class RateLimitGate:
    def __init__(self, ctx: HandlerContext, limiter: RateLimiter) -> None:
        self.ctx = ctx
        self.limiter = limiter

    async def check(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Drop a user's message beyond the per-minute limit, in private chats and groups
        alike (a group message beyond it is not scored); in private chats say so, once a
        minute. A group is not told: the warning would be noise for everyone else."""
        sender = sender_id(update)
        if sender is None or self.limiter.allow(sender):
            return
        private = update.effective_chat is not None and update.effective_chat.type == "private"
        if private and update.effective_message and self.limiter.should_warn(sender):
            await update.effective_message.reply_text(
                say("error.rate_limited", await self.ctx.lang(update))
            )
        raise ApplicationHandlerStop


class ErrorHandler:
    def __init__(
        self, ctx: HandlerContext, reporter: ErrorReporter | None, metrics: Metrics | None
    ) -> None:
        self.ctx = ctx
        self.reporter = reporter
        self.metrics = metrics

    async def error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Answer what can be answered; log the rest, and report internal errors to the
        operators (bot.error_reports). The bot keeps serving either way."""
        about = update if isinstance(update, Update) else None
        lang = await self.ctx.lang(about) if about is not None else DEFAULT_LANGUAGE
        text, kind = await self._describe(context.error, about, lang, context.bot)
        if self.metrics is not None:
            self.metrics.errors.labels(kind=kind).inc()
        if about is not None and about.callback_query is not None:
            await quietly(about.callback_query.answer(text[:200], show_alert=True))
        elif about is not None and about.effective_message is not None:
            await quietly(about.effective_message.reply_text(text))

    async def _describe(
        self, error: Exception | None, update: Update | None, lang: Lang, bot: Bot
    ) -> tuple[str, str]:
        """(the answer, the kind counted in the errors metric); internal ones reported."""
        if isinstance(error, UsageError):
            return str(error), "usage"
        if isinstance(error, StorageError):
            log.warning("storage error: %s", error)
            return say("error.storage", lang, error=str(error)), "storage"
        if isinstance(error, ServingBusy):
            log.warning("serving queue full: %s", error)
            return say("error.busy", lang), "busy"
        update_id = update.update_id if update is not None else None
        log.error("unhandled error in update %s", update_id or "-", exc_info=error)
        if self.reporter is not None and error is not None:
            await self.reporter.report(bot, error, update_id)
        return say("error.internal", lang), "internal"


async def ignore(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    log.debug("ignoring update %s", update.update_id)


@dataclass(frozen=True)
class HandlerComponents:
    """Every handler component, as `register_handlers` wires them."""

    gate: RateLimitGate
    user: UserHandlers
    buttons: ButtonHandlers
    groups: GroupHandlers
    dashboard: DashboardHandlers
    imports: ImportHandlers
    admin: AdminHandlers
    errors: ErrorHandler


def build_handlers(
    ctx: HandlerContext,
    *,
    limiter: RateLimiter,
    retrainer: Retrainer,
    demos: DemoRunner,
    jobs: LongJobs,
    after_correction: Callable[[Bot], None],
    digests: DigestSender,
    dashboard: Dashboard,
    reporter: ErrorReporter | None,
    metrics: Metrics | None,
) -> HandlerComponents:
    """Each component gets the context and only the services it uses; `after_correction`
    starts a retrain once enough corrections arrived (bot.job_callbacks)."""
    dashboard_handlers = DashboardHandlers(ctx, dashboard)
    return HandlerComponents(
        gate=RateLimitGate(ctx, limiter),
        user=UserHandlers(ctx, dashboard_handlers, demos, jobs, after_correction),
        buttons=ButtonHandlers(ctx, after_correction),
        groups=GroupHandlers(ctx, digests),
        dashboard=dashboard_handlers,
        imports=ImportHandlers(ctx, jobs),
        admin=AdminHandlers(ctx, retrainer, jobs),
        errors=ErrorHandler(ctx, reporter, metrics),
    )


def register_handlers(application: Application, handlers: HandlerComponents) -> None:
    """Order matters: within a group, the first handler whose filter matches takes it."""
    private = filters.ChatType.PRIVATE
    groups = filters.ChatType.GROUPS
    new_message = filters.UpdateType.MESSAGE
    user, group, admin = handlers.user, handlers.groups, handlers.admin
    application.add_handler(MessageHandler(new_message, handlers.gate.check), group=-1)
    commands = {
        ("start", "help"): user.help,
        "trace": user.trace_command,
        "correct": user.correct_command,
        "forget": user.forget,
        "optout": group.optout,
        "optin": group.optin,
        "mood": group.mood,
        "dashboard": handlers.dashboard.dashboard,
        "mood_alert": group.mood_alert,
        "digest": group.digest,
        "store_text": group.store_text,
        "language": group.language,
        "timezone": group.timezone,
        "mood_export": group.mood_export,
        "status": admin.status,
        "corrections": admin.corrections,
        "models": admin.models,
        "rollback": admin.rollback,
        "retrain": admin.retrain,
        "review": admin.review,
        ("rnn", "lstm", "gru"): user.demo,
    }
    for names, callback in commands.items():
        application.add_handler(CommandHandler(names, callback, filters=new_message))
    application.add_handler(CallbackQueryHandler(handlers.buttons.button))
    exports = filters.Document.FileExtension("json") | filters.Document.FileExtension("zip")
    application.add_handler(
        MessageHandler(exports & new_message, handlers.imports.history_document)
    )
    text = filters.TEXT & ~filters.COMMAND & new_message
    application.add_handler(MessageHandler(text & private, user.private_text))
    application.add_handler(MessageHandler(text & groups, group.group_text))
    application.add_handler(MessageHandler(private & new_message & ~filters.TEXT, user.not_text))
    application.add_handler(
        MessageHandler(private & new_message & filters.COMMAND, user.unknown_command)
    )
    ignored = filters.UpdateType.EDITED | filters.UpdateType.CHANNEL_POSTS
    application.add_handler(MessageHandler(ignored, ignore))
    application.add_error_handler(handlers.errors.error)
