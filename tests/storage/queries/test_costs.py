"""The SQL behind ``/cost`` on both databases: sums per period, buckets, visibility, plans."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage.db import make_engine, upgrade
from storage.models import Anomaly, RunbookEntry
from storage.queries import costs
from tests.support.cost_points import put_points

T0 = datetime(2025, 4, 1, tzinfo=UTC)
DAY, HOUR = timedelta(days=1), timedelta(hours=1)
# the current period is [T0 + 7d, T0 + 14d), the previous one [T0, T0 + 7d)
WINDOWS = {"start": T0 + 7 * DAY, "end": T0 + 14 * DAY, "previous_start": T0,
           "previous_end": T0 + 7 * DAY}


def by_key(rows: list[costs.SpendRow]) -> dict[str, tuple[float, float]]:
    assert len({r.key for r in rows}) == len(rows), rows
    return {r.key: (pytest.approx(r.cost), pytest.approx(r.previous)) for r in rows}


def by_service(connection: Any, **options: Any) -> list[costs.SpendRow]:
    return costs.spend_compared(connection=connection, by="service_name", **options, **WINDOWS)


def by_project(connection: Any, **options: Any) -> list[costs.SpendRow]:
    return costs.spend_compared(connection=connection, by="project", **options, **WINDOWS)


@pytest.fixture
def store(engine: Engine) -> Engine:
    put_points(engine, [
        # web / prod / EC2: two hours now, one before; the end hour and the hour before the
        # previous period are outside both
        {"hour": T0 + 7 * DAY, "cost": 10.0},
        {"hour": T0 + 14 * DAY - HOUR, "cost": 5.0},
        {"hour": T0, "cost": 4.0},
        {"hour": T0 + 14 * DAY, "cost": 100.0},
        {"hour": T0 - HOUR, "cost": 100.0},
        {"hour": T0 + 8 * DAY, "service_name": "Amazon S3", "cost": 3.0},
        {"hour": T0 + 8 * DAY, "environment": "dev", "cost": 50.0},
        {"hour": T0 + 8 * DAY, "service_name": "AWS Lambda", "owner": "team-other", "cost": 7.0},
        {"hour": T0 + 9 * DAY, "project": "api", "owner": "team-api", "cost": 1000.0},
        {"hour": T0 + 2 * DAY, "project": "gone", "owner": "team-api", "cost": 2.0},
    ])
    return engine


def test_spend_by_service_sums_both_periods_of_one_workload(store: Engine) -> None:
    with store.connect() as connection:
        rows = by_service(connection, project="web", environment="prod")
    assert {r.charge_category for r in rows} == {"Usage"}
    assert by_key(rows) == {"Amazon EC2": (15.0, 4.0), "AWS Lambda": (7.0, 0.0),
                            "Amazon S3": (3.0, 0.0)}


def test_spend_by_service_all_environments_and_only_visible_owners(store: Engine) -> None:
    with store.connect() as connection:
        rows = by_service(connection, project="web", owners={"team-web"})
    assert by_key(rows) == {"Amazon EC2": (65.0, 4.0), "Amazon S3": (3.0, 0.0)}


def test_spend_by_project_with_projects_gone_quiet(store: Engine) -> None:
    with store.connect() as connection:
        rows = by_project(connection)
        web_only = by_project(connection, owners={"team-web"})
        nobody = by_project(connection, owners=set())
    assert by_key(rows) == {"api": (1000.0, 0.0), "web": (75.0, 4.0), "gone": (0.0, 2.0)}
    assert by_key(web_only) == {"web": (68.0, 4.0)}
    assert nobody == []


def test_a_gap_between_the_periods_counts_for_neither(store: Engine) -> None:
    # month to date compares with as many hours of the month before: the periods may not touch
    windows = {**WINDOWS, "previous_end": T0 + DAY}
    with store.connect() as connection:
        rows = costs.spend_compared(connection=connection, by="project", **windows)
    assert "gone" not in by_key(rows)  # no point in either period: no row at all
    assert by_key(rows)["web"] == (75.0, 4.0)


def test_daily_totals_buckets_between_edges(engine: Engine) -> None:
    put_points(engine, [
        {"hour": T0 + HOUR, "cost": 100.0},  # before the first edge
        {"hour": T0 + 2 * HOUR, "cost": 1.0},
        {"hour": T0 + 23 * HOUR, "cost": 2.0},
        {"hour": T0 + DAY, "cost": 4.0},
        {"hour": T0 + 3 * DAY + 5 * HOUR, "cost": 8.0},
        {"hour": T0 + 4 * DAY, "cost": 100.0},  # the last edge is exclusive
        {"hour": T0 + DAY, "project": "api", "cost": 100.0},
    ])
    edges = [T0 + 2 * HOUR, T0 + DAY, T0 + 2 * DAY, T0 + 3 * DAY, T0 + 4 * DAY]
    with engine.connect() as connection:
        totals = costs.daily_totals(connection=connection, project="web", edges=edges)
        hidden = costs.daily_totals(connection=connection, project="web", edges=edges,
                                    owners={"team-api"})
        assert costs.daily_totals(connection=connection, project="web", edges=edges[:1]) == []
    assert totals == pytest.approx([3.0, 4.0, 0.0, 8.0])
    assert hidden == [0.0, 0.0, 0.0, 0.0]


def test_workloads_and_newest_hour(engine: Engine) -> None:
    with engine.connect() as connection:
        assert costs.newest_hour(connection=connection) is None
        assert costs.workloads(connection=connection) == []
    put_points(engine, [
        {"hour": T0, "cost": 1.0},
        {"hour": T0 + 30 * HOUR, "environment": "dev", "cost": 1.0},
        {"hour": T0 + 2 * HOUR, "project": "api", "owner": "team-api", "cost": 1.0},
    ])
    with engine.connect() as connection:
        assert costs.workloads(connection=connection) == [
            ("api", "prod"), ("web", "dev"), ("web", "prod")]
        assert costs.workloads(connection=connection, owners={"team-api"}) == [("api", "prod")]
        newest = costs.newest_hour(connection=connection)
    assert newest == T0 + 30 * HOUR
    assert newest.utcoffset() == timedelta(0)


def _anomaly(n: int, *, status: str, owner: str = "team-web") -> Anomaly:
    started = T0 + n * HOUR
    return Anomaly(project=f"p{n}", environment="prod", owner=owner, phase="run", kind="spike",
                   status=status, started_at=started, detected_at=started + HOUR,
                   last_seen_at=started + 2 * HOUR, impact_usd=float(n))


def test_anomalies_newest_first_without_excluded_statuses(engine: Engine) -> None:
    with Session(engine) as session:
        session.add_all([
            _anomaly(1, status="open"), _anomaly(2, status="resolved"),
            _anomaly(3, status="acknowledged"), _anomaly(4, status="open", owner="team-api"),
            _anomaly(5, status="expected"),
        ])
        session.commit()
    closed = {"resolved", "expected"}
    with engine.connect() as connection:
        rows, total = costs.anomalies(connection=connection, exclude_statuses=closed)
        first, count = costs.anomalies(connection=connection, exclude_statuses=closed, limit=1)
        web, web_total = costs.anomalies(connection=connection, exclude_statuses=closed,
                                         owners={"team-web"})
        none, zero = costs.anomalies(connection=connection, exclude_statuses=closed, owners=set())
    assert [r["project"] for r in rows] == ["p4", "p3", "p1"] and total == 3
    assert [r["project"] for r in first] == ["p4"] and count == 3
    assert [r["project"] for r in web] == ["p3", "p1"] and web_total == 2
    assert (none, zero) == ([], 0)
    assert rows[0]["started_at"] == T0 + 4 * HOUR


def test_runbook_entries_newest_first(engine: Engine) -> None:
    with Session(engine) as session:
        for n, project in enumerate(["web", "web", "api", "web"]):
            session.add(RunbookEntry(project=project, environment="prod", service_name="EC2",
                                     root_cause=f"cause {n}", fix="fix", prevention="watch",
                                     author="ana", created_at=T0 + n * DAY))
        session.commit()
    with engine.connect() as connection:
        rows, total = costs.runbook_entries(connection=connection, project="web", limit=2)
        assert costs.runbook_entries(connection=connection, project="nope") == ([], 0)
    assert [r["root_cause"] for r in rows] == ["cause 3", "cause 1"]
    assert total == 3


def test_sums_go_through_the_series_hour_index(sqlite_url: str) -> None:
    """SQLite's plan: series first, then a range of hours per series; never a table scan."""
    engine = make_engine(sqlite_url)
    upgrade(engine)
    put_points(engine, [{"hour": T0 + 8 * DAY, "cost": 1.0}])
    statements: list[tuple[str, Any]] = []
    event.listen(engine, "before_cursor_execute",
                 lambda _c, _cur, sql, params, _ctx, _many: statements.append((sql, params)))
    try:
        with engine.connect() as connection:
            by_project(connection)
            by_service(connection, project="web", metric="billed_cost")
            costs.daily_totals(connection=connection, project="web",
                               edges=[T0 + 7 * DAY, T0 + 8 * DAY, T0 + 9 * DAY])
            costs.newest_hour(connection=connection)
            raw = connection.connection.driver_connection
            plans = [" | ".join(row[3] for row in raw.execute(f"EXPLAIN QUERY PLAN {sql}", params))
                     for sql, params in statements if "cost_point" in sql]
    finally:
        engine.dispose()
    assert len(plans) == 4
    for plan in plans:
        assert "USING COVERING INDEX ix_cost_point_series_hour_cost" in plan, plan
        assert "SCAN cost_point" not in plan, plan


def test_spend_per_key_and_charge_category_in_either_metric(engine: Engine) -> None:
    put_points(engine, [
        {"hour": T0 + 8 * DAY, "cost": 10.0},
        {"hour": T0 + 8 * DAY, "charge_category": "Credit", "cost": -4.0},
        {"hour": T0 + DAY, "charge_category": "Credit", "cost": -1.0},
        {"hour": T0 + 20 * DAY, "project": "later", "cost": 9.0},  # in neither period: no row
    ])
    with engine.connect() as connection:
        rows = costs.spend_compared(connection=connection, by="project", metric="billed_cost",
                                    **WINDOWS)
        with pytest.raises(ValueError, match="unknown metric"):
            costs.spend_compared(connection=connection, by="project", metric="list_cost", **WINDOWS)
    assert sorted(rows) == [("web", "Credit", -4.0, -1.0), ("web", "Usage", 10.0, 0.0)]
