"""Backup and restore as ``docs/retention.md`` tells people to do them: a live SQLite store
copied with the online backup API, a PostgreSQL store with ``pg_dump -Fc`` / ``pg_restore``;
the restored store answers ``/cost`` as the original did when it was backed up."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from bot.costs.command import Scope, respond
from bot.costs.views import format_mrkdwn
from storage.db import make_engine, upgrade
from tests.support.cost_points import put_points
from tests.support.pg_server import PgServer, _bin_dir

T0 = datetime(2025, 5, 1, tzinfo=UTC)


def fill(engine: Engine, *, days: int = 20, cost: float = 2.0) -> None:
    put_points(engine, [{"hour": T0 + timedelta(hours=n), "cost": cost + n % 7}
                        for n in range(days * 24)])


def cost_answer(engine: Engine) -> str:
    return format_mrkdwn(respond("web prod 7d", connection_or_engine=engine,
                                 scope=Scope.everything()))


def test_a_live_sqlite_store_backed_up_with_the_backup_api_restores_to_the_same_answer(
        tmp_path: Path):
    path = tmp_path / "spendwatch.db"
    live = make_engine(f"sqlite:///{path}")
    upgrade(live)
    fill(live)
    with live.connect() as reading:  # the bot is running: a connection is open, WAL not merged
        reading.exec_driver_sql("SELECT count(*) FROM cost_point").scalar()
        answer = cost_answer(live)
        with sqlite3.connect(path) as source, sqlite3.connect(tmp_path / "backup.db") as copy:
            source.backup(copy)
    put_points(live, [{"hour": T0 + timedelta(days=19), "cost": 1000.0}])  # after the backup
    assert cost_answer(live) != answer
    live.dispose()

    # restore: the bot is stopped, the copy put back, the schema brought up to date
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
    shutil.copyfile(tmp_path / "backup.db", path)
    restored = make_engine(f"sqlite:///{path}")
    try:
        upgrade(restored)
        assert cost_answer(restored) == answer
    finally:
        restored.dispose()


@pytest.mark.postgres
def test_a_postgresql_store_dumped_and_restored_gives_the_same_answer(
        postgres_url: str, postgres_server: PgServer, tmp_path: Path):
    from pytest_postgresql.janitor import DatabaseJanitor

    live = make_engine(postgres_url)
    upgrade(live)
    fill(live)
    answer = cost_answer(live)
    live.dispose()
    tools = _bin_dir()
    dump = tmp_path / "spendwatch.dump"
    connect = ["-h", postgres_server.host, "-p", str(postgres_server.port),
               "-U", postgres_server.user]
    subprocess.run([str(tools / "pg_dump"), "-Fc", *connect, "-f", str(dump),
                    postgres_url.rsplit("/", 1)[1]], check=True, capture_output=True)
    name = f"restored_{uuid.uuid4().hex[:12]}"
    janitor = DatabaseJanitor(user=postgres_server.user, host=postgres_server.host,
                              port=postgres_server.port, dbname=name)
    janitor.init()
    try:
        subprocess.run([str(tools / "pg_restore"), "--no-owner", *connect, "-d", name,
                        str(dump)], check=True, capture_output=True)
        restored = make_engine(postgres_url.rsplit("/", 1)[0] + "/" + name)
        try:
            upgrade(restored)
            assert cost_answer(restored) == answer
        finally:
            restored.dispose()
    finally:
        janitor.drop()
