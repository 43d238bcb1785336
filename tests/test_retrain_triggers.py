"""When a retrain starts by itself, and which kind /retrain asks for."""

from __future__ import annotations

import pytest

from bot import retrain_triggers as triggers


def test_the_corrections_trigger_follows_the_setting_and_the_interval_needs_one():
    assert triggers.threshold_of(triggers.CORRECTIONS, 20) == 20
    assert triggers.threshold_of(triggers.CORRECTIONS, 0) == 0
    assert triggers.threshold_of(triggers.INTERVAL, 20) == 1
    assert triggers.threshold_of(triggers.INTERVAL, 0) == 1


def test_nothing_is_counted_when_off_or_while_a_retrain_runs():
    assert triggers.worth_counting(threshold=5, running=False)
    assert not triggers.worth_counting(threshold=5, running=True)
    assert not triggers.worth_counting(threshold=0, running=False)
    assert not triggers.worth_counting(threshold=-1, running=False)


@pytest.mark.parametrize(
    ("pending", "threshold", "due"),
    [(0, 1, False), (1, 1, True), (19, 20, False), (20, 20, True), (21, 20, True)],
)
def test_a_retrain_is_due_once_the_threshold_is_reached(pending: int, threshold: int, due: bool):
    assert triggers.is_due(pending, threshold) is due


def test_corrections_count_from_the_last_run_start_or_from_the_beginning():
    assert triggers.counted_since(None) == 0.0
    assert triggers.counted_since(1_700_000_000.5) == 1_700_000_000.5


def test_only_the_process_that_runs_the_jobs_starts_a_retrain_after_a_correction():
    assert triggers.starts_after_correction(runs_jobs=True)
    assert not triggers.starts_after_correction(runs_jobs=False)


@pytest.mark.parametrize(
    ("args", "mode"),
    [
        ([], "finetune"),
        (["full"], "full"),
        (["FULL"], "full"),
        (["full", "x"], "finetune"),
        (["quick"], "finetune"),
    ],
)
def test_retrain_full_asks_for_a_full_retrain_and_anything_else_a_fine_tune(
    args: list[str], mode: str
):
    assert triggers.admin_mode(args) == mode
