"""Shared fixtures: databases (SQLite and a real PostgreSQL), settings, the shared data folder."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy.engine import Engine

from bot.settings import Settings
from storage.db import make_engine, upgrade
from tests.support.pg_server import PgProcess, PgServer, PgUnavailable

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"

# The terminal tables tests read are as wide as a terminal, whichever test first builds the
# shared rich console and whichever worker runs it (rich wraps at 80 columns without a tty).
os.environ["COLUMNS"] = "200"

# Reproducible by default: CI runs the same examples every time (the fuzz tests a few each,
# tests/support/fuzzing.py); HYPOTHESIS_PROFILE=fuzz runs thousands of random ones.
hypothesis_settings.register_profile(
    "ci", deadline=None, derandomize=True, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.register_profile(
    "fuzz", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared``; tests that need it skip on a user's fresh clone, never in CI."""
    if not SHARED.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{SHARED} is missing; CI must run beside ../shared")
        pytest.skip(f"{SHARED} is not here (a fresh clone has no ../shared)")
    return SHARED


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PgServer]:
    configured = os.environ.get("SPENDWATCH_TEST_POSTGRES")
    if configured:
        host, port, user = configured.split(":")
        yield PgServer(host=host, port=int(port), user=user)
        return
    try:
        process = PgProcess()
        server = process.start()
    except PgUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        process.stop()


@pytest.fixture
def postgres_url(postgres_server: PgServer) -> Iterator[str]:
    """A fresh, empty database on the real server, dropped after the test."""
    from pytest_postgresql.janitor import DatabaseJanitor

    name = f"spendwatch_{uuid.uuid4().hex[:12]}"
    janitor = DatabaseJanitor(
        user=postgres_server.user, host=postgres_server.host, port=postgres_server.port,
        dbname=name,
    )
    janitor.init()
    try:
        yield (f"postgresql+psycopg://{postgres_server.user}@{postgres_server.host}:"
               f"{postgres_server.port}/{name}")
    finally:
        janitor.drop()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'spendwatch.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Run the test once on SQLite and once on a real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'spendwatch.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, quarantine_dir=tmp_path / "quarantine")


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database_url)
    upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()
