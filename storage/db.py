"""Engine factory, session scope and schema upgrades.

One code path for SQLite (the embedded default) and PostgreSQL (a URL away). The schema is
owned by Alembic: ``upgrade(engine)`` brings any database to the newest revision and runs on
every start, so a fresh file and a years-old server end up with the same tables.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, create_engine

__all__ = ["alembic_config", "current_revision", "job_lock", "make_engine", "session_scope",
           "upgrade"]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine; SQLite files get WAL and foreign keys, in-memory SQLite one connection."""
    if url.startswith("sqlite"):
        memory = url in ("sqlite://", "sqlite:///:memory:")
        if not memory:
            path = url.removeprefix("sqlite:///")
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=StaticPool if memory else None,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One short session per unit of work: commit on success, roll back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def job_lock(engine: Engine, name: str) -> Iterator[bool]:
    """True when this process may run job ``name`` now; False when another replica is on it.

    On PostgreSQL (several replicas share the store) a session-level advisory lock, held on
    its own connection for the whole job and released after; the key is a stable hash of the
    name. SQLite is one process's file: always True.
    """
    if engine.dialect.name != "postgresql":
        yield True
        return
    key = int.from_bytes(hashlib.sha256(f"spendwatch:{name}".encode()).digest()[:8], "big",
                        signed=True)
    with engine.connect() as connection:
        taken = bool(connection.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                        {"k": key}).scalar())
        try:
            yield taken
        finally:
            if taken:
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            connection.commit()


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply every migration up to ``revision`` (idempotent)."""
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
