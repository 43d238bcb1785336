"""Everything the bot remembers: SQLite by default, PostgreSQL with ``DATABASE_URL``.

This package is the only place that speaks SQL, so the privacy rules (what text is kept,
what ``forget_user`` removes) and the durability rules (a write is committed before the
method returns) live in one place that can be read and tested on its own.

``Storage`` opens and closes the database and holds one repository per concern
(``storage.corrections``, ``.verdicts``, ``.mood``, ``.chats``, ``.inbox``, ``.runs``,
``.replicas``, ``.retention``). Each is a plain class given what it needs (the
``Database``, the clock, a repository it depends on), so what a caller touches is
explicit: a component that needs one concern is handed that repository, and a reader
sees each repository's state and dependencies in its constructor, not spread across
mixins that reach into each other's attributes.

    database.py      the engine per backend (connect, pragmas, transactions), migrations
    sqlite_thread.py aiosqlite with one trip to SQLite's thread per statement
    schema.py        the tables at the latest version; migrations/ the Alembic revisions
    errors.py        StorageError and what each backend's errors become
    rows.py          the dataclasses handed out
    group_commit.py  rows arriving together share one transaction
    cache.py         a group's settings and the opt-outs, kept in memory for CACHED_S
    correction_store.py  Corrections: corrections, admin reviews, the CSV export
    verdicts.py      Verdicts: replies' verdicts
    mood_store.py    MoodScores: a score per message
    chat_store.py    ChatSettingsStore: store_text, alerts, language, time zone
    inbox_store.py   UpdateInbox: received updates
    runs.py          TrainingRuns: training runs
    retention.py     Retention: /forget and pruning
    replica_store.py Replicas: liveness, the retrain lock, the served model version
    digest_store.py  Digests: digest subscriptions and their send-once claims
    dashboards.py    Dashboards: whether members may open a group's dashboard
    word_store.py    MoodWords: word statistics (words, never texts)
    mood_optouts.py  MoodOptOuts: who opted out of mood
    score_imports.py ScoreImports: imported history's scores, in batches, never with text
    store.py         Storage: opens the database, holds the repositories above
"""

from bot.storage.chat_store import ChatSettingsStore
from bot.storage.correction_store import Corrections
from bot.storage.database import DEFAULT_BUSY_TIMEOUT
from bot.storage.errors import (
    DatabaseBusy,
    DatabaseReadOnly,
    DatabaseUnavailable,
    StorageError,
)
from bot.storage.group_commit import GroupCommit
from bot.storage.inbox_store import UpdateInbox
from bot.storage.location import Location, parse_location
from bot.storage.mood_store import MoodScores
from bot.storage.replica_store import Replicas
from bot.storage.retention import Retention
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
from bot.storage.runs import TrainingRuns
from bot.storage.schema import SCHEMA_VERSION
from bot.storage.store import Storage
from bot.storage.verdicts import Verdicts
from training.trust import normalise as normalise_text  # the text key: one, for both layers

__all__ = [
    "DEFAULT_BUSY_TIMEOUT",
    "SCHEMA_VERSION",
    "ChatSettings",
    "ChatSettingsStore",
    "Correction",
    "CorrectionResult",
    "Corrections",
    "DatabaseBusy",
    "DatabaseReadOnly",
    "DatabaseUnavailable",
    "GroupCommit",
    "Location",
    "MoodScores",
    "Removed",
    "Replicas",
    "Retention",
    "ReviewDecision",
    "RunStatus",
    "ScoreRow",
    "ServedChoice",
    "Storage",
    "StorageError",
    "TrainingRun",
    "TrainingRuns",
    "UpdateInbox",
    "Verdict",
    "Verdicts",
    "normalise_text",
    "parse_location",
]
