"""Alembic revisions for both backends; run by ``bot.storage.database`` at open."""
