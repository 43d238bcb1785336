"""The tables as they are at the latest revision, for both SQLite and PostgreSQL.

The history that leads here is in ``migrations/versions`` (one Alembic revision per
schema version, ``0001`` … ``0013``); this file is what queries are written against.
A change is a new revision *and* an edit here; ``tests/test_storage.py`` checks that
the two agree on both backends.

Types are chosen to mean the same on both: ``INTEGER`` on SQLite (64-bit there, and an
``INTEGER PRIMARY KEY`` is the rowid) is ``BIGINT`` on PostgreSQL, since Telegram ids and
the random verdict ids do not fit 32 bits; ``REAL`` (a double on SQLite) is ``DOUBLE
PRECISION``. Flags stay integers 0/1 with a CHECK, as the SQLite files have always had.
Times are epoch seconds (floats), as before.
"""

from __future__ import annotations

import sqlalchemy as sa

SCHEMA_VERSION = 15  # the head revision, "0015"

INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
FLOAT: sa.types.TypeEngine[float] = sa.Double().with_variant(sa.REAL(), "sqlite")
TEXT = sa.Text()
FLAG = sa.Integer()

metadata = sa.MetaData()


def _label(name: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(f"{name} IN (0, 1)")


def _unit(name: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(f"{name} BETWEEN 0 AND 1")


corrections = sa.Table(
    "corrections",
    metadata,
    sa.Column("id", INT, primary_key=True),
    sa.Column("text", TEXT, nullable=False),
    sa.Column("text_key", TEXT, nullable=False),
    sa.Column("predicted_label", FLAG, _label("predicted_label"), nullable=False),
    sa.Column("predicted_probability", FLOAT, _unit("predicted_probability"), nullable=False),
    sa.Column("corrected_label", FLAG, _label("corrected_label"), nullable=False),
    sa.Column("user_id", INT, nullable=False),
    sa.Column("chat_id", INT, nullable=False),
    sa.Column("model_version", TEXT, nullable=False),
    sa.Column("created_at", FLOAT, nullable=False),
    sa.Column("consumed_by_version", TEXT),
    sa.Column("consumed_at", FLOAT),  # 6
    # 12: the member whose message was corrected, when not the corrector (their /forget
    # removes it); None for a person's own text.
    sa.Column("author_id", INT),
    sa.Index("corrections_user_text", "user_id", "text_key", unique=True),
    sa.Index(
        "corrections_pending",
        "id",
        sqlite_where=sa.text("consumed_by_version IS NULL"),
        postgresql_where=sa.text("consumed_by_version IS NULL"),
    ),
    sa.Index("corrections_text", "text_key"),  # 5
    sa.Index("corrections_author", "author_id"),  # 12
)

verdicts = sa.Table(
    "verdicts",
    metadata,
    sa.Column("id", INT, primary_key=True, autoincrement=False),  # random, see remember_verdict
    sa.Column("chat_id", INT, nullable=False),
    sa.Column("message_id", INT, nullable=False),
    sa.Column("user_id", INT, nullable=False),
    sa.Column("text", TEXT),
    sa.Column("predicted_label", FLAG, _label("predicted_label"), nullable=False),
    sa.Column("probability", FLOAT, _unit("probability"), nullable=False),
    sa.Column("model_version", TEXT, nullable=False),
    sa.Column("created_at", FLOAT, nullable=False),
    sa.Column("shown_label", FLAG, _label("shown_label")),  # 5
    sa.Index("verdicts_user", "user_id"),
    sa.Index("verdicts_created", "created_at"),
)

mood_scores = sa.Table(
    "mood_scores",
    metadata,
    sa.Column("id", INT, primary_key=True),
    sa.Column("chat_id", INT, nullable=False),
    sa.Column("user_id", INT, nullable=False),
    sa.Column("score", FLOAT, _unit("score"), nullable=False),
    sa.Column("model_version", TEXT, nullable=False),
    sa.Column("at", FLOAT, nullable=False),
    sa.Column("text", TEXT),
    sa.Column("message_id", INT),  # 7
    sa.Index("mood_scores_chat_at", "chat_id", "at"),
    sa.Index("mood_scores_user", "user_id"),
    sa.Index(
        "mood_scores_message",
        "chat_id",
        "message_id",
        unique=True,
        sqlite_where=sa.text("message_id IS NOT NULL"),
        postgresql_where=sa.text("message_id IS NOT NULL"),
    ),
)

chat_settings = sa.Table(
    "chat_settings",
    metadata,
    sa.Column("chat_id", INT, primary_key=True, autoincrement=False),
    sa.Column(
        "store_text", FLAG, _label("store_text"), nullable=False, server_default=sa.text("0")
    ),
    sa.Column("alert_threshold", FLOAT, _unit("alert_threshold")),
    sa.Column(
        "alert_active", FLAG, _label("alert_active"), nullable=False, server_default=sa.text("0")
    ),
    sa.Column("language", TEXT),  # 8
    sa.Column("timezone", TEXT),  # 8
)

training_runs = sa.Table(
    "training_runs",
    metadata,
    sa.Column("id", INT, primary_key=True),
    sa.Column("started_at", FLOAT, nullable=False),
    sa.Column("finished_at", FLOAT),
    sa.Column(
        "status",
        TEXT,
        sa.CheckConstraint("status IN ('running', 'accepted', 'rejected', 'failed')"),
        nullable=False,
    ),
    sa.Column("candidate_version", TEXT),
    sa.Column("base_version", TEXT),
    sa.Column("figures", TEXT),
    sa.Column("message", TEXT),
)

correction_reviews = sa.Table(
    "correction_reviews",
    metadata,
    sa.Column("text_key", TEXT, primary_key=True),
    sa.Column("label", FLAG, _label("label"), primary_key=True, autoincrement=False),
    sa.Column(
        "decision",
        TEXT,
        sa.CheckConstraint("decision IN ('approved', 'rejected')"),
        nullable=False,
    ),
    sa.Column("admin_id", INT, nullable=False),
    sa.Column("decided_at", FLOAT, nullable=False),
)

inbox = sa.Table(
    "inbox",
    metadata,
    sa.Column("update_id", INT, primary_key=True, autoincrement=False),
    sa.Column("payload", TEXT),
    sa.Column("received_at", FLOAT, nullable=False),
    sa.Column("done_at", FLOAT),
    sa.Column("owner", TEXT),  # 10: the process that received it (Storage.process_id)
    sa.Index(
        "inbox_pending",
        "update_id",
        sqlite_where=sa.text("done_at IS NULL"),
        postgresql_where=sa.text("done_at IS NULL"),
    ),
)

served_model = sa.Table(  # 9: one row, the version every process should serve
    "served_model",
    metadata,
    sa.Column(
        "id", sa.Integer(), sa.CheckConstraint("id = 1"), primary_key=True, autoincrement=False
    ),
    sa.Column("version", TEXT, nullable=False),
    sa.Column("changed_at", FLOAT, nullable=False),
    sa.Column("generation", INT, nullable=False, server_default="1"),  # 11: raised by each change
)

process_leases = sa.Table(  # 12: each live process renews its row (PostgreSQL replicas)
    "process_leases",
    metadata,
    sa.Column("process_id", TEXT, primary_key=True),
    sa.Column("renewed_at", FLOAT, nullable=False),  # the database server's clock
)

dashboard_access = sa.Table(  # 13: a group's dashboard open to its members (/dashboard members)
    "dashboard_access",
    metadata,
    sa.Column("chat_id", INT, primary_key=True, autoincrement=False),
    sa.Column(
        "members_allowed",
        FLAG,
        _label("members_allowed"),
        nullable=False,
        server_default=sa.text("0"),
    ),
    sa.Column("changed_at", FLOAT, nullable=False),
)

digest_subscriptions = sa.Table(  # 14: the groups whose admins asked for a digest
    "digest_subscriptions",
    metadata,
    sa.Column("chat_id", INT, primary_key=True, autoincrement=False),
    sa.Column("period", TEXT, sa.CheckConstraint("period IN ('daily', 'weekly')"), nullable=False),
    sa.Column("hour", sa.Integer(), sa.CheckConstraint("hour BETWEEN 0 AND 23"), nullable=False),
    sa.Column("since", FLOAT, nullable=False),  # no digest for a period that ended before
)

digest_claims = sa.Table(  # 14: one row per (chat, period) a process took on to send
    "digest_claims",
    metadata,
    sa.Column("chat_id", INT, primary_key=True, autoincrement=False),
    sa.Column("period_end", FLOAT, primary_key=True),
    sa.Column("owner", TEXT, nullable=False),  # Storage.process_id of the claimer
    sa.Column("claimed_at", FLOAT, nullable=False),
    sa.Column("sent_at", FLOAT),  # None: claimed, not yet sent (re-claimable after the lease)
)

mood_words = sa.Table(  # 15: words that moved the mood, per member and UTC hour; no texts
    "mood_words",
    metadata,
    sa.Column("chat_id", INT, primary_key=True, autoincrement=False),
    sa.Column("hour", FLOAT, primary_key=True),  # epoch seconds of the hour's start
    sa.Column("word", TEXT, primary_key=True),
    sa.Column("user_id", INT, primary_key=True, autoincrement=False),
    sa.Column("effect", FLOAT, nullable=False),  # summed change of P(positive)
    sa.Column("uses", INT, nullable=False),
    sa.Index("mood_words_user", "user_id"),  # /forget, /optout
    sa.Index("mood_words_hour", "hour"),  # retention
)

mood_optouts = sa.Table(  # 15: members whose messages are not read for mood, in any group
    "mood_optouts",
    metadata,
    sa.Column("user_id", INT, primary_key=True, autoincrement=False),
    sa.Column("since", FLOAT, nullable=False),
)
