"""Persistence: SQLModel tables, the engine factory, repositories and Alembic migrations."""
