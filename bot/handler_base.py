"""What every Telegram handler shares: the services, the language to answer in, the
access checks that refuse politely, and marking an update handled before long work.

The handlers themselves are split by audience: bot.handlers (everyone, buttons, demos,
the error handler), bot.group_handlers and bot.admin_handlers.
"""

from __future__ import annotations

import functools
import logging

from telegram import Update
from telegram.constants import ChatMemberStatus
from telegram.ext import ContextTypes

from bot import replies
from bot.dashboard import Dashboard
from bot.demo_runner import DemoRunner
from bot.digest_sender import DigestSender
from bot.error_reports import ErrorReporter
from bot.history_import import HistoryImporter
from bot.identities import in_group, lang_of
from bot.job_callbacks import JobCallbacks
from bot.long_jobs import LongJobs
from bot.metrics import Metrics
from bot.ratelimit import RateLimiter
from bot.replies import Lang, say
from bot.retraining import Retrainer
from bot.service import SentimentService
from bot.storage import StorageError

log = logging.getLogger(__name__)


class HandlerBase:
    def __init__(
        self,
        service: SentimentService,
        limiter: RateLimiter,
        retrainer: Retrainer,
        demos: DemoRunner,
        jobs: LongJobs | None = None,
        *,
        reporter: ErrorReporter | None = None,
        metrics: Metrics | None = None,
        dashboard: Dashboard | None = None,
    ) -> None:
        self.service = service
        self.limiter = limiter
        self.retrainer = retrainer
        self.demos = demos
        self.jobs = jobs or LongJobs()  # retrains and demos: never awaited in a handler
        self.reporter = reporter
        self.metrics = metrics
        # Without one (tests that build handlers alone): /dashboard says how to enable it.
        self.dashboard_service = dashboard or Dashboard(service, bot=None, url=None)
        self.job_callbacks = JobCallbacks(service, retrainer, self.jobs)
        self.digests = DigestSender(service.storage, service.settings, clock=service.clock)

    @functools.cached_property
    def importer(self) -> HistoryImporter:
        """Built at the first chat export. Built here in __init__, it made
        tests/test_crash_recovery.py's kill -9 polling test answer 40-56 updates twice
        instead of 0-1 (both backends, reproduced; not understood yet)."""
        service = self.service
        return HistoryImporter(
            service.storage, service.models, service.settings.retention_days, service.clock
        )

    async def _lang(self, update: Update) -> Lang:
        """What to answer in: a group's own language in groups, the person's elsewhere."""
        user = update.effective_user
        if user is not None and self.service.settings.is_admin(user.id):
            self.job_callbacks.admin_langs[user.id] = lang_of(update)
        if not in_group(update):
            return lang_of(update)
        try:
            return await self.service.chat_language(update.effective_chat.id)
        except StorageError:  # the answer may be about the database failing
            return replies.i18n.DEFAULT_LANGUAGE

    async def _handled(self, update: Update) -> None:
        """Mark the update handled before its long work starts: a replay after a crash or
        a restart must not start the work a second time (at most once, for work that
        costs minutes; the asker is told if it stops)."""
        try:
            await self.service.storage.inbox.handled(update.update_id)
        except StorageError as error:
            log.warning("update %s not marked handled: %s", update.update_id, error)

    async def _in_group(self, update: Update) -> bool:
        """A group command sent elsewhere is answered, not ignored."""
        if in_group(update):
            return True
        await update.effective_message.reply_text(
            say("error.groups_only", await self._lang(update))
        )
        return False

    async def _chat_admin(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
        """A group's settings are its admins' to change, asked of Telegram each time."""
        if await self._is_chat_admin(update, context):
            return True
        await update.effective_message.reply_text(
            say("error.chat_admins_only", await self._lang(update))
        )
        return False

    async def _is_chat_admin(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
        sender_chat = update.effective_message.sender_chat
        if sender_chat is not None and sender_chat.id == update.effective_chat.id:
            return True  # an anonymous admin: only admins can post as the group itself
        if sender_chat is not None:  # a channel posting here is no admin of the group
            return False
        member = await context.bot.get_chat_member(
            update.effective_chat.id, update.effective_user.id
        )
        return member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)

    async def _bot_admin(self, update: Update) -> bool:
        """The bot's own commands are for ADMIN_IDS; everyone else is told so."""
        user = update.effective_user
        if self.service.settings.is_admin(user.id if user else None):
            return True
        await update.effective_message.reply_text(
            say("error.admins_only", await self._lang(update))
        )
        return False
