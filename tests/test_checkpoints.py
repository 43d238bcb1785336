"""Checkpoints of runs that will never resume are cleared; the current run's are kept."""

from __future__ import annotations

import os
import time
from pathlib import Path

from training.checkpoints import STALE_DAYS, MemberCheckpoints, prune_stale


def _run(parent: Path, key: str, age_days: float) -> Path:
    run = parent / key
    (run / "0.epochs").mkdir(parents=True)
    state = run / "0.epochs" / "state.json"
    state.write_text("{}")
    stamp = time.time() - age_days * 86400
    for path in (state, state.parent, run):
        os.utime(path, (stamp, stamp))
    return run


def test_only_other_runs_untouched_for_a_week_are_deleted(tmp_path: Path) -> None:
    stale = _run(tmp_path, "abandoned", STALE_DAYS + 1)
    recent = _run(tmp_path, "another-run-this-week", STALE_DAYS - 1)
    own = _run(tmp_path, "this-run", STALE_DAYS + 30)
    prune_stale(tmp_path, keep="this-run")
    assert not stale.exists()
    assert recent.is_dir() and own.is_dir()


def test_a_run_counts_as_touched_when_any_file_in_it_is(tmp_path: Path) -> None:
    run = _run(tmp_path, "old-folder-new-epoch", STALE_DAYS + 1)
    (run / "0.epochs" / "state.json").touch()  # an epoch just finished
    prune_stale(tmp_path, keep="this-run")
    assert run.is_dir()


def test_no_checkpoint_folder_yet_is_fine(tmp_path: Path) -> None:
    prune_stale(tmp_path / "checkpoints", keep="this-run")
    assert not (tmp_path / "checkpoints").exists()


def test_each_members_epochs_are_kept_beside_it(tmp_path: Path) -> None:
    checkpoints = MemberCheckpoints(tmp_path)
    assert checkpoints.epoch_backup(1) == tmp_path / "1.epochs"
    assert checkpoints.epoch_backup(0) != tmp_path / "0"  # not the finished member's folder
