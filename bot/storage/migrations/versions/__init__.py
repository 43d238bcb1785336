"""One module per schema version; Alembic reads them by path."""
