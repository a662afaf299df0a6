"""Spend per series over a period for showback, on both databases, and its SQLite plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from storage.db import make_engine, upgrade
from storage.queries.showback import series_spend
from tests.support.cost_points import put_points

OCTOBER, NOVEMBER = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_each_series_is_summed_over_the_period_only(engine: Engine) -> None:
    put_points(engine, [
        {"hour": OCTOBER, "cost": 10.0, "billed_cost": 12.0},
        {"hour": NOVEMBER - HOUR, "cost": 5.0, "billed_cost": 5.0},
        {"hour": NOVEMBER, "cost": 100.0},  # the end is exclusive
        {"hour": OCTOBER - HOUR, "cost": 100.0},
        {"hour": OCTOBER, "sub_account_id": "999", "project": "", "cost": 2.5},
        {"hour": OCTOBER, "charge_category": "Credit", "cost": -1.0},
    ])
    with engine.connect() as connection:
        effective = series_spend(connection=connection, start=OCTOBER, end=NOVEMBER)
        billed = series_spend(connection=connection, start=OCTOBER, end=NOVEMBER,
                              metric="billed")
        empty = series_spend(connection=connection, start=NOVEMBER + 30 * 24 * HOUR,
                             end=NOVEMBER + 31 * 24 * HOUR)
    rows = {(r.sub_account_id, r.project, r.charge_category): r.cost
            for r in effective.itertuples()}
    assert rows == {("111", "web", "Usage"): pytest.approx(15.0),
                    ("999", "", "Usage"): pytest.approx(2.5),
                    ("111", "web", "Credit"): pytest.approx(-1.0)}
    assert billed["cost"].sum() == pytest.approx(12.0 + 5.0 + 2.5 - 1.0)
    assert empty.empty and "service_name" in empty.columns


def test_it_reads_series_first_then_a_range_of_hours(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    put_points(engine, [{"hour": OCTOBER, "cost": 1.0}])
    statements: list[tuple[str, Any]] = []
    event.listen(engine, "before_cursor_execute",
                 lambda _c, _cur, sql, params, _ctx, _many: statements.append((sql, params)))
    try:
        with engine.connect() as connection:
            series_spend(connection=connection, start=OCTOBER, end=NOVEMBER)
            raw = connection.connection.driver_connection
            (sql, params), = statements
            plan = " | ".join(row[3] for row in raw.execute(f"EXPLAIN QUERY PLAN {sql}", params))
    finally:
        engine.dispose()
    assert "ix_cost_point_series_hour_cost (series_id=? AND hour>? AND hour<?)" in plan, plan
    assert "SCAN cost_point" not in plan, plan
