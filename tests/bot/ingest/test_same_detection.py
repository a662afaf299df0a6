"""The same spend, read through each kind of source, gives the same detection as a FOCUS file.

The story (``tests.support.spend_story``) is written once as a FOCUS export and ingested; its
incidents are the reference. Then, each time in a fresh store, it is served in a source's own
shape (a warehouse table, an object store, the providers' APIs) and read by that source, and
detection must open the same incidents: same project, same first hour, same impact to the
cent.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from bot.anomaly.poll import poll_store
from bot.ingest.service import ingest_path
from bot.settings import Settings
from storage.db import make_engine, session_scope, upgrade
from storage.models import Anomaly
from tests.support.focus_files import write_focus_csv
from tests.support.spend_story import END, INCIDENTS, focus_rows, hourly_spend

NOW = END + timedelta(minutes=20)  # the story's last hour has just ended


def store(tmp_path: Path, name: str) -> tuple[Engine, Settings]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / name}.db",
                        quarantine_dir=tmp_path / "quarantine")
    engine = make_engine(settings.database_url)
    upgrade(engine)
    return engine, settings


def incidents(engine: Engine, settings: Settings) -> set[tuple[str, datetime, str, float]]:
    poll_store(engine=engine, settings=settings)
    with session_scope(engine) as session:
        rows = session.exec(select(Anomaly)).all()
        return {(a.project, a.started_at.astimezone(UTC), a.kind, round(a.impact_usd, 2))
                for a in rows}


@pytest.fixture(scope="module")
def spend():
    return hourly_spend()


@pytest.fixture
def reference(tmp_path: Path, spend) -> set[tuple[str, datetime, str, float]]:
    engine, settings = store(tmp_path, "reference")
    write_focus_csv(tmp_path / "export" / "story.csv", focus_rows(spend))
    report = ingest_path(engine=engine, settings=settings, path=tmp_path / "export")
    assert report.ok
    found = incidents(engine, settings)
    engine.dispose()
    assert {(project, started) for project, started, _, _ in found} == INCIDENTS
    return found


def test_the_story_is_detected_from_a_focus_file(reference) -> None:
    assert len(reference) == 2
