"""What the bot does, as plain async methods: no Telegram types in or out.

The Telegram handlers and the terminal chat both call this class, so every behaviour can
be tested without a network, and both front ends behave the same.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from bot import charts, i18n, mood, mood_csv, mood_words, replies
from bot.first_model import FullModelFollowUp
from bot.overlay import ContestedText, CorrectionOverlay, Vote, contested
from bot.replies import Lang, say
from bot.retraining import plan_retrain
from bot.served_version import ServedVersion, VersionRefused
from bot.serving import ModelService
from bot.settings import Settings, zone_named
from bot.storage import DatabaseUnavailable, Removed, Storage
from nlp.inference import normalize_text
from nlp.trace import Trace
from training.registry import Registry, RegistryError

log = logging.getLogger(__name__)

HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]")  # syllables and jamo
MAX_MOOD_HOURS = 720
MAX_EXPORT_DAYS = 366
DEFAULT_EXPORT_DAYS = 7
INBOX_KEEP_S = 2 * 86_400  # Telegram redelivers an update for at most a day
POSITIVE_WORDS = {"긍정", "positive", "pos", "1", "좋음", "👍"}
NEGATIVE_WORDS = {"부정", "negative", "neg", "0", "나쁨", "👎"}


@dataclass(frozen=True)
class Reply:
    text: str
    photo: bytes | None = None
    document: tuple[str, bytes] | None = None  # (file name, content)
    verdict_id: int | None = None  # when set, the reply carries the right/wrong buttons


class UsageError(ValueError):
    """A command with wrong arguments; the message is the answer to show."""


def parse_label(word: str) -> int | None:
    word = word.strip().lower()
    if word in POSITIVE_WORDS:
        return 1
    if word in NEGATIVE_WORDS:
        return 0
    return None


class SentimentService:
    def __init__(
        self,
        settings: Settings,
        storage: Storage,
        models: ModelService,
        registry: Registry,
        served: ServedVersion,
        overlay: CorrectionOverlay | None = None,
        clock: Callable[[], float] = time.time,
        first_model: FullModelFollowUp | None = None,
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.models = models
        self.registry = registry
        self.served = served  # the one path that changes the served version
        self.overlay = overlay or CorrectionOverlay(settings.retrain.trust)
        self._overlay_fingerprint: tuple[object, ...] | None = None
        self.clock = clock
        self.first_model = first_model  # the full model training behind a quick one

    async def load_overlay(self) -> None:
        """Rebuild the corrections overlay from storage (at start-up)."""
        rules = self.settings.retrain.trust
        fingerprint = await self.storage.corrections.corrections_fingerprint()
        votes = [Vote(*vote) for vote in await self.storage.corrections.votes()]
        reviews = [
            (r.text_key, r.label, r.decision) for r in await self.storage.corrections.reviews()
        ]
        self.overlay = CorrectionOverlay.of(rules, votes, reviews)
        self._overlay_fingerprint = fingerprint

    async def refresh_overlay(self) -> bool:
        """Rebuild the overlay if any process changed the corrections since: with several
        replicas, a correction made on one must reach the others (its author's next
        message may land on any of them). True when it was rebuilt."""
        if await self.storage.corrections.corrections_fingerprint() == self._overlay_fingerprint:
            return False
        await self.load_overlay()
        return True

    async def _read(self, text: str) -> Trace:
        """The model's trace of a Korean message; any other text gets an empty trace that
        says why (see replies.REASON_NO_HANGUL), without reaching the model. The model
        itself scores whatever it can tokenise: NSMC has reviews like "good" and "-_-"."""
        normalized = normalize_text(text)
        if normalized.strip() and not HANGUL.search(normalized):
            version = self.models.model.version
            return Trace(text, (), (), 0.5, version, replies.REASON_NO_HANGUL)
        return await self.models.trace(text)

    # --- private chats: verdicts and corrections ------------------------------------

    async def analyse(
        self,
        text: str,
        *,
        user_id: int,
        chat_id: int,
        message_id: int,
        lang: Lang,
        chart: bool = False,
    ) -> Reply:
        trace = await self._read(text)
        if trace.is_empty:
            return Reply(replies.unreadable_text(trace, lang))
        corrected = self.overlay.lookup(text, user_id, trace.positive)
        try:
            verdict_id: int | None = await self.storage.verdicts.remember_verdict(
                chat_id=chat_id,
                message_id=message_id,
                text=text,
                predicted_label=trace.label,
                probability=trace.positive,
                model_version=trace.model_version,
                user_id=user_id,
                shown_label=corrected.label if corrected else None,
            )
        except DatabaseUnavailable as error:
            # The verdict is still worth sending; only its buttons need the stored row.
            log.warning("verdict not stored, sent without buttons: %s", error)
            verdict_id = None
        photo = await asyncio.to_thread(charts.trace_chart, trace, lang=lang) if chart else None
        text_out = replies.verdict_text(trace, lang, corrected)
        return Reply(text_out, photo=photo, verdict_id=verdict_id)

    async def correct_verdict(
        self, verdict_id: int, *, user_id: int, chat_id: int, label: int | None, lang: Lang
    ) -> str:
        """Store a correction of a stored verdict; `label` None means "the other one".

        Raises UsageError (with the answer to show) for a stale verdict or someone else's."""
        verdict = await self.storage.verdicts.get_verdict(verdict_id)
        if verdict is None or verdict.text is None:
            raise UsageError(say("correction.stale", lang))
        if verdict.chat_id != chat_id or verdict.user_id != user_id:
            # A correction speaks for its author only; nothing changes for anyone, and the
            # buttons stay for the person they belong to.
            raise UsageError(say("correction.not_yours", lang))
        corrected = (1 - verdict.label_shown) if label is None else label
        return await self._save_correction(
            verdict.text,
            verdict.predicted_label,
            verdict.probability,
            verdict.model_version,
            corrected_label=corrected,
            user_id=user_id,
            chat_id=chat_id,
            lang=lang,
        )

    async def check_verdict_owner(
        self, verdict_id: int, *, user_id: int, chat_id: int, lang: Lang
    ) -> None:
        """Raises UsageError unless the verdict is this user's in this chat (or gone, when
        nothing is left to protect)."""
        verdict = await self.storage.verdicts.get_verdict(verdict_id)
        if verdict is not None and (verdict.chat_id != chat_id or verdict.user_id != user_id):
            raise UsageError(say("correction.not_yours", lang))

    async def correct_text(
        self,
        text: str,
        *,
        user_id: int,
        chat_id: int,
        label: int,
        lang: Lang,
        author_id: int | None = None,
    ) -> str:
        """A correction of a message that has no stored verdict (a reply to a message):
        trace it now to record what the model predicted.

        Another member's text (``author_id``) is stored only in a group that keeps texts
        (/store_text on), and under its author too, so their /forget removes it."""
        others = author_id is not None and author_id != user_id
        if others and not (await self.storage.chats.chat_settings(chat_id)).store_text:
            raise UsageError(say("correction.others_text_not_kept", lang))
        trace = await self._read(text)
        if trace.is_empty:
            return replies.unreadable_text(trace, lang)
        return await self._save_correction(
            text,
            trace.label,
            trace.positive,
            trace.model_version,
            corrected_label=label,
            user_id=user_id,
            chat_id=chat_id,
            lang=lang,
            author_id=author_id if others else None,
        )

    async def _save_correction(
        self,
        text: str,
        predicted_label: int,
        probability: float,
        model_version: str,
        *,
        corrected_label: int,
        user_id: int,
        chat_id: int,
        lang: Lang,
        author_id: int | None = None,
    ) -> str:
        """Store first, then say so: the answer is only given once the row is committed."""
        result = await self.storage.corrections.add_correction(
            text=text,
            predicted_label=predicted_label,
            predicted_probability=probability,
            corrected_label=corrected_label,
            user_id=user_id,
            chat_id=chat_id,
            model_version=model_version,
            author_id=author_id,
        )
        self.overlay.add(text, user_id, corrected_label)
        key = "correction.saved" if result.created else "correction.updated"
        return say(
            key,
            lang,
            label=replies.label_name(corrected_label, lang),
            agreement=self.settings.retrain.trust.agreement,
        )

    async def forget(self, user_id: int, lang: Lang) -> str:
        removed = await self.storage.retention.forget_user(user_id)
        self.overlay.forget_user(user_id)
        return say(
            "forget.done",
            lang,
            corrections=removed.corrections,
            verdicts=removed.verdicts,
            scores=removed.scores,
            words=removed.words,
        )

    async def opt_out(self, user_id: int, lang: Lang) -> str:
        """/optout: this member's messages are no longer read for mood, in any group, and
        what was kept of them (scores, word statistics) is deleted."""
        result = await self.storage.mood_optouts.opt_out(user_id)
        if result.already and not (result.scores or result.words):
            return say("optout.already", lang)
        return say("optout.done", lang, scores=result.scores, words=result.words)

    async def opt_in(self, user_id: int, lang: Lang) -> str:
        """/optin: read this member's messages for mood again, from now on."""
        changed = await self.storage.mood_optouts.opt_in(user_id)
        return say("optout.optin" if changed else "optout.not_out", lang)

    # --- retention -------------------------------------------------------------------

    async def prune_old_data(self) -> Removed:
        """Delete what is older than RETENTION_DAYS (see Retention.prune for what goes)."""
        now = self.clock()
        removed = await self.storage.retention.prune(now - self.settings.retention_days * 86_400)
        await self.storage.inbox.prune_inbox(now - INBOX_KEEP_S)
        await self.storage.replicas.prune_leases(
            now - INBOX_KEEP_S
        )  # killed processes leave theirs
        if removed.corrections:
            await self.load_overlay()  # the overlay must not outlive its corrections
        return removed

    # --- bot admins: contested corrections -------------------------------------------------

    async def review_queue(self, limit: int = 5) -> list[ContestedText]:
        decided = {(r.text_key, r.label) for r in await self.storage.corrections.reviews()}
        pending = await self.storage.corrections.pending_corrections()
        return contested(pending, decided, self.settings.retrain.trust, limit)

    async def decide_review(
        self, correction_id: int, *, approve: bool, admin_id: int, lang: Lang
    ) -> str:
        """An admin settles a contested label for everyone, now (overlay) and for training."""
        correction = await self.storage.corrections.get_correction(correction_id)
        if correction is None:
            return say("correction.stale", lang)
        decision = "approved" if approve else "rejected"
        label = correction.corrected_label
        await self.storage.corrections.review(correction.text, label, decision, admin_id)
        self.overlay.review(correction.text, label, decision)  # type: ignore[arg-type]
        key = "review.approved" if approve else "review.rejected"
        return say(key, lang, label=replies.label_name(label, lang))

    # --- group chats: mood ------------------------------------------------------------

    async def chat_language(self, chat_id: int) -> Lang:
        """A group's language: its own (/language), else the default (Korean)."""
        language = (await self.storage.chats.chat_settings(chat_id)).language
        return language if language in i18n.languages() else i18n.DEFAULT_LANGUAGE

    async def chat_zone(self, chat_id: int) -> ZoneInfo:
        """A group's time zone: its own (/timezone), else the TIMEZONE setting."""
        name = (await self.storage.chats.chat_settings(chat_id)).timezone
        return (zone_named(name) if name else None) or self.settings.timezone

    async def observe_group_message(
        self,
        text: str,
        *,
        chat_id: int,
        user_id: int,
        at: float,
        message_id: int | None = None,
        update_id: int | None = None,
    ) -> str | None:
        """Score one group message; returns an alert to post (in the group's language), at
        most once per dip. A message scored before (a replayed or redelivered update) is
        not counted again. A member who opted out is not read at all. ``update_id`` (the
        inbox's) is marked handled with the score, in its transaction."""
        if await self.storage.mood_optouts.is_out(user_id):
            return None
        trace = await self._read(text)
        if trace.is_empty:
            return None
        # The text is kept only if the chat opted in; storage enforces that rule.
        added = await self.storage.mood.add_score(
            chat_id,
            user_id,
            trace.positive,
            trace.model_version,
            at,
            text,
            message_id,
            steps=mood_words.word_steps(trace),
            update_id=update_id,
        )
        if not added:
            return None
        settings = await self.storage.chats.chat_settings(chat_id)
        if settings.alert_threshold is None:
            return None
        window, min_members = self.settings.mood_window, self.settings.mood_min_members
        recent = await self.storage.mood.recent_scores(chat_id, window)
        rolling = mood.rolling_mood(recent, window, min_members=min_members)
        decision = mood.alert_decision(rolling, settings.alert_threshold, settings.alert_active)
        if decision is mood.AlertDecision.NONE:
            return None
        fire = decision is mood.AlertDecision.FIRE
        if not await self.storage.chats.set_alert_active(chat_id, fire):
            return None
        lang, zone = await self.chat_language(chat_id), await self.chat_zone(chat_id)
        local = i18n.local_time(at, zone)
        if fire:
            drivers = await self.storage.mood_words.drivers(chat_id, recent[0].at, at, min_members)
            text = i18n.text(
                "mood.alert_fired",
                lang,
                window=window,
                rolling=rolling,
                threshold=settings.alert_threshold,
                time=local,
            )
            return replies.fit(text + replies.drivers_text(drivers, lang, up=False))
        return say("mood.alert_recovered", lang, rolling=rolling, time=local)

    async def mood_report(self, chat_id: int, args: list[str], lang: Lang) -> Reply:
        hours = _parse_hours(args, lang)
        now = self.clock()
        scores = await self.storage.mood.scores(chat_id, now - hours * 3600)
        zone = await self.chat_zone(chat_id)
        min_members = self.settings.mood_min_members
        summary = mood.summarize(scores, now, hours, tz=zone, min_members=min_members)
        if not summary.message_count:
            return Reply(say("mood.empty", lang, hours=hours))
        if summary.too_few_members:  # counts only: no mean, no chart, no words
            return Reply(replies.mood_summary_text(summary, lang))
        threshold = (await self.storage.chats.chat_settings(chat_id)).alert_threshold
        photo = await asyncio.to_thread(
            charts.mood_chart, summary.series, threshold=threshold, lang=lang
        )
        start = now - hours * 3600
        drivers = await self.storage.mood_words.drivers(chat_id, start, now, min_members)
        return Reply(replies.mood_summary_text(summary, lang, drivers), photo=photo)

    async def mood_export(self, chat_id: int, args: list[str], lang: Lang) -> Reply:
        """/mood_export [days]: the group's hourly aggregates as a CSV document, in its
        own time zone; no texts, no members' ids."""
        days = _parse_days(args, lang)
        now = self.clock()
        start = now - days * 86_400
        scores = await self.storage.mood.scores(chat_id, start)
        if not scores:
            return Reply(say("export.empty", lang, days=days))
        zone = await self.chat_zone(chat_id)
        buckets = mood.hourly_buckets(scores, start, now, zone)
        content = mood_csv.hourly_csv(buckets, self.settings.mood_min_members)
        name = f"mood-{time.strftime('%Y%m%d', time.gmtime(now))}-{days}d.csv"
        return Reply(name, document=(name, content))

    async def set_alert(self, chat_id: int, args: list[str], lang: Lang) -> str:
        if len(args) != 1:
            raise UsageError(say("mood.alert_usage", lang))
        if args[0].lower() in ("off", "끄기", "none"):
            await self.storage.chats.set_alert_threshold(chat_id, None)
            return say("mood.alert_off", lang)
        threshold = _parse_fraction(args[0])
        if threshold is None:
            raise UsageError(say("mood.alert_usage", lang))
        await self.storage.chats.set_alert_threshold(chat_id, threshold)
        return say("mood.alert_set", lang, threshold=threshold)

    async def set_store_text(self, chat_id: int, args: list[str], lang: Lang) -> str:
        choice = args[0].lower() if len(args) == 1 else ""
        if choice not in ("on", "off", "켜기", "끄기"):
            raise UsageError(say("group.store_text_usage", lang))
        erased = await self.storage.chats.set_store_text(chat_id, choice in ("on", "켜기"))
        if choice in ("on", "켜기"):
            return say("group.store_text_on", lang)
        return say("group.store_text_off", lang, count=erased)

    async def set_language(self, chat_id: int, args: list[str], lang: Lang) -> str:
        """/language ko|en: everything the bot posts in this group, from now on; the
        answer is already in the new language."""
        choice = args[0].lower() if len(args) == 1 else ""
        if choice not in i18n.languages():
            current = await self.chat_language(chat_id)
            raise UsageError(say("group.language_usage", lang, current=current))
        await self.storage.chats.set_chat_language(chat_id, choice)
        return say("group.language_set", choice)

    async def set_timezone(self, chat_id: int, args: list[str], lang: Lang) -> str:
        """/timezone Area/City: the hours /mood, its chart and alerts show in this group."""
        if len(args) != 1:
            current = (await self.chat_zone(chat_id)).key
            raise UsageError(say("group.timezone_usage", lang, current=current))
        zone = zone_named(args[0])
        if zone is None:
            raise UsageError(say("group.timezone_unknown", lang, zone=args[0][:64]))
        await self.storage.chats.set_chat_timezone(chat_id, zone.key)
        return say(
            "group.timezone_set", lang, zone=zone.key, time=i18n.local_time(self.clock(), zone)
        )

    # --- admins -------------------------------------------------------------------------

    async def status(self, lang: Lang) -> str:
        stats = self.models.stats()
        runs = await self.storage.runs.runs(limit=1)
        return replies.status_text(
            stats,
            accuracy=self.models.model.metrics.get("test_accuracy"),
            pending=await self.storage.corrections.count_pending(),
            uptime_s=self.clock() - stats.started_at,
            last_run=(runs[0].status, runs[0].candidate_version) if runs else None,
            first_model=self.first_model.state if self.first_model else None,
            lang=lang,
            now=self.clock(),
            plan=await plan_retrain(self.storage.corrections, self.settings.retrain),
        )

    async def corrections_document(self, lang: Lang) -> Reply:
        if not await self.storage.corrections.all_corrections():
            return Reply(say("admin.no_corrections", lang))
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(self.clock()))
        content = await self.storage.corrections.corrections_csv()
        return Reply(f"corrections-{stamp}.csv", document=(f"corrections-{stamp}.csv", content))

    async def models_text(self, lang: Lang) -> str:
        """Checking versions reads and hashes every file, so it runs off the event loop."""
        return await asyncio.to_thread(self._models_text, lang)

    def _models_text(self, lang: Lang) -> str:
        served = self.models.model.version  # what answers, as /status says
        lines = []
        for info in self.registry.versions()[-20:]:
            mark = "▶" if info.name == served else "·"
            accuracy = f"{info.accuracy:.4f}" if info.accuracy is not None else "-"
            problem = f" ⚠️ {info.problem}" if info.problem else ""
            quick = i18n.text("admin.quick_mark", lang) if info.is_quick else ""
            lines.append(
                i18n.text(
                    "admin.model_line",
                    lang,
                    mark=mark,
                    name=info.name,
                    accuracy=accuracy,
                    problem=quick + problem,
                )
            )
        return "\n".join(lines) or i18n.text("admin.no_models", lang)

    async def rollback(self, args: list[str], lang: Lang) -> str:
        if len(args) > 1:
            raise UsageError(say("admin.rollback_usage", lang))
        target = args[0] if args else await asyncio.to_thread(self._previous_version)
        if target is None:
            return say("admin.no_previous", lang)
        try:
            await self.served.serve(target)
        except (RegistryError, VersionRefused) as error:
            # The registry's message names server paths: logged, never shown.
            log.info("rollback to %s refused: %s", target, error)
            raise UsageError(say("admin.rollback_refused", lang, version=target[:80])) from error
        return say("admin.rolled_back", lang, version=target)

    def _previous_version(self) -> str | None:
        current = self.models.model.version
        usable = [info.name for info in self.registry.versions() if info.problem is None]
        older = [name for name in usable if name < current]
        return older[-1] if older else None


def parse_demo_args(args: list[str], usage: str) -> tuple[int | None, int]:
    """[epochs] [seed] for /rnn, /lstm, /gru; the runner checks the ranges."""
    if len(args) > 2 or not all(arg.isdigit() for arg in args):
        raise UsageError(usage)
    epochs = int(args[0]) if args else None
    seed = int(args[1]) if len(args) == 2 else 0
    return epochs, seed


def _parse_hours(args: list[str], lang: Lang) -> int:
    if not args:
        return 24
    if len(args) == 1 and args[0].isdigit() and 1 <= int(args[0]) <= MAX_MOOD_HOURS:
        return int(args[0])
    raise UsageError(say("mood.usage", lang))


def _parse_days(args: list[str], lang: Lang) -> int:
    if not args:
        return DEFAULT_EXPORT_DAYS
    if len(args) == 1 and args[0].isdigit() and 1 <= int(args[0]) <= MAX_EXPORT_DAYS:
        return int(args[0])
    raise UsageError(say("export.usage", lang, max_days=MAX_EXPORT_DAYS))


def _parse_fraction(raw: str) -> float | None:
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if 0.0 < value < 1.0 else None
