"""Series and hourly points on both databases: what reports and ingestion rely on."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.ingest.service import ingest_path
from storage.models import CostPoint
from storage.queries import points
from storage.timeutil import as_utc
from tests.support.cost_points import put_points
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
        assert points.data_range(connection=connection) == (None, None)
    path = write_focus_csv(tmp_path / "a.csv", [_row(3, "1", "a"), _row(9, "2", "b")])
    ingest_path(engine=engine, settings=settings, path=path)
    with engine.connect() as connection:
        first, last = points.data_range(connection=connection)
    assert first == datetime(2025, 4, 10, 3, tzinfo=UTC)
    assert last == datetime(2025, 4, 10, 9, tzinfo=UTC)


def test_load_points_filters_by_project_and_time(engine, settings, tmp_path):
    rows = [_row(h, str(h), "a") for h in range(0, 6)] + [_row(h, "100", "b") for h in range(6)]
    ingest_path(engine=engine, settings=settings, path=write_focus_csv(tmp_path / "x.csv", rows))
    with engine.connect() as connection:
        frame = points.load_points(
            connection=connection, project="a",
            start=datetime(2025, 4, 10, 2, tzinfo=UTC), end=datetime(2025, 4, 10, 5, tzinfo=UTC),
        )
    assert sorted(frame["effective_cost"].tolist()) == [2.0, 3.0, 4.0]
    assert set(frame["project"]) == {"a"}
    assert str(frame["hour"].dt.tz) == "UTC"




@pytest.mark.parametrize("count", [1, 100, 257])
def test_every_inserted_point_is_stored_with_its_own_values(engine, count):
    # SQLite takes points a hundred to a statement: counts below, at and past a multiple
    start = datetime(2025, 4, 1, tzinfo=UTC)
    put_points(engine, [{"hour": start + timedelta(hours=h), "cost": h + 0.25,
                         "billed_cost": h * 2.0} for h in range(count)])
    with engine.connect() as connection:
        stored = connection.execute(
            select(CostPoint.hour, CostPoint.effective_cost, CostPoint.billed_cost,
                   CostPoint.line_items).order_by(CostPoint.hour)).all()
    assert [(as_utc(hour), effective, billed, lines) for hour, effective, billed, lines in stored
            ] == [(start + timedelta(hours=h), h + 0.25, h * 2.0, 1) for h in range(count)]
