"""Repositories on both databases: the queries reports and ingestion rely on."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlmodel import Session

from bot.ingest.service import ingest_path
from storage import repositories as repo
from storage.models import IngestRun
from tests.support.focus_files import write_focus_csv


def _row(hour: int, cost: str, project: str, account: str = "ba-1") -> dict[str, str]:
    return {
        "BillingAccountId": account,
        "ChargePeriodStart": f"2025-04-10T{hour:02d}:00:00Z",
        "ChargePeriodEnd": f"2025-04-10T{hour + 1:02d}:00:00Z",
        "BilledCost": cost,
        "EffectiveCost": cost,
        "Tags": json.dumps({"project": project, "environment": "prod"}),
    }


def test_data_range_is_empty_then_spans_the_points(engine, settings, tmp_path):
    with engine.connect() as connection:
        assert repo.data_range(connection=connection) == (None, None)
    path = write_focus_csv(tmp_path / "a.csv", [_row(3, "1", "a"), _row(9, "2", "b")])
    ingest_path(engine=engine, settings=settings, path=path)
    with engine.connect() as connection:
        first, last = repo.data_range(connection=connection)
    assert first == datetime(2025, 4, 10, 3, tzinfo=UTC)
    assert last == datetime(2025, 4, 10, 9, tzinfo=UTC)


def test_load_points_filters_by_project_and_time(engine, settings, tmp_path):
    rows = [_row(h, str(h), "a") for h in range(0, 6)] + [_row(h, "100", "b") for h in range(6)]
    ingest_path(engine=engine, settings=settings, path=write_focus_csv(tmp_path / "x.csv", rows))
    with engine.connect() as connection:
        frame = repo.load_points(
            connection=connection, project="a",
            start=datetime(2025, 4, 10, 2, tzinfo=UTC), end=datetime(2025, 4, 10, 5, tzinfo=UTC),
        )
    assert sorted(frame["effective_cost"].tolist()) == [2.0, 3.0, 4.0]
    assert set(frame["project"]) == {"a"}
    assert str(frame["hour"].dt.tz) == "UTC"


def test_a_replaced_run_is_no_longer_current(engine, settings, tmp_path):
    first = write_focus_csv(tmp_path / "v1.csv", [_row(1, "5", "a")])
    report = ingest_path(engine=engine, settings=settings, path=first)
    run_id = report.files[0].run_id
    with Session(engine) as session:
        fingerprint = session.get(IngestRun, run_id).fingerprint
        assert repo.current_run_for_fingerprint(
            db_session=session, fingerprint=fingerprint).id == run_id

    restated = write_focus_csv(tmp_path / "v2.csv", [_row(1, "7", "a")])
    ingest_path(engine=engine, settings=settings, path=restated)

    with Session(engine) as session:
        run = session.get(IngestRun, run_id)
        assert run.superseded_at is not None
        assert repo.current_run_for_fingerprint(db_session=session, fingerprint=fingerprint) is None
    # so the old file, seen again, is read again and becomes the current snapshot
    again = ingest_path(engine=engine, settings=settings, path=first)
    assert again.files[0].status == "ingested"
    with engine.connect() as connection:
        assert repo.load_points(connection=connection)["effective_cost"].sum() == 5.0
