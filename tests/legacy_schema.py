"""The schema steps exactly as the bot ran them before Alembic (``bot/storage.py`` up to
schema version 8): raw SQLite statements, with the version in ``PRAGMA user_version``.

Existing users have files made by these; the upgrade tests build such files to check
that today's bot stamps and upgrades them in place. Never edit: it is history.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

LEGACY_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: corrections people send with the inline buttons.
    (
        """
        CREATE TABLE corrections (
            id INTEGER PRIMARY KEY,
            text TEXT NOT NULL,
            text_key TEXT NOT NULL,
            predicted_label INTEGER NOT NULL CHECK (predicted_label IN (0, 1)),
            predicted_probability REAL NOT NULL
                CHECK (predicted_probability BETWEEN 0 AND 1),
            corrected_label INTEGER NOT NULL CHECK (corrected_label IN (0, 1)),
            user_id INTEGER NOT NULL,
            chat_id INTEGER NOT NULL,
            model_version TEXT NOT NULL,
            created_at REAL NOT NULL,
            consumed_by_version TEXT
        )
        """,
        "CREATE UNIQUE INDEX corrections_user_text ON corrections (user_id, text_key)",
        "CREATE INDEX corrections_pending ON corrections (id) WHERE consumed_by_version IS NULL",
    ),
    # 2: what each bot reply was about, so buttons still work after a restart.
    (
        """
        CREATE TABLE verdicts (
            id INTEGER PRIMARY KEY,
            chat_id INTEGER NOT NULL,
            message_id INTEGER NOT NULL,
            user_id INTEGER NOT NULL,
            text TEXT,
            predicted_label INTEGER NOT NULL CHECK (predicted_label IN (0, 1)),
            probability REAL NOT NULL CHECK (probability BETWEEN 0 AND 1),
            model_version TEXT NOT NULL,
            created_at REAL NOT NULL
        )
        """,
        "CREATE INDEX verdicts_user ON verdicts (user_id)",
        "CREATE INDEX verdicts_created ON verdicts (created_at)",
    ),
    # 3: group mood.
    (
        """
        CREATE TABLE mood_scores (
            id INTEGER PRIMARY KEY,
            chat_id INTEGER NOT NULL,
            user_id INTEGER NOT NULL,
            score REAL NOT NULL CHECK (score BETWEEN 0 AND 1),
            model_version TEXT NOT NULL,
            at REAL NOT NULL,
            text TEXT
        )
        """,
        "CREATE INDEX mood_scores_chat_at ON mood_scores (chat_id, at)",
        "CREATE INDEX mood_scores_user ON mood_scores (user_id)",
        """
        CREATE TABLE chat_settings (
            chat_id INTEGER PRIMARY KEY,
            store_text INTEGER NOT NULL DEFAULT 0 CHECK (store_text IN (0, 1)),
            alert_threshold REAL CHECK (alert_threshold BETWEEN 0 AND 1),
            alert_active INTEGER NOT NULL DEFAULT 0 CHECK (alert_active IN (0, 1))
        )
        """,
    ),
    # 4: retraining bookkeeping.
    (
        """
        CREATE TABLE training_runs (
            id INTEGER PRIMARY KEY,
            started_at REAL NOT NULL,
            finished_at REAL,
            status TEXT NOT NULL
                CHECK (status IN ('running', 'accepted', 'rejected', 'failed')),
            candidate_version TEXT,
            base_version TEXT,
            figures TEXT,
            message TEXT
        )
        """,
    ),
    # 5: the label a reply showed, and bot admins' decisions on contested corrections.
    (
        "ALTER TABLE verdicts ADD COLUMN shown_label INTEGER CHECK (shown_label IN (0, 1))",
        "CREATE INDEX corrections_text ON corrections (text_key)",
        """
        CREATE TABLE correction_reviews (
            text_key TEXT NOT NULL,
            label INTEGER NOT NULL CHECK (label IN (0, 1)),
            decision TEXT NOT NULL CHECK (decision IN ('approved', 'rejected')),
            admin_id INTEGER NOT NULL,
            decided_at REAL NOT NULL,
            PRIMARY KEY (text_key, label)
        )
        """,
    ),
    # 6: when a correction was learned.
    ("ALTER TABLE corrections ADD COLUMN consumed_at REAL",),
    # 7: the inbox, and group scores keyed by their message.
    (
        """
        CREATE TABLE inbox (
            update_id INTEGER PRIMARY KEY,
            payload TEXT,
            received_at REAL NOT NULL,
            done_at REAL
        )
        """,
        "CREATE INDEX inbox_pending ON inbox (update_id) WHERE done_at IS NULL",
        "ALTER TABLE mood_scores ADD COLUMN message_id INTEGER",
        "CREATE UNIQUE INDEX mood_scores_message ON mood_scores (chat_id, message_id) "
        "WHERE message_id IS NOT NULL",
    ),
    # 8: a group's own language and time zone.
    (
        "ALTER TABLE chat_settings ADD COLUMN language TEXT",
        "ALTER TABLE chat_settings ADD COLUMN timezone TEXT",
    ),
)


def write_legacy_file(path: Path, version: int) -> None:
    """A SQLite file as a bot of schema ``version`` (1 … 8) left it, with one correction."""
    with sqlite3.connect(path) as raw:
        for step in LEGACY_MIGRATIONS[:version]:
            for statement in step:
                raw.execute(statement)
        raw.execute(
            "INSERT INTO corrections (text, text_key, predicted_label, predicted_probability,"
            " corrected_label, user_id, chat_id, model_version, created_at)"
            " VALUES ('별로예요', '별로예요', 1, 0.6, 0, 1, 1, 'm0', 1.0)"
        )
        raw.execute(f"PRAGMA user_version = {int(version)}")
    raw.close()
