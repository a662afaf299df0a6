from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

from storage.db import current_revision, make_engine, upgrade


def test_upgrade_creates_every_table_and_is_idempotent(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    upgrade(engine)  # a second start changes nothing
    tables = set(inspect(engine).get_table_names())
    assert {"cost_series", "cost_point", "ingest_run", "anomaly", "alert", "playbook_run",
            "runbook_entry", "audit_log"} <= tables
    assert current_revision(engine) is not None


def test_migrations_match_the_models(database_url):
    """A model change without a migration would fail here, not in a user's database."""
    engine = make_engine(database_url)
    upgrade(engine)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert diff == []
