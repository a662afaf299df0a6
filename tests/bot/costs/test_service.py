"""Spend of a period against the one before, summed in the database: breakdowns, charges other
than usage apart, totals over every charge, unallocated spend, on both databases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from sqlalchemy.engine import Engine

from bot.costs import service
from bot.costs.periods import ReportError, period_for
from bot.costs.service import BREAKDOWNS, CostSummary, cut
from bot.ingest.allocation import UNALLOCATED
from tests.support.cost_points import put_points

AS_OF = datetime(2024, 3, 15, 10, 0, tzinfo=UTC)
PERIOD = period_for("7d", as_of=AS_OF)  # 2024-03-08 10:00 .. 2024-03-15 10:00; before: 03-01 ..
Points = Callable[..., Engine]


@pytest.fixture
def points(engine: Engine) -> Points:
    """Puts hourly points (``hour``, ``effective_cost``, series columns) in the store."""
    def put(*rows: dict[str, Any]) -> Engine:
        if rows:
            put_points(engine, rows)
        return engine
    return put


def summarise(engine: Engine, **options: Any) -> CostSummary:
    with engine.connect() as connection:
        return service.summarise(connection, **options)


def unallocated(engine: Engine, **options: Any) -> tuple[CostSummary, float]:
    with engine.connect() as connection:
        return service.unallocated(connection, **options)


def by_key(summary_rows: pd.DataFrame) -> dict[str, dict]:
    return {row["key"]: row for row in summary_rows.to_dict("records")}


# --- summarise --------------------------------------------------------------------------------


def test_summarise_totals_per_breakdown_against_previous_period(points: Points) -> None:
    data = points(
        {"hour": "2024-03-10T00:00Z", "service_name": "Amazon EC2", "effective_cost": 60.0},
        {"hour": "2024-03-12T05:00Z", "service_name": "Amazon EC2", "effective_cost": 40.0},
        {"hour": "2024-03-11T00:00Z", "service_name": "Amazon S3", "effective_cost": 30.0},
        {"hour": "2024-03-13T00:00Z", "service_name": "Amazon RDS", "effective_cost": 10.0},
        {"hour": "2024-03-02T00:00Z", "service_name": "Amazon EC2", "effective_cost": 80.0},
        {"hour": "2024-03-03T00:00Z", "service_name": "Amazon S3", "effective_cost": 40.0},
        {"hour": "2024-03-05T00:00Z", "service_name": "Amazon RDS", "effective_cost": 10.0},
        # outside both periods: ignored
        {"hour": "2024-02-20T00:00Z", "service_name": "Amazon EC2", "effective_cost": 999.0},
        {"hour": "2024-03-15T10:00Z", "service_name": "Amazon EC2", "effective_cost": 999.0},
    )
    summary = summarise(data, period=PERIOD, by="service")

    assert summary.by == "service"
    assert summary.period == PERIOD
    assert list(summary.rows["key"]) == ["Amazon EC2", "Amazon S3", "Amazon RDS"]
    rows = by_key(summary.rows)
    assert rows["Amazon EC2"]["cost"] == pytest.approx(100.0)
    assert rows["Amazon EC2"]["previous"] == pytest.approx(80.0)
    assert rows["Amazon EC2"]["change"] == pytest.approx(20.0)
    assert rows["Amazon EC2"]["change_pct"] == pytest.approx(25.0)
    assert rows["Amazon S3"]["change_pct"] == pytest.approx(-25.0)
    assert rows["Amazon RDS"]["change_pct"] == pytest.approx(0.0)
    assert rows["Amazon EC2"]["share"] == pytest.approx(100 / 140 * 100)
    assert summary.rows["share"].sum() == pytest.approx(100.0)
    assert summary.total == pytest.approx(140.0)
    assert summary.previous_total == pytest.approx(130.0)
    assert summary.change_pct == pytest.approx(10 / 130 * 100)


def test_summarise_period_boundaries(points: Points) -> None:
    data = points(
        {"hour": PERIOD.start, "project": "a", "effective_cost": 1.0},  # first hour: in
        {"hour": PERIOD.end - timedelta(hours=1), "project": "a", "effective_cost": 2.0},
        {"hour": PERIOD.end, "project": "a", "effective_cost": 100.0},  # end is exclusive
        {"hour": PERIOD.previous_start, "project": "a", "effective_cost": 4.0},
        {"hour": PERIOD.start - timedelta(hours=1), "project": "a", "effective_cost": 8.0},
        {"hour": PERIOD.previous_start - timedelta(hours=1), "project": "a",
         "effective_cost": 100.0},
    )
    summary = summarise(data, period=PERIOD, by="project")
    assert summary.total == pytest.approx(3.0)
    assert summary.previous_total == pytest.approx(12.0)


@pytest.mark.parametrize(("by", "column"),
                         [(b, c) for b, c in BREAKDOWNS.items() if b != "category"])
def test_summarise_every_breakdown_groups_its_column(points: Points, by: str, column: str) -> None:
    data = points(
        {"hour": "2024-03-10T00:00Z", column: "x", "effective_cost": 5.0},
        {"hour": "2024-03-10T01:00Z", column: "x", "effective_cost": 7.0},
        {"hour": "2024-03-10T01:00Z", column: "y", "effective_cost": 20.0},
    )
    summary = summarise(data, period=PERIOD, by=by)
    assert list(summary.rows["key"]) == ["y", "x"]
    assert list(summary.rows["cost"]) == pytest.approx([20.0, 12.0])


def test_summarise_billed_metric(points: Points) -> None:
    data = points(
        {"hour": "2024-03-10T00:00Z", "effective_cost": 5.0, "billed_cost": 50.0},
        {"hour": "2024-03-02T00:00Z", "effective_cost": 5.0, "billed_cost": 25.0},
    )
    effective = summarise(data, period=PERIOD, by="project")
    billed = summarise(data, period=PERIOD, by="project", metric="billed")
    assert (effective.total, effective.previous_total) == (5.0, 5.0)
    assert (billed.total, billed.previous_total) == (50.0, 25.0)
    assert billed.change_pct == pytest.approx(100.0)


def test_summarise_sorts_largest_first_credits_last(points: Points) -> None:
    data = points(
        {"hour": "2024-03-10T00:00Z", "project": "small", "effective_cost": 3.0},
        {"hour": "2024-03-10T00:00Z", "project": "credit", "effective_cost": -50.0},
        {"hour": "2024-03-10T00:00Z", "project": "big", "effective_cost": 300.0},
        {"hour": "2024-03-10T00:00Z", "project": "medium", "effective_cost": 30.0},
        {"hour": "2024-03-02T00:00Z", "project": "gone", "effective_cost": 10.0},
    )
    summary = summarise(data, period=PERIOD, by="project")
    assert list(summary.rows["key"]) == ["big", "medium", "small", "gone", "credit"]
    assert summary.total == pytest.approx(283.0)


def test_summarise_key_gone_this_period_drops_100_percent(points: Points) -> None:
    data = points(
        {"hour": "2024-03-10T00:00Z", "project": "web", "effective_cost": 10.0},
        {"hour": "2024-03-02T00:00Z", "project": "old", "effective_cost": 40.0},
    )
    rows = by_key(summarise(data, period=PERIOD, by="project").rows)
    assert rows["old"]["cost"] == 0.0
    assert rows["old"]["change"] == pytest.approx(-40.0)
    assert rows["old"]["change_pct"] == pytest.approx(-100.0)


def test_summarise_new_spend_has_no_percentage(points: Points) -> None:
    data = points(
        {"hour": "2024-03-10T00:00Z", "project": "brand-new", "effective_cost": 10.0},
        {"hour": "2024-03-11T00:00Z", "project": "also-new", "effective_cost": 5.0},
    )
    summary = summarise(data, period=PERIOD, by="project")
    assert list(summary.rows["change_pct"]) == [None, None]
    assert summary.previous_total == 0.0
    assert summary.change_pct is None


def test_summarise_new_key_has_no_percentage_beside_existing_keys(points: Points) -> None:
    data = points(
        {"hour": "2024-03-10T00:00Z", "project": "web", "effective_cost": 20.0},
        {"hour": "2024-03-02T00:00Z", "project": "web", "effective_cost": 10.0},
        {"hour": "2024-03-10T00:00Z", "project": "brand-new", "effective_cost": 5.0},
    )
    rows = by_key(summarise(data, period=PERIOD, by="project").rows)
    assert rows["web"]["change_pct"] == pytest.approx(100.0)
    assert rows["brand-new"]["change_pct"] is None  # the CLI prints "new" only for None


def test_summarise_keeps_rounding_dust_in_the_total_and_cut_sums_it(points: Points) -> None:
    data = points(
        {"hour": "2024-03-10T00:00Z", "project": "dust", "effective_cost": 0.004},
        {"hour": "2024-03-02T00:00Z", "project": "dust", "effective_cost": 0.002},
        {"hour": "2024-03-10T00:00Z", "project": "more-dust", "effective_cost": 0.004},
        {"hour": "2024-03-10T00:00Z", "project": "real", "effective_cost": 0.01},
    )
    summary = summarise(data, period=PERIOD, by="project")
    assert summary.total == pytest.approx(0.018)  # $0.02, not the $0.01 of the rows worth a line
    shown = cut(summary.rows, limit=10)
    assert list(shown.shown["key"]) == ["real"]
    assert (shown.hidden, shown.hidden_cost, shown.hidden_previous) == (
        2, pytest.approx(0.008), pytest.approx(0.002))


def test_cut_sums_what_it_leaves_out_in_both_periods(points: Points) -> None:
    data = points(*[{"hour": "2024-03-10T00:00Z", "project": f"p{n}", "effective_cost": n}
                    for n in range(1, 6)],
                  {"hour": "2024-03-02T00:00Z", "project": "p1", "effective_cost": 7.0})
    summary = summarise(data, period=PERIOD, by="project")
    shown = cut(summary.rows, limit=2)
    assert list(shown.shown["key"]) == ["p5", "p4"]
    assert (shown.hidden, shown.hidden_cost, shown.hidden_previous) == (3, 6.0, 7.0)
    with pytest.raises(ReportError, match="--top 0"):
        cut(summary.rows, limit=0)


def test_summarise_no_data(points: Points) -> None:
    summary = summarise(points(), period=PERIOD, by="service")
    assert summary.rows.empty
    assert summary.total == 0.0
    assert summary.change_pct is None


@pytest.mark.parametrize("by", ["team", "services", "Project", ""])
def test_summarise_unknown_breakdown_lists_allowed(points: Points, by: str) -> None:
    with pytest.raises(ReportError) as info:
        summarise(points(), period=PERIOD, by=by)
    message = str(info.value)
    assert repr(by) in message
    for allowed in BREAKDOWNS:
        assert allowed in message


def test_summarise_unknown_metric(points: Points) -> None:
    with pytest.raises(ReportError, match="effective or billed"):
        summarise(points(), period=PERIOD, by="project", metric="list")


# --- the total whatever the breakdown; charges other than usage apart --------------------------

MIXED = (
    {"hour": "2024-03-10T00:00Z", "project": "web", "service_name": "Amazon EC2",
     "effective_cost": 60.0, "billed_cost": 70.0},
    {"hour": "2024-03-11T00:00Z", "project": "api", "service_name": "Amazon S3",
     "region": "", "effective_cost": 0.004, "billed_cost": 0.004},
    {"hour": "2024-03-12T00:00Z", "project": UNALLOCATED, "service_name": "Amazon EC2",
     "charge_category": "Credit", "effective_cost": -3.0, "billed_cost": -3.0},
    {"hour": "2024-03-12T00:00Z", "project": "web", "service_name": "Savings Plans",
     "charge_category": "Purchase", "effective_cost": 0.0, "billed_cost": 500.0},
    {"hour": "2024-03-02T00:00Z", "project": "platform", "service_name": "Amazon EC2",
     "charge_category": "Credit", "effective_cost": -1000.0, "billed_cost": -1000.0},
    {"hour": "2024-03-02T00:00Z", "project": "platform", "effective_cost": 40.0},
    {"hour": "2024-03-10T00:00Z", "project": "platform", "effective_cost": 42.0},
    {"hour": "2024-03-02T00:00Z", "project": "web", "effective_cost": 50.0},
)


@pytest.mark.parametrize("metric", ["effective", "billed"])
@pytest.mark.parametrize("by", list(BREAKDOWNS))
def test_the_total_is_every_point_whatever_the_breakdown(points: Points, by: str,
                                                         metric: str) -> None:
    summary = summarise(points(*MIXED), period=PERIOD, by=by, metric=metric)
    expected = {"effective": (99.004, -910.0), "billed": (609.004, -910.0)}[metric]
    assert (summary.total, summary.previous_total) == pytest.approx(expected)
    assert summary.usage_total + summary.other["cost"].sum() == pytest.approx(expected[0])
    assert summary.usage_previous + summary.other["previous"].sum() == pytest.approx(expected[1])
    assert summary.metric == metric


def test_credits_and_purchases_are_rows_of_their_own(points: Points) -> None:
    summary = summarise(points(*MIXED), period=PERIOD, by="project")
    assert by_key(summary.rows)["platform"]["change"] == pytest.approx(2.0)  # usage only
    other = {(r["charge_category"], r["key"]): (r["cost"], r["previous"])
             for r in summary.other.to_dict("records")}
    assert other == {("Credit", "platform"): (0.0, -1000.0), ("Credit", UNALLOCATED): (-3.0, 0.0),
                     ("Purchase", "web"): (0.0, 0.0)}
    assert list(summary.other["key"])[0] == "platform"  # the largest amount first


def test_the_biggest_mover_is_usage_never_a_credit(points: Points) -> None:
    summary = summarise(points(*MIXED), period=PERIOD, by="project")
    assert summary.total - summary.previous_total == pytest.approx(1009.004)  # mostly a credit
    mover = summary.biggest_mover
    assert mover is not None
    assert (mover["key"], mover["change"]) == ("web", pytest.approx(10.0))


def test_no_biggest_mover_without_a_previous_period(points: Points) -> None:
    data = points({"hour": "2024-03-10T00:00Z", "project": "web", "effective_cost": 5.0})
    assert summarise(data, period=PERIOD, by="project").biggest_mover is None


def test_by_category_the_categories_are_the_keys(points: Points) -> None:
    summary = summarise(points(*MIXED), period=PERIOD, by="category")
    assert list(summary.rows["key"]) == ["Usage"]
    assert sorted(summary.other["key"]) == ["Credit", "Purchase"]


# --- unallocated ------------------------------------------------------------------------------


def test_unallocated_counts_credits_and_every_service(points: Points) -> None:
    data = points(
        {"hour": "2024-03-10T00:00Z", "project": "web", "effective_cost": 60.0},
        {"hour": "2024-03-10T00:00Z", "project": UNALLOCATED, "service_name": "Amazon S3",
         "sub_account_name": "data", "effective_cost": 15.0},
        {"hour": "2024-03-11T00:00Z", "project": UNALLOCATED, "service_name": "Amazon EC2",
         "sub_account_name": "sandbox", "effective_cost": 9.0},
        {"hour": "2024-03-11T00:00Z", "project": UNALLOCATED, "service_name": "Amazon EC2",
         "charge_category": "Credit", "effective_cost": -12.0},
        {"hour": "2024-03-02T00:00Z", "project": UNALLOCATED, "service_name": "Amazon RDS",
         "sub_account_name": "data", "effective_cost": 500.0},
    )
    loose, total = unallocated(data, period=PERIOD)
    assert (loose.total, total) == pytest.approx((12.0, 72.0))
    assert loose.previous_total == pytest.approx(500.0)
    assert list(loose.rows["key"]) == ["Amazon S3", "Amazon EC2", "Amazon RDS"]
    assert loose.other.to_dict("records")[0]["cost"] == -12.0
    by_account, _ = unallocated(data, period=PERIOD, by="account")
    assert set(by_account.rows["key"]) == {"data", "sandbox"}


def test_unallocated_everything_allocated_and_no_data(points: Points) -> None:
    data = points({"hour": "2024-03-10T00:00Z", "project": "web", "effective_cost": 60.0})
    loose, total = unallocated(data, period=PERIOD)
    assert (loose.total, total) == (0.0, 60.0)
    assert loose.rows.empty and loose.other.empty


def test_unallocated_of_an_empty_store(points: Points) -> None:
    loose, total = unallocated(points(), period=PERIOD)
    assert (loose.total, total) == (0.0, 0.0)


