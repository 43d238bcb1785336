"""When a retrain starts by itself: after enough corrections, on the interval, on the
schedule; and which kind an admin's /retrain asks for.

Plain decisions over numbers, kept apart from the job callbacks that act on them
(bot.job_callbacks) so they can be tested without a bot, a database or a trainer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from training.recipe import Mode


@dataclass(frozen=True)
class Trigger:
    """A retrain that starts by itself once `threshold` corrections arrived since the
    last run started; None means RETRAIN_AFTER_CORRECTIONS."""

    name: str
    threshold: int | None = None


CORRECTIONS = Trigger("corrections")  # after a correction, and the trainer's minutely look
INTERVAL = Trigger("interval", threshold=1)  # RETRAIN_INTERVAL_MINUTES: any correction
SCHEDULE = "schedule"  # RETRAIN_CRON: always runs; the retrainer finds if there is work


AUTOMATIC = frozenset({CORRECTIONS.name, INTERVAL.name, SCHEDULE})


def retries_a_rejection(trigger: str) -> bool:
    """Whether to run a batch already rejected on the same model with the same recipe: the
    retrain is seeded, so it would be rejected again. The nightly job would otherwise
    repeat it every night (tens of minutes in full mode); an admin's /retrain asked."""
    return trigger not in AUTOMATIC


def threshold_of(trigger: Trigger, retrain_after_corrections: int) -> int:
    """Corrections needed since the last run started."""
    return retrain_after_corrections if trigger.threshold is None else trigger.threshold


def worth_counting(threshold: int, running: bool) -> bool:
    """Whether to count the pending corrections at all: a threshold of 0 turns the
    trigger off, and a running retrain will take them (no query for nothing)."""
    return threshold > 0 and not running


def is_due(pending: int, threshold: int) -> bool:
    """Enough corrections arrived since the last run started."""
    return pending >= threshold


def counted_since(last_run_started_at: float | None) -> float:
    """Corrections count from the start of the last run (all of them before any run)."""
    return last_run_started_at if last_run_started_at is not None else 0.0


def starts_after_correction(runs_jobs: bool) -> bool:
    """A correction starts the check at once only where the jobs run; a replica leaves it
    to the trainer, which counts every minute."""
    return runs_jobs


def admin_mode(args: Sequence[str]) -> Mode:
    """/retrain full: a full retrain; anything else the focused fine-tune."""
    return "full" if [arg.lower() for arg in args] == ["full"] else "finetune"
