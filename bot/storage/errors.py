"""Storage failures the bot can explain, and the translation of each backend's errors.

Callers catch ``StorageError`` only. The driver's own exception (``sqlite3.Error`` or
``asyncpg.PostgresError``) stays attached as the cause.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

from sqlalchemy import exc


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


class DatabaseUnavailable(StorageError):
    """The database server could not be reached (or the connection was lost)."""

    default_message = "The database cannot be reached right now. Please try again later."


_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_READONLY = 8

# PostgreSQL SQLSTATEs: waiting for a lock past lock_timeout, a deadlock or serialization
# failure (both retryable), a cancelled statement; a write in a read-only transaction.
_PG_BUSY = frozenset({"55P03", "40P01", "40001", "57014"})
_PG_READ_ONLY = frozenset({"25006"})
# The server shutting down (cutting every session), crashing, or not yet accepting
# connections while it starts: a restart, as a lost connection is.
_PG_RESTARTING = frozenset({"57P01", "57P02", "57P03"})


def driver_error(error: BaseException) -> BaseException:
    """The driver's exception under SQLAlchemy's (and asyncpg's under SQLAlchemy's adapter)."""
    original = getattr(error, "orig", None) or error
    cause = original.__cause__
    if cause is not None and type(cause).__module__.startswith("asyncpg"):
        return cause
    return original


def _sqlstate(error: BaseException) -> str | None:
    for candidate in (error, getattr(error, "orig", None), driver_error(error)):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str):
            return code
    return None


def translate(error: BaseException) -> StorageError:
    original = driver_error(error)
    # SQLite: extended result codes (e.g. SQLITE_READONLY_DBMOVED) keep the primary code
    # in the low byte, so mask before comparing.
    code = getattr(original, "sqlite_errorcode", None)
    if isinstance(code, int):
        primary = code & 0xFF
        if primary in (_SQLITE_BUSY, _SQLITE_LOCKED):
            return DatabaseBusy()
        if primary == _SQLITE_READONLY:
            return DatabaseReadOnly()
        return StorageError()
    state = _sqlstate(error)
    if state in _PG_BUSY:
        return DatabaseBusy()
    if state in _PG_READ_ONLY:
        return DatabaseReadOnly()
    if state in _PG_RESTARTING:
        return DatabaseUnavailable()
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return DatabaseUnavailable()
    if isinstance(error, OSError | exc.InterfaceError) or (state or "").startswith("08"):
        return DatabaseUnavailable()
    return StorageError()


def is_integrity_error(error: BaseException) -> bool:
    """A constraint refused the row (the cause of a StorageError raised by ``translated``)."""
    return isinstance(error, exc.IntegrityError) or type(driver_error(error)).__name__ in (
        "IntegrityError",
        "UniqueViolationError",
    )


@contextlib.contextmanager
def translated() -> Iterator[None]:
    try:
        yield
    except StorageError:
        raise
    except (exc.DBAPIError, exc.InterfaceError, OSError) as error:
        raise translate(error) from driver_error(error)
    except sqlite3.Error as error:  # a transaction run in SQLite's thread (write_sql)
        raise translate(error) from error
    except Exception as error:
        # asyncpg raises its own errors from connect(), outside SQLAlchemy's wrapping.
        if type(error).__module__.startswith("asyncpg"):
            raise translate(error) from error
        raise
