"""Every reply the bot composes, as pure functions of plain values (no Telegram here).

The words come from the message catalogue (`bot.i18n`, one file per language); this module
decides which texts a reply is made of. Replies are plain text (no parse mode), so nothing
a user typed can break the markup.
"""

from __future__ import annotations

from bot import i18n
from bot.first_model import FollowUpState, Phase
from bot.mood import MoodSummary
from bot.mood_words import Drivers, WordDriver
from bot.overlay import ContestedText, OverlayVerdict, Source
from bot.retraining import RetrainPlan
from bot.serving import ServingStats
from bot.storage import RunStatus
from nlp.inference import REASON_EMPTY
from nlp.trace import Trace
from training.demos import DemoResult, Outcome
from training.gate import CheckName, GateCheck
from training.protocol import EventKind, ProgressEvent, RetrainResult

# The bot's own refusal: the model would score any text, but a Korean bot's verdict on
# "hello world" would be a guess dressed up as an answer.
REASON_NO_HANGUL = "no_hangul"

Lang = str  # a language with a catalogue in bot/locales (see bot.i18n.languages)
TELEGRAM_TEXT_LIMIT = 4096
BAR_CELLS = 10
MAX_TRACE_LINES = 40
MAX_WORD_CHARS = 14

language_of = i18n.language_of


def say(key: str, lang: Lang, **values: object) -> str:
    """One catalogue text, filled in and cut to what Telegram accepts."""
    return fit(i18n.text(key, lang, **values))


def label_name(label: int, lang: Lang) -> str:
    return i18n.text("label.positive" if label == 1 else "label.negative", lang)


def bar(probability: float) -> str:
    filled = round(probability * BAR_CELLS)
    return "█" * filled + "░" * (BAR_CELLS - filled)


def fit(text: str, limit: int = TELEGRAM_TEXT_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _short(text: str, limit: int = MAX_WORD_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _emoji(label: int) -> str:
    return "😊" if label == 1 else "😞"


# --- verdicts -----------------------------------------------------------------------


def verdict_text(trace: Trace, lang: Lang, corrected: OverlayVerdict | None = None) -> str:
    """The verdict, then one line per word: bar, P(positive), the word; turns are marked.

    When corrections override the model, the headline says so and what the model said;
    the trace below stays the model's own reading."""
    if corrected is not None and corrected.label != trace.label:
        label = label_name(corrected.label, lang)
        headline = [
            i18n.text(
                "verdict.corrected_headline", lang, emoji=_emoji(corrected.label), label=label
            ),
            _overlay_note(trace, corrected, lang),
        ]
    else:
        label = label_name(trace.label, lang)
        headline = [
            i18n.text(
                "verdict.headline",
                lang,
                emoji=_emoji(trace.label),
                label=label,
                confidence=trace.confidence,
            )
        ]
    lines = [*headline, "", i18n.text("verdict.trace_title", lang)]
    turns = set(trace.turning_points)
    shown = trace.words[:MAX_TRACE_LINES]
    for index, (word, probability) in enumerate(zip(shown, trace.probabilities, strict=False)):
        mark = ""
        if index == trace.decisive_word:
            mark = i18n.text("verdict.decisive", lang)
        elif index in turns:
            mark = i18n.text("verdict.turn", lang)
        lines.append(f"{bar(probability)} {probability:.2f} {_short(word)}{mark}")
    more = len(trace.words) - MAX_TRACE_LINES
    if more > 0:
        lines.append(i18n.text("verdict.more_words", lang, count=more))
    if trace.truncated:  # the n-gram model reads all of it
        lines.append(i18n.text("verdict.truncated", lang))
    lines += ["", i18n.text("verdict.question", lang)]
    return fit("\n".join(lines))


def _overlay_note(trace: Trace, corrected: OverlayVerdict, lang: Lang) -> str:
    model = f"{label_name(trace.label, lang)} {trace.confidence:.0%}"
    if corrected.source is Source.YOURS:
        return i18n.text("verdict.yours", lang, model=model)
    if corrected.source is Source.ADMIN:
        return i18n.text("verdict.admin", lang, model=model)
    return i18n.text("verdict.agreed", lang, model=model, users=corrected.users)


def unreadable_text(trace: Trace, lang: Lang) -> str:
    if trace.reason == REASON_EMPTY:
        return say("verdict.empty", lang)
    if trace.reason == REASON_NO_HANGUL:
        return say("verdict.no_hangul", lang)
    return say("verdict.no_words", lang)


def help_text(lang: Lang, *, agreement: int, retention_days: int) -> str:
    return say("help.text", lang, agreement=agreement, days=retention_days)


def review_text(item: ContestedText, lang: Lang) -> str:
    confidence = max(item.model_positive, 1 - item.model_positive)
    model = f"{label_name(int(item.model_positive >= 0.5), lang)} {confidence:.0%}"
    return say(
        "review.item",
        lang,
        text=_short(item.text, 300),
        label=label_name(item.label, lang),
        votes_for=item.votes_for,
        votes_against=item.votes_against,
        model=model,
    )


# --- retraining -----------------------------------------------------------------------


def _job_name(job: str | None, lang: Lang) -> str:
    if not job:
        return ""
    if job == "final":
        return i18n.text("retrain.job_final", lang)
    return i18n.text("retrain.job_fold", lang, fold=job.removeprefix("fold "))


def _member_name(name: str | None, lang: Lang) -> str:
    return i18n.catalogue(lang).get(f"retrain.member.{name}", name or "?")


def retrain_progress_text(event: ProgressEvent, lang: Lang) -> str:
    """One line per state of a running retrain, for an edited Telegram message: which
    training job (a cross-validation fold or the final model) and which member."""
    parts = [i18n.text("retrain.head", lang)]
    job = _job_name(event.job, lang)
    if event.kind is EventKind.MEMBER:
        member = _member_name(event.member_name, lang)
        done = i18n.text(
            "retrain.member_done", lang, member=member, index=event.member, total=event.members
        )
        return " · ".join([*parts, *([job] if job else []), done])
    if event.stage is None:
        return parts[0]
    stage = i18n.text(f"retrain.stage.{event.stage.value}", lang)
    return " · ".join([*parts, *([job] if job else []), stage])


def retrain_outcome_text(outcome, lang: Lang) -> str:
    """The admin's report: what happened, the corrections, before/after, the gate's checks,
    and examples whose verdict flipped."""
    result: RetrainResult | None = outcome.result
    version = outcome.candidate_version or ""
    lines = [i18n.text(f"retrain.{outcome.status}", lang, version=version)]
    if result is None:
        if outcome.status == "failed":
            lines.append(outcome.message)  # the child's error, for the admin who can fix it
        if outcome.plan is not None:
            lines += plan_lines(outcome.plan, lang)
        return fit("\n".join(lines))
    lines += _corrections_lines(result, lang)
    if result.full_declined:
        lines.append(i18n.text("retrain.full_declined", lang))
    if result.teacher_version:
        lines.append(i18n.text("retrain.teacher", lang, version=result.teacher_version))
    if result.decision is not None:
        lines += ["", i18n.text("retrain.gate_title", lang)]
        lines += [_check_line(check, lang) for check in result.decision.checks]
    if result.flips:
        lines += ["", i18n.text("retrain.flips_title", lang)]
        for flip in result.flips[:6]:
            lines.append(
                i18n.text(
                    "retrain.flip",
                    lang,
                    text=_short(flip.text, 40),
                    before=flip.before,
                    after=flip.after,
                    label=label_name(flip.label, lang),
                )
            )
    lines.append(i18n.text("retrain.seconds", lang, seconds=outcome.seconds))
    return fit("\n".join(lines))


def plan_lines(plan: RetrainPlan, lang: Lang) -> list[str]:
    """What the pending corrections could teach now, and why the rest waits."""
    lines = [
        i18n.text("retrain.ready", lang, ready=plan.evidence.movable, needed=plan.evidence.needed)
    ]
    return lines + _waiting_lines(plan.waiting, lang)


def _waiting_lines(waiting: dict[str, int], lang: Lang) -> list[str]:
    texts = i18n.catalogue(lang)
    return [
        i18n.text(
            "retrain.waiting", lang, count=count, reason=texts.get(f"retrain.wait.{reason}", reason)
        )
        for reason, count in waiting.items()
    ]


def _corrections_lines(result: RetrainResult, lang: Lang) -> list[str]:
    report = result.corrections
    routes = report.used_by_route
    lines = [
        i18n.text(
            "retrain.used",
            lang,
            used=report.used,
            agreed=routes.get("agreed", 0),
            approved=routes.get("approved", 0),
            broad=routes.get("broad", 0),
        )
    ]
    if report.carried:
        lines.append(
            i18n.text(
                "retrain.carried", lang, count=report.carried, share=report.carried_after or 0.0
            )
        )
    lines += _waiting_lines(report.waiting_by_reason, lang)
    if report.accuracy_before is not None and report.accuracy_after is not None:
        lines.append(
            i18n.text(
                "retrain.accuracy", lang, before=report.accuracy_before, after=report.accuracy_after
            )
        )
    return lines


def _check_line(check: GateCheck, lang: Lang) -> str:
    f = check.figures
    if check.name is CheckName.NSMC:
        detail = i18n.text(
            "gate.nsmc",
            lang,
            before=f["accuracy_before"],
            after=f["accuracy_after"],
            n=f["n"],
            bound=f["drop_bound"] * 100,
            allowed=f["max_drop"] * 100,
        )
    elif check.name is CheckName.CANARIES:
        detail = i18n.text("gate.canaries", lang, n=f["n"], flipped=f["flipped"])
    elif check.name is CheckName.LEARNED:
        detail = i18n.text("gate.learned", lang, n=f["n"], right=f["right"], share=f["min_share"])
    else:
        detail = i18n.text(
            "gate.generalises",
            lang,
            toward=f["toward"],
            away=f["away"],
            p=f["p_value"],
            max_p=f["max_p_value"],
        )
    return f"{'✅' if check.passed else '❌'} {detail}"


# --- the recurrent-network demos --------------------------------------------------------


def demo_queued_text(demo: str, place: int, lang: Lang) -> str:
    return say("demo.queued", lang, demo=demo, place=place)


def demo_progress_text(demo: str, model: str, epoch: int, epochs: int, lang: Lang) -> str:
    return say("demo.progress", lang, demo=demo, model=model, epoch=epoch, epochs=epochs)


def demo_summary(result: DemoResult, lang: Lang) -> str:
    """The figures of a demo, each model's outcome, then a lesson that follows from them:
    a model that stays at the baseline is said to have failed, whatever the theory says."""
    lines = [
        i18n.text(f"demo.title_{result.demo}", lang),
        i18n.text("demo.baseline", lang, mse=result.baseline_mse),
    ]
    for name, model in result.models.items():
        outcome = result.outcome(name)
        lines.append(
            i18n.text(
                "demo.model",
                lang,
                name=name,
                mse=model.val_loss,
                share=result.share_of_baseline(name),
                params=model.params,
                outcome=i18n.text(f"demo.outcome_{outcome.value}", lang),
            )
        )
    if result.prediction is not None:
        lines.append(
            i18n.text("demo.prediction", lang, prediction=result.prediction, target=result.target)
        )
    lines.append(
        i18n.text(
            "demo.footer", lang, epochs=result.epochs, seed=result.seed, seconds=result.seconds
        )
    )
    lines += ["", demo_lesson(result, lang)]
    return fit("\n".join(lines))


def demo_lesson(result: DemoResult, lang: Lang) -> str:
    more = min(500, max(result.epochs * 2, result.epochs + 10))
    outcomes = {name: result.outcome(name) for name in result.models}
    learned = [name for name, outcome in outcomes.items() if outcome is not Outcome.FAILED]
    failed = [name for name, outcome in outcomes.items() if outcome is Outcome.FAILED]
    if result.demo == "rnn":
        key = "demo.lesson_rnn_learned" if not failed else "demo.lesson_rnn_failed"
        return i18n.text(key, lang, more=more)
    if result.demo == "gru":
        if not failed:
            return i18n.text("demo.lesson_gru", lang)
        if learned:
            return i18n.text(
                "demo.lesson_gru_split",
                lang,
                learned=learned[0],
                failed=failed[0],
                demo=result.demo,
                more=more,
            )
        return i18n.text(
            "demo.lesson_gated_failed",
            lang,
            gated=" / ".join(failed),
            epochs=result.epochs,
            demo=result.demo,
            more=more,
        )
    simple, gated = "SimpleRNN", next(name for name in result.models if name != "SimpleRNN")
    if outcomes[gated] is Outcome.FAILED:
        return i18n.text(
            "demo.lesson_gated_failed",
            lang,
            gated=gated,
            epochs=result.epochs,
            demo=result.demo,
            more=more,
        )
    if outcomes[simple] is Outcome.FAILED:
        return i18n.text("demo.lesson_gated_wins", lang, simple=simple, gated=gated)
    return i18n.text("demo.lesson_both_learn", lang, simple=simple, gated=gated)


# --- group mood -------------------------------------------------------------------------


def mood_summary_text(summary: MoodSummary, lang: Lang, drivers: Drivers | None = None) -> str:
    """One line of figures; the most negative hour in the group's local time, labelled;
    then the words that moved the mood, when given. A window written by fewer than
    MOOD_MIN_MEMBERS members gets its counts and says why there is no mood."""
    if summary.too_few_members:
        return say(
            "mood.too_few_members",
            lang,
            hours=summary.hours,
            count=summary.message_count,
            members=summary.members,
            min=summary.min_members,
        )
    text = i18n.text(
        "mood.summary",
        lang,
        hours=summary.hours,
        count=summary.message_count,
        mean=summary.mean_positive or 0.0,
        negative=f"{round((summary.negative_share or 0.0) * 100)}%",
    )
    worst = summary.most_negative_hour
    if worst is not None:
        text += i18n.text(
            "mood.worst_hour",
            lang,
            hour=f"{worst.start:%H}",
            zone=i18n.zone_label(worst.start.tzinfo, worst.start),
        )
    if drivers is not None:
        text += drivers_text(drivers, lang)
    return fit(text)


def drivers_text(drivers: Drivers, lang: Lang, *, up: bool = True) -> str:
    """The words that pulled the mood down (and, with ``up``, lifted it), each with its
    summed effect: words only, never a message or a member."""
    text = ""
    if drivers.down:
        text += i18n.text("mood.words_down", lang, words=_words(drivers.down, lang))
    if up and drivers.up:
        text += i18n.text("mood.words_up", lang, words=_words(drivers.up, lang))
    return text


def _words(drivers: tuple[WordDriver, ...], lang: Lang) -> str:
    return ", ".join(
        i18n.text("mood.word", lang, word=_short(d.word), effect=d.effect) for d in drivers
    )


# --- the admins' status -----------------------------------------------------------------


def status_text(
    stats: ServingStats,
    accuracy: float | None,
    pending: int,
    uptime_s: float,
    last_run: tuple[RunStatus, str | None] | None,
    first_model: FollowUpState | None,
    lang: Lang,
    now: float,
    plan: RetrainPlan | None = None,
) -> str:
    """The admins' /status: the served version, its figures, and the full model's training
    while a quick stand-in answers."""
    unknown = i18n.text("status.unknown", lang)
    lines = [
        i18n.text("status.version", lang, version=stats.version),
        i18n.text(
            "status.accuracy", lang, accuracy=f"{accuracy:.4f}" if accuracy is not None else unknown
        ),
        i18n.text("status.pending", lang, count=pending),
        *(plan_lines(plan, lang) if plan is not None and pending else ()),
        i18n.text("status.uptime", lang, uptime=duration(uptime_s, lang)),
        i18n.text("status.served", lang, count=stats.served),
        i18n.text(
            "status.latency",
            lang,
            latency=f"{stats.p50_ms:.1f} ms" if stats.p50_ms is not None else unknown,
        ),
        i18n.text("status.swaps", lang, count=stats.swaps),
    ]
    if last_run is not None:
        status, version = last_run
        lines.append(
            i18n.text(
                "status.last_run",
                lang,
                status=i18n.text(f"run.{status}", lang),
                version=version or unknown,
            )
        )
    if first_model is not None:
        lines.append(first_model_text(first_model, lang, now))
    return fit("\n".join(lines))


def first_model_text(state: FollowUpState, lang: Lang, now: float) -> str:
    """Where the full model is: training (how far, for how long), serving, or failed."""
    if state.phase is Phase.SERVING:
        return i18n.text(
            "status.full_serving", lang, full=state.full_version, quick=state.quick_version
        )
    if state.phase is Phase.FAILED:
        return i18n.text("status.full_failed", lang, error=state.error)
    where = ""
    if state.last is not None:
        where = i18n.text(
            "status.full_where",
            lang,
            member=_member_name(state.last.member_name, lang),
            index=state.last.member,
            total=state.last.members,
            epoch=state.last.epoch,
            epochs=state.last.epochs,
        )
    if state.evaluating:
        where += i18n.text("status.full_evaluating", lang)
    return i18n.text(
        "status.full_training",
        lang,
        bar=bar(state.fraction),
        fraction=state.fraction,
        where=where,
        elapsed=duration(now - state.started_at, lang),
    )


def duration(seconds: float, lang: Lang) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return i18n.text("status.days", lang, days=days, hours=hours, minutes=minutes)
    return i18n.text("status.hours", lang, hours=hours, minutes=minutes, seconds=seconds)
