"""Where the data lives, parsed from ``DATABASE_URL`` or ``DATABASE_PATH``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import sqlalchemy as sa

Backend = Literal["sqlite", "postgresql"]


@dataclass(frozen=True)
class Location:
    """Where the data lives: a SQLite file, or a PostgreSQL database (an async URL)."""

    backend: Backend
    path: Path | None = None
    url: sa.URL | None = None

    def __str__(self) -> str:
        if self.url is not None:
            return self.url.render_as_string(hide_password=True)
        return str(self.path)


def parse_location(value: str | os.PathLike[str]) -> Location:
    """A file path (SQLite), ``sqlite:///path``, or ``postgresql://user@host/db``.

    Raises ValueError, saying what is accepted, for anything else.
    """
    if isinstance(value, os.PathLike) or "://" not in str(value):
        return Location("sqlite", path=Path(value))
    try:
        url = sa.make_url(str(value))
    except sa.exc.ArgumentError as error:
        raise ValueError(f"not a database URL: {value!r}") from error
    backend = url.get_backend_name()
    if backend in ("postgresql", "postgres"):
        _, _, driver = url.drivername.partition("+")
        if driver not in ("", "asyncpg"):
            raise ValueError(f"the bot talks to PostgreSQL through asyncpg, not {driver!r}")
        if not url.database:
            raise ValueError("a PostgreSQL URL must name the database: postgresql://host/dbname")
        return Location("postgresql", url=url.set(drivername="postgresql+asyncpg"))
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            raise ValueError("a SQLite URL must name a file: sqlite:///path/to/bot.sqlite3")
        return Location("sqlite", path=Path(url.database))
    raise ValueError(f"unsupported database {backend!r}: use postgresql://… or a SQLite file path")
