"""Alembic environment: runs against the engine handed over in ``config.attributes``.

On PostgreSQL the upgrade holds an advisory lock for its transaction: replicas that start
together on a new store take turns, and the later ones find the schema already there.
"""

from alembic import context
from sqlalchemy import text
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)

config = context.config
engine = config.attributes["engine"]

MIGRATION_LOCK = 0x5357_6D69_6772  # "SWmigr": one key for every spendwatch store

with engine.begin() as connection:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
