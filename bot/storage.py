"""Everything the bot remembers, in one SQLite file reached through aiosqlite.

This is the only module that speaks SQL, so the privacy rules (what text is kept, what
``forget_user`` removes) and the durability rules (a write is committed before the
method returns) live in one place that can be read and tested on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import os
import secrets
import sqlite3
import time
import unicodedata
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, Literal, Self, TypeVar

import aiosqlite

DEFAULT_BUSY_TIMEOUT = 5.0
_VERDICT_ID_BITS = 62  # fits a signed SQLite INTEGER and 19 digits of callback_data
_VERDICT_ID_ATTEMPTS = 5

Clock = Callable[[], float]
Row = TypeVar("Row")
Result = TypeVar("Result")


# --- errors ---------------------------------------------------------------------------


class StorageError(Exception):
    """A database failure whose message can be shown to a user (after translation)."""

    default_message = "The database could not complete the request."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)


class DatabaseBusy(StorageError):
    """Another process held the write lock for longer than the busy timeout."""

    default_message = "The database is busy right now. Please try again in a moment."


class DatabaseReadOnly(StorageError):
    """The file (or the connection) cannot be written, so nothing can be saved."""

    default_message = "The database is read-only, so nothing can be saved right now."


_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_READONLY = 8


def _translate(error: sqlite3.Error) -> StorageError:
    # Extended result codes (e.g. SQLITE_READONLY_DBMOVED) keep the primary code in the
    # low byte, so mask before comparing.
    code = getattr(error, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if primary in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return DatabaseBusy()
    if primary == _SQLITE_READONLY:
        return DatabaseReadOnly()
    return StorageError()


@contextlib.contextmanager
def _translated_errors() -> Iterator[None]:
    """Callers catch StorageError only; the sqlite3 error stays attached as the cause."""
    try:
        yield
    except sqlite3.Error as error:
        raise _translate(error) from error


# --- schema ---------------------------------------------------------------------------

# PRAGMA user_version holds the number of steps applied. Opening a file applies the missing
# steps in order, all in one transaction, so a failed upgrade leaves the file as it was.
# Never edit a released step: append a new one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
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
    # 5: the label a reply showed (a correction may override the model's), and bot admins'
    # decisions on contested corrections (see bot.overlay and training.corrections).
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
    # 6: when a correction was learned, so it can be kept for the retention period after.
    ("ALTER TABLE corrections ADD COLUMN consumed_at REAL",),
    # 7: updates received but not yet handled (bot.inbox), and group scores keyed by their
    # message, so an update handled twice (a replay, a second delivery) counts once.
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
    # 8: a group's own language and time zone (NULL: the bot's defaults).
    (
        "ALTER TABLE chat_settings ADD COLUMN language TEXT",
        "ALTER TABLE chat_settings ADD COLUMN timezone TEXT",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


# --- rows -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Correction:
    id: int
    text: str
    predicted_label: int
    predicted_probability: float
    corrected_label: int
    user_id: int
    chat_id: int
    model_version: str
    created_at: float
    consumed_by_version: str | None


@dataclass(frozen=True, slots=True)
class CorrectionResult:
    id: int
    created: bool  # False when the same user had already corrected the same text


@dataclass(frozen=True, slots=True)
class Verdict:
    id: int
    chat_id: int
    message_id: int
    user_id: int
    text: str | None
    predicted_label: int
    probability: float
    model_version: str
    created_at: float
    shown_label: int | None = None  # None: the model's label was shown

    @property
    def label_shown(self) -> int:
        return self.predicted_label if self.shown_label is None else self.shown_label


@dataclass(frozen=True, slots=True)
class ReviewDecision:
    text_key: str
    label: int
    decision: str  # "approved" or "rejected"
    admin_id: int
    decided_at: float


@dataclass(frozen=True, slots=True)
class ScoreRow:
    chat_id: int
    user_id: int
    score: float
    model_version: str
    at: float
    text: str | None


@dataclass(frozen=True, slots=True)
class ChatSettings:
    chat_id: int
    store_text: bool = False
    alert_threshold: float | None = None
    alert_active: bool = False
    language: str | None = None  # None: the bot's default (Korean)
    timezone: str | None = None  # an IANA name; None: the TIMEZONE setting


@dataclass(frozen=True, slots=True)
class Removed:
    """How many rows a deletion removed, so the bot can tell the user what went."""

    corrections: int = 0
    verdicts: int = 0
    scores: int = 0


class RunStatus(StrEnum):
    RUNNING = "running"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class TrainingRun:
    id: int
    started_at: float
    finished_at: float | None
    status: RunStatus
    candidate_version: str | None
    base_version: str | None
    figures: dict[str, Any] | None
    message: str | None


def normalise_text(text: str) -> str:
    """The key that makes "좋아요 " and " 좋아요" one correction.

    NFC as well as whitespace, because some clients send decomposed Hangul (jamo) that
    looks identical on screen.
    """
    return " ".join(unicodedata.normalize("NFC", text).split())


_CSV_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_CSV_COLUMNS = (
    "id",
    "created_at_utc",
    "user_id",
    "chat_id",
    "text",
    "predicted_label",
    "predicted_probability",
    "corrected_label",
    "model_version",
    "consumed_by_version",
)


def _csv_cell(value: object) -> object:
    # Excel runs a cell that starts with "=" as a formula; user text must stay text.
    if isinstance(value, str) and value.startswith(_CSV_FORMULA_PREFIXES):
        return "'" + value
    return value


def _check_label(name: str, value: int) -> None:
    if value not in (0, 1):
        raise ValueError(f"{name} must be 0 or 1, not {value!r}")


def _check_probability(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be within [0, 1], not {value!r}")


# --- group commit ---------------------------------------------------------------------


class GroupCommit(Generic[Row, Result]):
    """Rows submitted while a commit is running go together in the next one.

    A reply waits for its verdict to be durable, and with ``synchronous=FULL`` that is an
    fsync per transaction; under load one transaction per message would queue the
    replies behind the disk and the event loop. Batching keeps the rule (each caller
    returns only once its own row is committed, or gets the batch's error) at one
    transaction per batch.
    """

    def __init__(self, commit: Callable[[list[Row]], Awaitable[list[Result]]]) -> None:
        self._commit = commit
        self._pending: list[tuple[Row, asyncio.Future[Result]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, row: Row) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append((row, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="group-commit")
        return await future

    async def drain(self) -> None:
        """Wait for every submitted row to be committed (before closing the database)."""
        if self._flusher is not None:
            await self._flusher

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                results = await self._commit([row for row, _ in batch])
            except BaseException as error:
                for _, future in batch:
                    if future.done():
                        continue
                    if isinstance(error, Exception):
                        future.set_exception(error)
                    else:
                        future.cancel()
                if not isinstance(error, Exception):
                    raise
            else:
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)


# --- the store ------------------------------------------------------------------------


class Storage:
    """One connection, serialised by a lock so one coroutine's transaction never
    swallows another's statements.

    Every write runs in ``BEGIN IMMEDIATE`` … ``COMMIT`` before the method returns, with
    ``synchronous=FULL`` in WAL mode, so a write the bot has acknowledged survives a crash
    or power cut. ``BEGIN IMMEDIATE`` takes the write lock up front, which makes waiting
    for another writer obey ``busy_timeout`` instead of failing mid-transaction.
    """

    def __init__(self, db: aiosqlite.Connection, *, read_only: bool, clock: Clock) -> None:
        self._db = db
        self._read_only = read_only
        self._clock = clock
        self._lock = asyncio.Lock()
        self._verdicts = GroupCommit(self._insert_verdicts)
        self._received = GroupCommit(self._insert_received)
        self._handled = GroupCommit(self._mark_handled)

    # lifecycle

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        read_only: bool = False,
        clock: Clock = time.time,
    ) -> Self:
        """Open (creating and upgrading if needed) the database at ``path``.

        ``read_only`` is for tools that only look (exports, a copy of a live file); such
        a connection never upgrades the schema and refuses a file that needs it.
        """
        with _translated_errors():
            db = await _connect(path, busy_timeout=busy_timeout, read_only=read_only)
        storage = cls(db, read_only=read_only, clock=clock)
        try:
            await storage._prepare()
        except BaseException:
            await db.close()
            raise
        return storage

    async def close(self) -> None:
        for pending in (self._verdicts, self._received, self._handled):
            await pending.drain()
        await self._db.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def schema_version(self) -> int:
        rows = await self._fetch("PRAGMA user_version")
        return int(rows[0][0])

    async def _prepare(self) -> None:
        with _translated_errors():
            await self._db.execute("PRAGMA foreign_keys = ON")
            if not self._read_only:
                await self._db.execute("PRAGMA journal_mode = WAL")
                await self._db.execute("PRAGMA synchronous = FULL")
        version = await self.schema_version()
        if version > SCHEMA_VERSION:
            raise StorageError(
                "The database was written by a newer version of the bot; "
                "please update the bot before using it."
            )
        if version < SCHEMA_VERSION:
            if self._read_only:
                raise DatabaseReadOnly("The database needs upgrading, but it was opened read-only.")
            await self._migrate()

    async def _migrate(self) -> None:
        async with self._write() as db:
            # Re-read inside the write lock: another process may have migrated meanwhile.
            async with db.execute("PRAGMA user_version") as cursor:
                row = await cursor.fetchone()
            current = int(row[0]) if row else 0
            for version in range(current, SCHEMA_VERSION):
                for statement in MIGRATIONS[version]:
                    await db.execute(statement)
            # PRAGMA values cannot be bound; this is an int from our own constant.
            await db.execute(f"PRAGMA user_version = {int(SCHEMA_VERSION)}")

    # plumbing

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            with _translated_errors():
                await self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                    await self._db.execute("COMMIT")
                except BaseException:
                    if self._db.in_transaction:
                        await self._db.execute("ROLLBACK")
                    raise

    async def _fetch(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        async with self._lock:
            with _translated_errors():
                async with self._db.execute(sql, parameters) as cursor:
                    return list(await cursor.fetchall())

    # corrections

    async def add_correction(
        self,
        *,
        text: str,
        predicted_label: int,
        predicted_probability: float,
        corrected_label: int,
        user_id: int,
        chat_id: int,
        model_version: str,
    ) -> CorrectionResult:
        """Save what a user says the label should be; once per user and text.

        A repeat updates the label and time. If the label changed, the row becomes
        pending again, since no retrain has seen the new label yet.
        """
        _check_label("predicted_label", predicted_label)
        _check_label("corrected_label", corrected_label)
        _check_probability("predicted_probability", predicted_probability)
        key = normalise_text(text)
        if not key:
            raise ValueError("cannot store a correction for empty text")
        now = self._clock()
        async with self._write() as db:
            async with db.execute(
                "SELECT id FROM corrections WHERE user_id = ? AND text_key = ?",
                (user_id, key),
            ) as cursor:
                existing = await cursor.fetchone()
            if existing is None:
                cursor = await db.execute(
                    """
                    INSERT INTO corrections (text, text_key, predicted_label,
                        predicted_probability, corrected_label, user_id, chat_id,
                        model_version, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                    (
                        text,
                        key,
                        predicted_label,
                        predicted_probability,
                        corrected_label,
                        user_id,
                        chat_id,
                        model_version,
                        now,
                    ),
                )
                row_id = cursor.lastrowid
                await cursor.close()
                assert row_id is not None
                return CorrectionResult(id=row_id, created=True)
            await db.execute(
                """
                UPDATE corrections
                SET consumed_by_version = CASE WHEN corrected_label = ?
                        THEN consumed_by_version ELSE NULL END,
                    corrected_label = ?, created_at = ?, text = ?, chat_id = ?,
                    predicted_label = ?, predicted_probability = ?, model_version = ?
                WHERE id = ?
                """,
                (
                    corrected_label,
                    corrected_label,
                    now,
                    text,
                    chat_id,
                    predicted_label,
                    predicted_probability,
                    model_version,
                    existing[0],
                ),
            )
            return CorrectionResult(id=int(existing[0]), created=False)

    async def pending_corrections(self) -> list[Correction]:
        rows = await self._fetch(
            f"SELECT {_CORRECTION_FIELDS} FROM corrections "
            "WHERE consumed_by_version IS NULL ORDER BY id"
        )
        return [Correction(*row) for row in rows]

    async def all_corrections(self) -> list[Correction]:
        rows = await self._fetch(f"SELECT {_CORRECTION_FIELDS} FROM corrections ORDER BY id")
        return [Correction(*row) for row in rows]

    async def count_pending(self, since: float | None = None) -> int:
        """Corrections no model has learned yet (made after `since`, if given)."""
        rows = await self._fetch(
            "SELECT count(*) FROM corrections WHERE consumed_by_version IS NULL AND created_at > ?",
            (float("-inf") if since is None else since,),
        )
        return int(rows[0][0])

    async def mark_consumed(self, ids: Iterable[int], version: str) -> int:
        """Record which model version learned from these rows; returns how many changed.

        Rows already consumed keep the version that first used them.
        """
        params = [(version, row_id) for row_id in ids]
        if not params:
            return 0
        async with self._write() as db:
            cursor = await db.executemany(
                "UPDATE corrections SET consumed_by_version = ?, consumed_at = ? "
                "WHERE id = ? AND consumed_by_version IS NULL",
                [(version, self._clock(), row_id) for _, row_id in params],
            )
            changed = cursor.rowcount
            await cursor.close()
        return changed

    async def get_correction(self, correction_id: int) -> Correction | None:
        rows = await self._fetch(
            f"SELECT {_CORRECTION_FIELDS} FROM corrections WHERE id = ?", (correction_id,)
        )
        return Correction(*rows[0]) if rows else None

    async def votes(self) -> list[tuple[str, int, int]]:
        """(text key, user id, label) of every correction: what the overlay is built from."""
        rows = await self._fetch("SELECT text_key, user_id, corrected_label FROM corrections")
        return [(key, int(user), int(label)) for key, user, label in rows]

    async def review(self, text: str, label: int, decision: str, admin_id: int) -> None:
        """A bot admin's decision on a label for a text; a later decision replaces it."""
        _check_label("label", label)
        if decision not in ("approved", "rejected"):
            raise ValueError(f"decision must be approved or rejected, not {decision!r}")
        async with self._write() as db:
            await db.execute(
                "INSERT INTO correction_reviews (text_key, label, decision, admin_id, decided_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (text_key, label) DO UPDATE SET "
                "decision = excluded.decision, admin_id = excluded.admin_id, "
                "decided_at = excluded.decided_at",
                (normalise_text(text), label, decision, admin_id, self._clock()),
            )

    async def reviews(self) -> list[ReviewDecision]:
        rows = await self._fetch(
            "SELECT text_key, label, decision, admin_id, decided_at FROM correction_reviews"
        )
        return [ReviewDecision(*row) for row in rows]

    async def corrections_csv(self) -> bytes:
        """All corrections as CSV in UTF-8 with a BOM, which Excel needs to show Hangul."""
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(_CSV_COLUMNS)
        for c in await self.all_corrections():
            created = datetime.fromtimestamp(c.created_at, UTC).isoformat(timespec="seconds")
            writer.writerow(
                _csv_cell(value)
                for value in (
                    c.id,
                    created,
                    c.user_id,
                    c.chat_id,
                    c.text,
                    c.predicted_label,
                    c.predicted_probability,
                    c.corrected_label,
                    c.model_version,
                    c.consumed_by_version or "",
                )
            )
        return buffer.getvalue().encode("utf-8-sig")

    # verdicts

    async def remember_verdict(
        self,
        *,
        chat_id: int,
        message_id: int,
        text: str | None,
        predicted_label: int,
        probability: float,
        model_version: str,
        user_id: int,
        shown_label: int | None = None,
    ) -> int:
        """Keep what a reply judged; returns the id to put in the buttons' callback_data.

        ``message_id`` is the user's message the verdict answers (known before the reply
        is sent, which is when the buttons need the id). Ids are random, not sequential,
        so a forged callback cannot walk through other people's verdicts; callers should
        still check the callback's chat against ``Verdict.chat_id``.
        """
        _check_label("predicted_label", predicted_label)
        _check_probability("probability", probability)
        if shown_label is not None:
            _check_label("shown_label", shown_label)
        row = (chat_id, message_id, user_id, text, predicted_label, probability, model_version)
        return await self._verdicts.submit((*row, self._clock(), shown_label))

    async def _insert_verdicts(self, rows: list[tuple[Any, ...]]) -> list[int]:
        """One transaction for a batch of verdicts; a (62-bit, so vanishingly rare) id
        collision rolls the batch back and retries it with fresh ids."""
        for _ in range(_VERDICT_ID_ATTEMPTS):
            ids = [secrets.randbits(_VERDICT_ID_BITS) for _ in rows]
            try:
                async with self._write() as db:
                    await db.executemany(
                        """
                        INSERT INTO verdicts (id, chat_id, message_id, user_id, text,
                            predicted_label, probability, model_version, created_at,
                            shown_label)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                        [(verdict_id, *row) for verdict_id, row in zip(ids, rows)],
                    )
            except StorageError as error:
                if isinstance(error.__cause__, sqlite3.IntegrityError):
                    continue
                raise
            return ids
        raise StorageError()

    async def get_verdict(self, verdict_id: int) -> Verdict | None:
        rows = await self._fetch(
            """
            SELECT id, chat_id, message_id, user_id, text, predicted_label, probability,
                model_version, created_at, shown_label
            FROM verdicts WHERE id = ?
            """,
            (verdict_id,),
        )
        return Verdict(*rows[0]) if rows else None

    # group mood

    async def add_score(
        self,
        chat_id: int,
        user_id: int,
        score: float,
        model_version: str,
        at: float,
        text: str | None = None,
        message_id: int | None = None,
    ) -> bool:
        """Record one message's P(positive); False if that message was scored already.

        ``text`` is dropped unless the chat opted in, checked here in the same
        transaction, so a caller's mistake cannot store text a chat did not allow.
        """
        _check_probability("score", score)
        async with self._write() as db:
            cursor = await db.execute(
                """
                INSERT OR IGNORE INTO mood_scores
                    (chat_id, user_id, score, model_version, at, text, message_id)
                VALUES (?, ?, ?, ?, ?, CASE WHEN EXISTS (
                    SELECT 1 FROM chat_settings WHERE chat_id = ? AND store_text = 1)
                    THEN ? ELSE NULL END, ?)
                """,
                (chat_id, user_id, score, model_version, at, chat_id, text, message_id),
            )
            added = cursor.rowcount == 1
            await cursor.close()
            return added

    async def scores(self, chat_id: int, since: float) -> list[ScoreRow]:
        """Scores at or after ``since`` (epoch seconds), oldest first."""
        rows = await self._fetch(
            """
            SELECT chat_id, user_id, score, model_version, at, text
            FROM mood_scores WHERE chat_id = ? AND at >= ? ORDER BY at, id
            """,
            (chat_id, since),
        )
        return [ScoreRow(*row) for row in rows]

    async def recent_scores(self, chat_id: int, limit: int) -> list[ScoreRow]:
        """The latest ``limit`` scores, oldest first: what the rolling mood is made of."""
        rows = await self._fetch(
            """
            SELECT chat_id, user_id, score, model_version, at, text FROM (
                SELECT * FROM mood_scores WHERE chat_id = ? ORDER BY at DESC, id DESC LIMIT ?
            ) ORDER BY at, id
            """,
            (chat_id, limit),
        )
        return [ScoreRow(*row) for row in rows]

    async def chat_settings(self, chat_id: int) -> ChatSettings:
        rows = await self._fetch(
            "SELECT chat_id, store_text, alert_threshold, alert_active, language, timezone "
            "FROM chat_settings WHERE chat_id = ?",
            (chat_id,),
        )
        if not rows:
            return ChatSettings(chat_id=chat_id)
        chat, store_text, threshold, active, language, timezone = rows[0]
        return ChatSettings(chat, bool(store_text), threshold, bool(active), language, timezone)

    async def set_chat_language(self, chat_id: int, language: str | None) -> None:
        """A group's language for everything the bot posts there (None: the default)."""
        await self._set_chat_value("language", chat_id, language)

    async def set_chat_timezone(self, chat_id: int, timezone: str | None) -> None:
        """A group's time zone for /mood and its chart (None: the TIMEZONE setting)."""
        await self._set_chat_value("timezone", chat_id, timezone)

    async def _set_chat_value(
        self, column: Literal["language", "timezone"], chat_id: int, value: str | None
    ) -> None:
        async with self._write() as db:
            await db.execute(
                f"INSERT INTO chat_settings (chat_id, {column}) VALUES (?, ?) "
                f"ON CONFLICT (chat_id) DO UPDATE SET {column} = excluded.{column}",
                (chat_id, value),
            )

    async def set_store_text(self, chat_id: int, store_text: bool) -> int:
        """Opt a chat in or out of keeping message text; returns texts erased.

        Opting out erases the texts already kept: leaving them would not honour it.
        """
        async with self._write() as db:
            await db.execute(
                "INSERT INTO chat_settings (chat_id, store_text) VALUES (?, ?) "
                "ON CONFLICT (chat_id) DO UPDATE SET store_text = excluded.store_text",
                (chat_id, int(store_text)),
            )
            if store_text:
                return 0
            cursor = await db.execute(
                "UPDATE mood_scores SET text = NULL WHERE chat_id = ? AND text IS NOT NULL",
                (chat_id,),
            )
            erased = cursor.rowcount
            await cursor.close()
            return erased

    async def set_alert_threshold(self, chat_id: int, threshold: float | None) -> None:
        """Set or remove (None) the alert threshold; either way a pending alert resets."""
        if threshold is not None:
            _check_probability("threshold", threshold)
        async with self._write() as db:
            await db.execute(
                "INSERT INTO chat_settings (chat_id, alert_threshold, alert_active) "
                "VALUES (?, ?, 0) ON CONFLICT (chat_id) DO UPDATE SET "
                "alert_threshold = excluded.alert_threshold, alert_active = 0",
                (chat_id, threshold),
            )

    async def set_alert_active(self, chat_id: int, active: bool) -> bool:
        """Compare-and-set: True only for the call that actually changed the flag.

        Messages of one chat are handled concurrently; only the caller that flips the
        flag may post the alert, so a dip produces one alert however busy the chat is.
        """
        async with self._write() as db:
            await db.execute(
                "INSERT INTO chat_settings (chat_id) VALUES (?) ON CONFLICT (chat_id) DO NOTHING",
                (chat_id,),
            )
            cursor = await db.execute(
                "UPDATE chat_settings SET alert_active = ? WHERE chat_id = ? AND alert_active = ?",
                (int(active), chat_id, int(not active)),
            )
            return cursor.rowcount == 1

    # the inbox: updates survive a crash between receiving and handling them

    async def receive(self, update_id: int, payload: str) -> bool:
        """Keep an update before it is confirmed to Telegram; False if it was seen before
        (a second delivery), in which case it must not be handled again."""
        return await self._received.submit((update_id, payload))

    async def handled(self, update_id: int) -> None:
        """The update was handled: drop its payload (it may hold a message's text)."""
        await self._handled.submit(update_id)

    async def unhandled(self) -> list[tuple[int, str]]:
        """Updates received but never handled (the bot died meanwhile), oldest first."""
        rows = await self._fetch(
            "SELECT update_id, payload FROM inbox WHERE done_at IS NULL ORDER BY update_id"
        )
        return [(int(update_id), payload) for update_id, payload in rows]

    async def prune_inbox(self, before: float) -> int:
        """Handled updates are kept (without payload) only to spot a second delivery,
        which Telegram makes within a day."""
        async with self._write() as db:
            cursor = await db.execute(
                "DELETE FROM inbox WHERE done_at IS NOT NULL AND done_at < ?", (before,)
            )
            removed = cursor.rowcount
            await cursor.close()
        return removed

    async def _insert_received(self, rows: list[tuple[int, str]]) -> list[bool]:
        fresh = []
        async with self._write() as db:
            for update_id, payload in rows:
                cursor = await db.execute(
                    "INSERT OR IGNORE INTO inbox (update_id, payload, received_at) "
                    "VALUES (?, ?, ?)",
                    (update_id, payload, self._clock()),
                )
                fresh.append(cursor.rowcount == 1)
                await cursor.close()
        return fresh

    async def _mark_handled(self, update_ids: list[int]) -> list[None]:
        async with self._write() as db:
            await db.executemany(
                "UPDATE inbox SET done_at = ?, payload = NULL WHERE update_id = ?",
                [(self._clock(), update_id) for update_id in update_ids],
            )
        return [None] * len(update_ids)

    # privacy

    async def forget_user(self, user_id: int) -> Removed:
        """Delete everything tied to one person, in every chat, in one transaction."""
        async with self._write() as db:
            counts = []
            for statement in (
                "DELETE FROM corrections WHERE user_id = ?",
                "DELETE FROM verdicts WHERE user_id = ?",
                "DELETE FROM mood_scores WHERE user_id = ?",
            ):
                cursor = await db.execute(statement, (user_id,))
                counts.append(cursor.rowcount)
                await cursor.close()
        return Removed(corrections=counts[0], verdicts=counts[1], scores=counts[2])

    async def prune(self, before: float) -> Removed:
        """Drop what is older than ``before``: verdicts (with their texts), group scores,
        and corrections a model learned before then. A correction no model has used yet
        is kept, however old: it is training data someone chose to give."""
        statements = (
            "DELETE FROM corrections WHERE consumed_at IS NOT NULL AND consumed_at < ?",
            "DELETE FROM verdicts WHERE created_at < ?",
            "DELETE FROM mood_scores WHERE at < ?",
        )
        counts = []
        async with self._write() as db:
            for statement in statements:
                cursor = await db.execute(statement, (before,))
                counts.append(cursor.rowcount)
                await cursor.close()
        return Removed(corrections=counts[0], verdicts=counts[1], scores=counts[2])

    # retraining bookkeeping

    async def start_run(
        self, *, base_version: str | None, candidate_version: str | None = None
    ) -> int:
        async with self._write() as db:
            cursor = await db.execute(
                "INSERT INTO training_runs (started_at, status, candidate_version, "
                "base_version) VALUES (?, ?, ?, ?)",
                (self._clock(), RunStatus.RUNNING.value, candidate_version, base_version),
            )
            run_id = cursor.lastrowid
            await cursor.close()
        assert run_id is not None
        return run_id

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
        async with self._write() as db:
            cursor = await db.execute(
                """
                UPDATE training_runs SET finished_at = ?, status = ?,
                    candidate_version = COALESCE(?, candidate_version),
                    figures = ?, message = ?
                WHERE id = ? AND status = 'running'
                """,
                (self._clock(), status.value, candidate_version, figures_json, message, run_id),
            )
            changed = cursor.rowcount
            await cursor.close()
        if changed == 0:
            raise ValueError(f"no running training run with id {run_id}")

    async def fail_stale_runs(self, message: str = "the bot stopped during the run") -> int:
        """Close runs left 'running' by a bot that died mid-run; called at start-up, when
        no run of this process can be under way."""
        async with self._write() as db:
            cursor = await db.execute(
                "UPDATE training_runs SET finished_at = ?, status = ?, message = ? "
                "WHERE status = 'running'",
                (self._clock(), RunStatus.FAILED.value, message),
            )
            changed = cursor.rowcount
            await cursor.close()
        return changed

    async def runs(self, limit: int = 10) -> list[TrainingRun]:
        """The latest runs, newest first."""
        rows = await self._fetch(
            """
            SELECT id, started_at, finished_at, status, candidate_version, base_version,
                figures, message
            FROM training_runs ORDER BY started_at DESC, id DESC LIMIT ?
            """,
            (limit,),
        )
        return [_training_run(row) for row in rows]


_CORRECTION_FIELDS = (
    "id, text, predicted_label, predicted_probability, corrected_label, user_id, "
    "chat_id, model_version, created_at, consumed_by_version"
)


def _training_run(row: tuple[Any, ...]) -> TrainingRun:
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


async def _connect(
    path: str | os.PathLike[str], *, busy_timeout: float, read_only: bool
) -> aiosqlite.Connection:
    if read_only:
        # mode=ro makes SQLite itself refuse writes, even for root.
        uri = Path(path).resolve().as_uri() + "?mode=ro"
        return await aiosqlite.connect(uri, uri=True, timeout=busy_timeout, isolation_level=None)
    return await aiosqlite.connect(path, timeout=busy_timeout, isolation_level=None)
