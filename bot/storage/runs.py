"""Retraining bookkeeping: one row per run, from start to its outcome."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from bot.storage.base import Clock
from bot.storage.database import Database
from bot.storage.rows import RunStatus, TrainingRun
from bot.storage.schema import training_runs


class TrainingRuns:
    """The training runs repository."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def start_run(
        self, *, base_version: str | None, candidate_version: str | None = None
    ) -> int:
        async with self._db.write() as db:
            run_id = (
                await db.execute(
                    sa.insert(training_runs)
                    .values(
                        started_at=self._clock(),
                        status=RunStatus.RUNNING.value,
                        candidate_version=candidate_version,
                        base_version=base_version,
                    )
                    .returning(training_runs.c.id)
                )
            ).scalar_one()
        return int(run_id)

    async def finish_run(
        self,
        run_id: int,
        status: RunStatus,
        *,
        candidate_version: str | None = None,
        figures: Mapping[str, Any] | None = None,
        message: str | None = None,
    ) -> None:
        """Close a running run; raises ValueError if it is unknown or already closed."""
        status = RunStatus(status)
        if status is RunStatus.RUNNING:
            raise ValueError("a run is finished as accepted, rejected or failed")
        figures_json = None if figures is None else json.dumps(figures, ensure_ascii=False)
        async with self._db.write() as db:
            result = await db.execute(
                sa.update(training_runs)
                .where(
                    training_runs.c.id == run_id,
                    training_runs.c.status == RunStatus.RUNNING.value,
                )
                .values(
                    finished_at=self._clock(),
                    status=status.value,
                    candidate_version=sa.func.coalesce(
                        sa.literal(candidate_version, sa.Text), training_runs.c.candidate_version
                    ),
                    figures=figures_json,
                    message=message,
                )
            )
            changed = result.rowcount
        if changed == 0:
            raise ValueError(f"no running training run with id {run_id}")

    async def fail_stale_runs(self, message: str = "the bot stopped during the run") -> int:
        """Close runs left 'running' by a bot that died mid-run; called at start-up, when
        no run of this process can be under way."""
        async with self._db.write() as db:
            result = await db.execute(
                sa.update(training_runs)
                .where(training_runs.c.status == RunStatus.RUNNING.value)
                .values(finished_at=self._clock(), status=RunStatus.FAILED.value, message=message)
            )
            return result.rowcount

    async def run_counts(self) -> dict[str, int]:
        """How many runs ended (or are running) in each status."""
        rows = await self._db.fetch(
            sa.select(training_runs.c.status, sa.func.count()).group_by(training_runs.c.status)
        )
        return {str(status): int(count) for status, count in rows}

    async def runs(self, limit: int = 10) -> list[TrainingRun]:
        """The latest runs, newest first."""
        rows = await self._db.fetch(
            sa.select(
                training_runs.c.id,
                training_runs.c.started_at,
                training_runs.c.finished_at,
                training_runs.c.status,
                training_runs.c.candidate_version,
                training_runs.c.base_version,
                training_runs.c.figures,
                training_runs.c.message,
            )
            .order_by(training_runs.c.started_at.desc(), training_runs.c.id.desc())
            .limit(limit)
        )
        return [_training_run(row) for row in rows]


def _training_run(row: sa.Row[Any]) -> TrainingRun:
    run_id, started, finished, status, candidate, base, figures, message = row
    return TrainingRun(
        id=run_id,
        started_at=started,
        finished_at=finished,
        status=RunStatus(status),
        candidate_version=candidate,
        base_version=base,
        figures=None if figures is None else json.loads(figures),
        message=message,
    )
