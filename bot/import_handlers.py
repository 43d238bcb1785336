"""A group's history import: a chat export (.json or .zip) that one of its admins sends
there as a document, scored in the background while one message shows the progress."""

from __future__ import annotations

import functools

from telegram import Update
from telegram.ext import ContextTypes

from bot import progress_messages
from bot.chat_export import MAX_DOWNLOAD_BYTES
from bot.handler_context import HandlerContext, is_chat_admin
from bot.history_import import HistoryImporter, ImportBusy, ImportProgress
from bot.identities import in_group
from bot.long_jobs import LongJobs, Notice
from bot.progress_messages import ProgressMessage
from bot.replies import say
from bot.update_fields import chat_of, document_of, message_of


class ImportHandlers:
    def __init__(self, ctx: HandlerContext, jobs: LongJobs) -> None:
        self.ctx = ctx
        self.service = ctx.service
        self.jobs = jobs  # imports: never awaited in a handler

    @functools.cached_property
    def importer(self) -> HistoryImporter:
        """Built at the first chat export: most deployments never import one."""
        service = self.service
        return HistoryImporter(
            service.storage,
            service.models,
            service.settings.retention_days,
            service.clock,
            processes=service.settings.import_processes,
            version_dir=service.registry.path_of,
        )

    async def history_document(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A .json or .zip document: a chat export to import when a group's admin sends it
        there. Members' files are group content, not addressed to the bot: ignored."""
        message = message_of(update)
        lang = await self.ctx.lang(update)
        if not in_group(update):
            await message.reply_text(say("import.in_group", lang))
            return
        if not await is_chat_admin(update, context.bot):
            return
        document, chat_id = document_of(message), chat_of(update).id
        if document.file_size is not None and document.file_size > MAX_DOWNLOAD_BYTES:
            await message.reply_text(say("import.too_big", lang))
            return
        try:
            self.importer.claim(chat_id)
        except ImportBusy:
            await message.reply_text(say("import.busy", lang))
            return
        try:
            progress = ProgressMessage(await message.reply_text(say("import.starting", lang)))
            zone = await self.service.chat_zone(chat_id)
        except BaseException:
            self.importer.release(chat_id)
            raise
        await self.ctx.handled(update)
        state = ImportProgress()

        async def download() -> bytes:
            return bytes(await (await document.get_file()).download_as_bytearray())

        def told(key: str) -> Notice:
            return lambda: progress.show(
                progress_messages.import_stopped_text(key, state, lang), final=True
            )

        self.jobs.start(
            f"import {chat_id}",
            progress_messages.follow_import(
                self.importer, download, chat_id, state, progress, lang, zone
            ),
            on_stopped=told("import.stopped"),
            on_failed=told("import.failed"),
        )
