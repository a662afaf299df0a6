"""Persistence: SQLModel tables, the engine factory, queries by table, Alembic migrations."""
