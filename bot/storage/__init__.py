"""Everything the bot remembers: SQLite by default, PostgreSQL with ``DATABASE_URL``.

This package is the only place that speaks SQL, so the privacy rules (what text is kept,
what ``forget_user`` removes) and the durability rules (a write is committed before the
method returns) live in one place that can be read and tested on its own.

    database.py      the engine per backend (connect, pragmas, transactions), migrations
    schema.py        the tables at the latest version; migrations/ the Alembic revisions
    errors.py        StorageError and what each backend's errors become
    rows.py          the dataclasses handed out
    group_commit.py  rows arriving together share one transaction
    corrections.py   corrections and admin reviews    verdicts.py   replies' verdicts
    groups.py        mood scores and chat settings    inbox.py      received updates
    runs.py          training runs                    retention.py  /forget and pruning
    replicas.py      the cross-process retrain lock and the served model version
    score_imports.py imported history's scores, in batches, never with text
    store.py         Storage, made of the stores above
"""

from bot.storage.database import DEFAULT_BUSY_TIMEOUT
from bot.storage.errors import (
    DatabaseBusy,
    DatabaseReadOnly,
    DatabaseUnavailable,
    StorageError,
)
from bot.storage.group_commit import GroupCommit
from bot.storage.location import Location, parse_location
from bot.storage.rows import (
    ChatSettings,
    Correction,
    CorrectionResult,
    Removed,
    ReviewDecision,
    RunStatus,
    ScoreRow,
    ServedChoice,
    TrainingRun,
    Verdict,
)
from bot.storage.schema import SCHEMA_VERSION
from bot.storage.store import Storage
from training.trust import normalise as normalise_text  # the text key: one, for both layers

__all__ = [
    "DEFAULT_BUSY_TIMEOUT",
    "SCHEMA_VERSION",
    "ChatSettings",
    "Correction",
    "CorrectionResult",
    "DatabaseBusy",
    "DatabaseReadOnly",
    "DatabaseUnavailable",
    "GroupCommit",
    "Location",
    "Removed",
    "ReviewDecision",
    "RunStatus",
    "ScoreRow",
    "ServedChoice",
    "Storage",
    "StorageError",
    "TrainingRun",
    "Verdict",
    "normalise_text",
    "parse_location",
]
