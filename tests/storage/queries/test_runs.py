"""Ingest runs on both databases: a replaced run is no longer current."""

from __future__ import annotations

from sqlmodel import Session

from bot.ingest.service import ingest_path
from storage.models import IngestRun
from storage.queries import points, runs
from tests.storage.queries.test_points import _row
from tests.support.focus_files import write_focus_csv


def test_a_replaced_run_is_no_longer_current(engine, settings, tmp_path):
    first = write_focus_csv(tmp_path / "v1.csv", [_row(1, "5", "a")])
    report = ingest_path(engine=engine, settings=settings, path=first)
    run_id = report.files[0].run_id
    with Session(engine) as session:
        fingerprint = session.get(IngestRun, run_id).fingerprint
        assert runs.current_run_for_fingerprint(
            db_session=session, fingerprint=fingerprint).id == run_id

    restated = write_focus_csv(tmp_path / "v2.csv", [_row(1, "7", "a")])
    ingest_path(engine=engine, settings=settings, path=restated)

    with Session(engine) as session:
        run = session.get(IngestRun, run_id)
        assert run.superseded_at is not None
        assert runs.current_run_for_fingerprint(db_session=session, fingerprint=fingerprint) is None
    # so the old file, seen again, is read again and becomes the current snapshot
    again = ingest_path(engine=engine, settings=settings, path=first)
    assert again.files[0].status == "ingested"
    with engine.connect() as connection:
        assert points.load_points(connection=connection)["effective_cost"].sum() == 5.0
