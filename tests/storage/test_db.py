import subprocess
import sys
import time

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from storage.db import alembic_config, current_revision, make_engine, upgrade
from tests.conftest import REPO


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


def test_upgrading_a_store_from_before_skus_keeps_its_lines(database_url):
    """Lines stored before SKUs were kept get the empty SKU; new SKU lines can join them."""
    engine = make_engine(database_url)
    upgrade(engine, "0002")
    columns = ("provider", "billing_account_id", "sub_account_id", "sub_account_name",
               "service_name", "service_category", "region", "project", "environment", "owner",
               "phase", "cost_center", "charge_category", "currency", "usage_unit")
    values = dict.fromkeys(columns, "x")
    with engine.begin() as connection:
        connection.execute(text(
            f"INSERT INTO cost_series ({', '.join(columns)}) "
            f"VALUES ({', '.join(':' + c for c in columns)})"), values)
    upgrade(engine)
    with engine.begin() as connection:
        assert connection.execute(text("SELECT sku_id FROM cost_series")).scalars().all() == [""]
        connection.execute(text(
            f"INSERT INTO cost_series ({', '.join(columns)}, sku_id) "
            f"VALUES ({', '.join(':' + c for c in columns)}, 'gpt-4o')"), values)
        assert connection.execute(text("SELECT count(*) FROM cost_series")).scalar() == 2


def test_a_job_runs_on_one_replica_at_a_time(database_url):
    from storage.db import job_lock

    first, second = make_engine(database_url), make_engine(database_url)  # two replicas
    with job_lock(first, "poll") as mine:
        assert mine
        with job_lock(second, "poll") as theirs:
            expected = not database_url.startswith("postgresql")  # SQLite: one process
            assert theirs is expected
        with job_lock(second, "escalations") as other_job:
            assert other_job
    with job_lock(second, "poll") as later:
        assert later, "released when the job ended"


_UPGRADE_AT = """
import sys, time
from storage.db import make_engine, upgrade
engine = make_engine(sys.argv[1])
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # every process starts together
upgrade(engine)
"""


@pytest.mark.postgres
def test_replicas_starting_together_on_a_new_store_all_start(postgres_url):
    """Two replicas of a first deployment both bring the empty store to the newest schema."""
    start = time.time() + 6
    processes = [subprocess.Popen([sys.executable, "-c", _UPGRADE_AT, postgres_url, str(start)],
                                  cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(3)]
    try:
        outcomes = [process.communicate(timeout=60) for process in processes]
    finally:
        for process in processes:
            process.kill()
    failures = [err for process, (_, err) in zip(processes, outcomes, strict=True)
                if process.returncode != 0]
    assert failures == []
    engine = make_engine(postgres_url)
    assert current_revision(engine) == ScriptDirectory.from_config(
        alembic_config(engine)).get_current_head()

def test_points_stored_before_retention_count_as_one_hour_each(database_url):
    """0010 adds ``cost_point.hours`` without rewriting the table: old points are hourly."""
    engine = make_engine(database_url)
    upgrade(engine, "0009")
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO ingest_run (delivery_id, source, file_path, checksum, fingerprint, "
            "file_size, status, started_at, rows_read, rows_kept, rows_rejected, "
            "points_written) VALUES ('d', 's', 'f', '', '', 0, 'succeeded', "
            "'2025-01-01 00:00:00', 0, 0, 0, 0)"))
        connection.execute(text(
            "INSERT INTO cost_series (provider, billing_account_id, sub_account_id, "
            "sub_account_name, service_name, service_category, region, sku_id, project, "
            "environment, owner, phase, cost_center, charge_category, currency, usage_unit) "
            "VALUES ('x', 'x', 'x', 'x', 'x', 'x', 'x', '', 'x', 'x', 'x', 'x', 'x', 'x', "
            "'USD', 'x')"))
        connection.execute(text(
            "INSERT INTO cost_point (series_id, ingest_run_id, hour, billing_period_start, "
            "billed_cost, effective_cost, usage_quantity, line_items) "
            "VALUES (1, 1, '2025-01-01 05:00:00', '2025-01-01 00:00:00', 1, 1, 0, 1)"))
    upgrade(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT hours FROM cost_point")).scalars().all() == [1]
    engine.dispose()
