"""Rolling days up on both databases: every reader's totals are the same before and after, per
ingest run too, and a second roll-up changes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from storage.models import CostPoint
from storage.queries import budgets, costs, digest, points, showback
from storage.queries import retention as retention_q
from tests.support.cost_points import put_points

T0 = datetime(2025, 3, 28, tzinfo=UTC)  # four days of March, then April: two billing periods
DAY, HOUR = timedelta(days=1), timedelta(hours=1)
DAYS = 10
EDGES = [T0 + n * DAY for n in range(DAYS + 1)]


def _hourly(run_scale: float, **series: Any) -> list[dict[str, Any]]:
    return [{"hour": T0 + n * HOUR, "cost": run_scale * (1 + (n % 24) / 10) + n / 1000,
             **series} for n in range(DAYS * 24)]


@pytest.fixture
def store(engine: Engine) -> Engine:
    put_points(engine, _hourly(1.0) + _hourly(2.0, project="api", owner="team-api",
                                              phase="build"))
    put_points(engine, _hourly(0.5, billing_account_id="ba-2"))  # a second ingest run
    return engine


def every_answer(engine: Engine) -> dict[str, Any]:
    """What each reader of cost_point says over day-aligned periods holding the days."""
    start, end = EDGES[0], EDGES[-1]
    with engine.connect() as connection:
        compared = sorted(costs.spend_compared(
            connection=connection, by="project", start=T0 + 5 * DAY, end=end,
            previous_start=start, previous_end=T0 + 5 * DAY))
        frame = showback.series_spend(connection=connection, start=start, end=end)
        by_day = budgets.project_spend(connection=connection, projects=["web", "api"],
                                       start=start, end=end)
        answers = {
            "spend_compared": [(r.key, round(r.cost, 6), round(r.previous, 6))
                               for r in compared],
            "daily_totals": [round(v, 6) for v in costs.daily_totals(
                connection=connection, project="web", edges=EDGES)],
            "showback": round(float(frame.select_dtypes("number").sum().sum()), 6),
            "owner_spend": sorted((o, round(s, 6)) for o, s in budgets.owner_spend(
                connection=connection, project="web", environment=None, start=start,
                end=end)),
            "project_spend": _rounded(by_day),
            "phases": sorted((p, e, ph, round(s, 6)) for p, e, ph, s in budgets.phases_spend(
                connection=connection, start=start, end=end)),
            "digest": sorted((r.project, r.bucket, round(r.cost, 6))
                             for r in digest.spend_by_project_and_day(
                                 connection=connection, edges=EDGES[::2])),
            "per_run": {account: {run: (rows, round(spend, 6)) for run, (rows, spend) in
                                  points.scope_totals_by_run(
                                      connection=connection, account=account,
                                      period=period).items()}
                        for account in ("ba-1", "ba-2")
                        for period in (datetime(2025, 3, 1, tzinfo=UTC),
                                       datetime(2025, 4, 1, tzinfo=UTC))},
        }
    return answers


def _rounded(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    rows = [tuple(round(v, 6) if isinstance(v, float) else str(v) for v in row)
            for row in frame.itertuples(index=False, name=None)]
    return sorted(rows)


def stored_points(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return sorted(tuple(row) for row in connection.execute(select(
            CostPoint.series_id, CostPoint.ingest_run_id, CostPoint.hour,
            CostPoint.billing_period_start, CostPoint.hours, CostPoint.line_items)))


def roll_up_before(engine: Engine, before: datetime) -> int:
    with engine.connect() as connection:
        days = retention_q.days_to_roll_up(connection=connection, before=before)
    for first, end in retention_q.day_chunks(days, size=3):
        with engine.begin() as connection:
            retention_q.roll_up(connection=connection, start=first, end=end)
    return len(days)


def test_every_reader_gives_the_same_totals_after_days_are_rolled_up(store: Engine):
    before = every_answer(store)
    assert roll_up_before(store, T0 + 7 * DAY) == 7
    after = every_answer(store)
    for reader, answer in before.items():
        assert after[reader] == answer, reader


def test_a_rolled_up_day_is_one_point_per_series_run_and_day_at_midnight(store: Engine):
    roll_up_before(store, T0 + 7 * DAY)
    stored = stored_points(store)
    daily = [p for p in stored if p[4] == 24]
    # three series over two runs, seven days: 21 points where there were 504
    assert len(daily) == 3 * 7
    assert {p[2].astimezone(UTC).time() for p in daily} == {datetime.min.time()}
    assert {p[5] for p in daily} == {24}  # line items add up
    assert len(stored) - len(daily) == 3 * 3 * 24  # the last three days stay hourly
    assert all(p[4] == 1 for p in stored if p[2] >= T0 + 7 * DAY)


def test_the_day_a_billing_period_starts_is_rolled_up_into_that_period(store: Engine):
    roll_up_before(store, T0 + 7 * DAY)
    periods = {(p[2].astimezone(UTC).date(), p[3].astimezone(UTC).date())
               for p in stored_points(store) if p[4] == 24}
    assert (date(2025, 3, 31), date(2025, 3, 1)) in periods
    assert (date(2025, 4, 1), date(2025, 4, 1)) in periods


def test_rolling_up_twice_changes_nothing(store: Engine):
    roll_up_before(store, T0 + 7 * DAY)
    once = stored_points(store)
    assert roll_up_before(store, T0 + 7 * DAY) == 0
    with store.begin() as connection:  # even asked for the same days again
        retention_q.roll_up(connection=connection, start=T0.date(), end=(T0 + 7 * DAY).date())
    assert [p[:5] for p in stored_points(store)] == [p[:5] for p in once]


def test_late_hourly_points_of_a_rolled_up_day_are_merged_by_the_next_roll_up(store: Engine):
    roll_up_before(store, T0 + 7 * DAY)
    put_points(store, [{"hour": T0 + 2 * DAY + 5 * HOUR, "cost": 7.0},
                       {"hour": T0 + 2 * DAY + 9 * HOUR, "cost": 3.0}])
    expected = every_answer(store)
    with store.connect() as connection:
        assert retention_q.days_to_roll_up(connection=connection, before=T0 + 7 * DAY) == [
            (T0 + 2 * DAY).date()]
    assert roll_up_before(store, T0 + 7 * DAY) == 1
    assert every_answer(store) == expected
    late = [p for p in stored_points(store) if p[2] == T0 + 2 * DAY and p[1] == 3]
    assert [(p[4], p[5]) for p in late] == [(24, 2)]


def test_counting_a_roll_up_first_predicts_it_exactly(store: Engine):
    start, end = T0.date(), (T0 + 4 * DAY).date()
    with store.connect() as connection:
        now, after = retention_q.groups_in(connection=connection, start=start, end=end)
        total = retention_q.count_points(connection=connection)
    assert (now, after) == (3 * 4 * 24, 3 * 4)
    with store.begin() as connection:
        assert retention_q.roll_up(connection=connection, start=start, end=end) == (now, after)
    with store.connect() as connection:
        assert retention_q.count_points(connection=connection) == total - now + after


@pytest.mark.parametrize(("days", "size", "chunks"), [
    ([], 7, []),
    ([1, 2, 3], 7, [(1, 4)]),
    ([1, 2, 3, 4, 5], 2, [(1, 3), (3, 5), (5, 6)]),
    ([5, 1, 2, 9], 7, [(1, 3), (5, 6), (9, 10)]),  # gaps split chunks; order does not matter
])
def test_days_are_chunked_into_runs_of_consecutive_days(days, size, chunks):
    def on(n: int) -> date:
        return date(2025, 1, n)
    assert list(retention_q.day_chunks([on(d) for d in days], size=size)) == [
        (on(a), on(b)) for a, b in chunks]


def test_hourly_readers_see_a_rolled_up_day_as_a_step_holding_its_total(store: Engine):
    with store.connect() as connection:
        hourly = points.load_points(connection=connection, project="web", columns=("project",),
                                    end=T0 + 7 * DAY)
    roll_up_before(store, T0 + 7 * DAY)
    with store.connect() as connection:
        stepped = points.load_points(connection=connection, project="web",
                                     columns=("project",), end=T0 + 7 * DAY)
    assert list(stepped.columns) == list(hourly.columns)
    assert len(stepped) == len(hourly) == 7 * 24
    days = [frame.set_index("hour")["effective_cost"].resample("D").sum().round(6).tolist()
            for frame in (hourly, stepped)]
    assert days[0] == days[1]
    one_day = stepped[stepped["hour"] < T0 + DAY]["effective_cost"]
    assert one_day.nunique() == 1  # flat within the day
