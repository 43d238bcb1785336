"""Alembic's entry point. The bot runs migrations itself when it opens the database
(``bot.storage.database.migrate``), handing over its connection in
``config.attributes["connection"]``, inside its own transaction."""

from __future__ import annotations

from alembic import context

from bot.storage.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "migrations run when the bot opens its database (bot.storage.Storage.open); "
        "there is no offline mode"
    )
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
