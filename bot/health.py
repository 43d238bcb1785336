"""`python -m bot.health`: the container health check.

Healthy means the current model version is intact (manifest and checksums) and the
database (the SQLite file, or PostgreSQL with DATABASE_URL) opens and answers: the two
things the bot cannot serve without.
"""

from __future__ import annotations

import asyncio
import sys

from bot.settings import Settings
from bot.storage import Storage, StorageError
from nlp.artifacts import ModelLoadError, verify_model_dir
from training.registry import Registry, RegistryError


async def check(settings: Settings) -> str | None:
    """None when healthy, else what is wrong."""
    try:
        verify_model_dir(Registry(settings.paths.registry_dir).current_dir())
    except (RegistryError, ModelLoadError) as error:
        return f"model: {error}"
    try:
        async with await Storage.open(settings.database, read_only=True) as storage:
            await storage.schema_version()
    except (StorageError, OSError) as error:
        return f"database: {error}"
    return None


def main() -> int:
    problem = asyncio.run(check(Settings.from_env()))
    print(problem or "ok")
    return 1 if problem else 0


if __name__ == "__main__":
    sys.exit(main())
