"""Finished members of an interrupted training run, kept so that the next run resumes after
them instead of starting again: `make train` trains four members for most of an hour, and a
laptop lid, a reboot or Ctrl-C should cost at most the member that was training. Within a
member, training.epoch_backup keeps its last finished epoch, in `epoch_backup(index)`.

A run is identified by everything that decides its result (`run_key`): the recipe, the data
(NSMC's hash and every extra row), the epochs, seed and split. A changed input is a new run,
so a stale member is never reused.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nlp.artifacts import ModelLoadError, write_model_dir
from nlp.ensemble import Member, load_member

DONE = "done.json"
STALE_DAYS = 7  # a run not resumed within a week is not coming back (its inputs moved on)


def run_key(
    parts: dict[str, Any], extra_texts: Sequence[str], extra_labels: Sequence[float]
) -> str:
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode())
    for text, label in zip(extra_texts, extra_labels, strict=True):
        digest.update(f"{label}\t{text}\n".encode())
    return digest.hexdigest()[:24]


class MemberCheckpoints:
    """`root/<index>/`: a complete member directory plus `done.json` (its history), written
    last, so a member killed while being saved is trained again rather than half-loaded."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def load(self, index: int, version: str) -> tuple[Member, dict[str, list[float]]] | None:
        if not (self.root / str(index) / DONE).is_file():
            return None
        directory = self.root / str(index)
        try:
            history = json.loads((directory / DONE).read_text(encoding="utf-8"))
            return load_member(directory, version), history
        except (ModelLoadError, ValueError, OSError):
            shutil.rmtree(directory, ignore_errors=True)
            return None

    def save(self, index: int, member: Member, history: dict[str, list[float]]) -> None:
        directory = self.root / str(index)
        shutil.rmtree(directory, ignore_errors=True)
        write_model_dir(directory, member.config, member.vocabulary, member.weights, {})
        (directory / DONE).write_text(json.dumps(history), encoding="utf-8")
        shutil.rmtree(self.epoch_backup(index), ignore_errors=True)

    def epoch_backup(self, index: int) -> Path:
        """Where member `index`'s last finished epoch is kept while it trains."""
        return self.root / f"{index}.epochs"

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def prune_stale(parent: Path, keep: str, days: float = STALE_DAYS) -> None:
    """Deletes other runs' checkpoints untouched for `days`: a retrain stopped while the
    corrections changed has a run key no later run will match, and its members and epochs
    (tens of MB each) would otherwise stay in the cache for good."""
    if not parent.is_dir():
        return
    cutoff = time.time() - days * 86400
    for run in parent.iterdir():
        if run.name != keep and _last_touched(run) < cutoff:
            shutil.rmtree(run, ignore_errors=True)


def _last_touched(path: Path) -> float:
    try:
        return max(item.stat().st_mtime for item in (path, *path.rglob("*")))
    except OSError:
        return time.time()  # being written or removed right now: leave it
