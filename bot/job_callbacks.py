"""The job queue's callbacks: the scheduled, interval and corrections retrains, and the
retention job; each admin told of a retrain's outcome in the language they last used.

Each retrain starts in the background (bot.long_jobs), so a job callback returns at once;
when one starts is decided in bot.retrain_triggers.
"""

from __future__ import annotations

import logging

from telegram import Bot
from telegram.ext import ContextTypes

from bot import replies, retrain_triggers
from bot.long_jobs import LongJobs
from bot.progress_messages import quietly
from bot.replies import Lang
from bot.retrain_triggers import Trigger
from bot.retraining import OutcomeStatus, RetrainAlreadyRunning, Retrainer, RetrainOutcome
from bot.service import SentimentService

log = logging.getLogger(__name__)


class JobCallbacks:
    def __init__(self, service: SentimentService, retrainer: Retrainer, jobs: LongJobs) -> None:
        self.service = service
        self.retrainer = retrainer
        self.jobs = jobs
        self.admin_langs: dict[int, Lang] = {}  # for reports nobody asked for: set by the handlers

    def after_correction(self, bot: Bot) -> None:
        """Enough new corrections start a focused retrain in the background."""
        if retrain_triggers.starts_after_correction(self.service.settings.role.runs_jobs):
            self._start(bot, retrain_triggers.CORRECTIONS)

    async def corrections_retrain(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The trainer's minutely job: RETRAIN_AFTER_CORRECTIONS reached on any replica."""
        self._start(context.bot, retrain_triggers.CORRECTIONS)

    async def interval_retrain(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The hourly job: a focused retrain if any correction arrived since the last run."""
        self._start(context.bot, retrain_triggers.INTERVAL)

    def _start(self, bot: Bot, trigger: Trigger) -> None:
        self.jobs.start(f"retrain ({trigger.name})", self.retrain_if_due(bot, trigger))

    async def retrain_if_due(self, bot: Bot, trigger: Trigger) -> None:
        """Retrain when the trigger's threshold of corrections arrived since the last run
        started, and tell the admins."""
        threshold = retrain_triggers.threshold_of(
            trigger, self.service.settings.retrain_after_corrections
        )
        if not retrain_triggers.worth_counting(threshold, self.retrainer.running):
            return
        runs = await self.service.storage.runs.runs(limit=1)
        since = retrain_triggers.counted_since(runs[0].started_at if runs else None)
        pending = await self.service.storage.corrections.count_pending(since=since)
        if not retrain_triggers.is_due(pending, threshold):
            return
        try:
            outcome = await self.retrainer.run(trigger.name, mode="finetune")
        except RetrainAlreadyRunning:
            return
        log.info("retrain (%s): %s", trigger.name, outcome.message)
        await self.tell_admins(bot, outcome)

    async def scheduled_retrain(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The nightly job, in the background (see bot.long_jobs)."""
        self.jobs.start("retrain (schedule)", self._scheduled_retrain(context.bot))

    async def _scheduled_retrain(self, bot: Bot) -> None:
        """Retrain if there is anything to learn, report to the admins."""
        try:
            outcome = await self.retrainer.run(retrain_triggers.SCHEDULE)
        except RetrainAlreadyRunning:
            log.info("scheduled retrain skipped: one is already running")
            return
        log.info("scheduled retrain: %s", outcome.message)
        await self.tell_admins(bot, outcome)

    async def prune(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The retention job: what is older than RETENTION_DAYS goes."""
        removed = await self.service.prune_old_data()
        log.info("retention: removed %s", removed)

    async def tell_admins(self, bot: Bot, outcome: RetrainOutcome) -> None:
        """A retrain nobody watches: each admin gets its outcome (not "nothing to do")."""
        if outcome.status == OutcomeStatus.NOTHING_TO_DO:
            return
        for admin in self.service.settings.admin_ids:
            lang = self.admin_langs.get(admin, replies.i18n.DEFAULT_LANGUAGE)
            await quietly(bot.send_message(admin, replies.retrain_outcome_text(outcome, lang)))
