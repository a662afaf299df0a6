"""Cost lookups: periods, breakdowns against the previous period, unallocated spend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pandas as pd
import pytest

from bot.allocation import UNALLOCATED
from bot.reports import BREAKDOWNS, Period, ReportError, period_for, summarise, unallocated_share

AS_OF = datetime(2024, 3, 15, 10, 0, tzinfo=UTC)
POINT_COLUMNS = [
    "hour", "project", "environment", "owner", "service_name", "region", "charge_category",
    "sub_account_name", "billed_cost", "effective_cost",
]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def points(*rows: dict) -> pd.DataFrame:
    """Hourly points shaped like storage.repositories.load_points returns them."""
    defaults = {
        "project": "web", "environment": "prod", "owner": "team-web",
        "service_name": "Amazon EC2", "region": "us-east-1", "charge_category": "Usage",
        "sub_account_name": "web-prod",
    }
    records = []
    for row in rows:
        record = {**defaults, **row}
        record.setdefault("billed_cost", record["effective_cost"])
        records.append(record)
    frame = pd.DataFrame(records, columns=POINT_COLUMNS)
    if not frame.empty:
        frame["hour"] = pd.to_datetime(frame["hour"], utc=True)
    return frame


def by_key(summary_rows: pd.DataFrame) -> dict[str, dict]:
    return {row["key"]: row for row in summary_rows.to_dict("records")}


# --- period_for -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("last", "label", "span"),
    [
        ("7d", "last 7 days", timedelta(days=7)),
        ("30d", "last 30 days", timedelta(days=30)),
        ("24h", "last 24 hours", timedelta(hours=24)),
        (" 7D ", "last 7 days", timedelta(days=7)),
    ],
)
def test_period_for_last_days_and_hours(last: str, label: str, span: timedelta) -> None:
    period = period_for(last, as_of=AS_OF)
    assert period == Period(label, AS_OF - span, AS_OF, AS_OF - 2 * span, AS_OF - span)


def test_period_for_one_hour() -> None:
    period = period_for("1h", as_of=AS_OF)
    assert (period.start, period.end) == (AS_OF - timedelta(hours=1), AS_OF)
    assert (period.previous_start, period.previous_end) == (
        AS_OF - timedelta(hours=2),
        AS_OF - timedelta(hours=1),
    )


def test_period_ends_at_the_start_of_the_as_of_hour() -> None:
    period = period_for("24h", as_of=utc(2024, 3, 15, 10, 59))
    assert period.end == utc(2024, 3, 15, 10)
    assert period.start == utc(2024, 3, 14, 10)


def test_period_converts_as_of_to_utc() -> None:
    as_of = datetime(2024, 3, 15, 12, 30, tzinfo=timezone(timedelta(hours=2)))
    period = period_for("7d", as_of=as_of)
    assert period.end == utc(2024, 3, 15, 10)
    assert period.end.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("as_of", "start", "previous_start", "previous_end"),
    [
        pytest.param(
            utc(2024, 3, 15, 10), utc(2024, 3, 1), utc(2024, 2, 1), utc(2024, 2, 15, 10),
            id="mid-month",
        ),
        pytest.param(
            utc(2024, 3, 1, 1), utc(2024, 3, 1), utc(2024, 2, 1), utc(2024, 2, 1, 1),
            id="second-hour-of-month",
        ),
        pytest.param(
            utc(2024, 3, 31, 5), utc(2024, 3, 1), utc(2024, 2, 1), utc(2024, 3, 1),
            id="longer-than-previous-month",
        ),
        pytest.param(
            utc(2024, 1, 20), utc(2024, 1, 1), utc(2023, 12, 1), utc(2023, 12, 20),
            id="january",
        ),
    ],
)
def test_period_month_to_date(
    as_of: datetime, start: datetime, previous_start: datetime, previous_end: datetime
) -> None:
    period = period_for("mtd", as_of=as_of)
    assert period.label == "month to date"
    assert (period.start, period.end) == (start, as_of)
    assert (period.previous_start, period.previous_end) == (previous_start, previous_end)


@pytest.mark.parametrize("as_of", [utc(2024, 3, 1, 0), utc(2024, 3, 1, 0, 45)])
def test_period_month_to_date_in_first_hour_reports_previous_month(as_of: datetime) -> None:
    period = period_for("MTD", as_of=as_of)
    assert period.start == utc(2024, 2, 1)
    assert period.end == utc(2024, 3, 1)
    assert period.previous_start == utc(2024, 1, 1)
    # compared with as many hours of January as February had (29 days in 2024)
    assert period.previous_end == utc(2024, 1, 30)
    assert period.end - period.start == period.previous_end - period.previous_start


@pytest.mark.parametrize("last", ["7x", "0d", "0h", "00d", "", "d", "7", "-7d", "7 d", "1000d",
                                  "1w", "ytd"])
def test_period_for_garbage_is_a_clear_error(last: str) -> None:
    with pytest.raises(ReportError) as info:
        period_for(last, as_of=AS_OF)
    message = str(info.value)
    assert "--last" in message
    assert "1d" in message or "7d" in message


def test_period_for_garbage_names_the_value_and_what_is_allowed() -> None:
    with pytest.raises(ReportError, match=r"'7x'.*7d, 30d, 24h or mtd"):
        period_for("7x", as_of=AS_OF)
    with pytest.raises(ReportError, match="at least 1h or 1d"):
        period_for("0d", as_of=AS_OF)


# --- summarise --------------------------------------------------------------------------------

PERIOD = period_for("7d", as_of=AS_OF)  # 2024-03-08 10:00 .. 2024-03-15 10:00; before: 03-01 ..


def test_summarise_totals_per_breakdown_against_previous_period() -> None:
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


def test_summarise_period_boundaries() -> None:
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


@pytest.mark.parametrize(("by", "column"), list(BREAKDOWNS.items()))
def test_summarise_every_breakdown_groups_its_column(by: str, column: str) -> None:
    data = points(
        {"hour": "2024-03-10T00:00Z", column: "x", "effective_cost": 5.0},
        {"hour": "2024-03-10T01:00Z", column: "x", "effective_cost": 7.0},
        {"hour": "2024-03-10T01:00Z", column: "y", "effective_cost": 20.0},
    )
    summary = summarise(data, period=PERIOD, by=by)
    assert list(summary.rows["key"]) == ["y", "x"]
    assert list(summary.rows["cost"]) == pytest.approx([20.0, 12.0])


def test_summarise_billed_metric() -> None:
    data = points(
        {"hour": "2024-03-10T00:00Z", "effective_cost": 5.0, "billed_cost": 50.0},
        {"hour": "2024-03-02T00:00Z", "effective_cost": 5.0, "billed_cost": 25.0},
    )
    effective = summarise(data, period=PERIOD, by="project")
    billed = summarise(data, period=PERIOD, by="project", metric="billed")
    assert (effective.total, effective.previous_total) == (5.0, 5.0)
    assert (billed.total, billed.previous_total) == (50.0, 25.0)
    assert billed.change_pct == pytest.approx(100.0)


def test_summarise_sorts_largest_first_credits_last() -> None:
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


def test_summarise_key_gone_this_period_drops_100_percent() -> None:
    data = points(
        {"hour": "2024-03-10T00:00Z", "project": "web", "effective_cost": 10.0},
        {"hour": "2024-03-02T00:00Z", "project": "old", "effective_cost": 40.0},
    )
    rows = by_key(summarise(data, period=PERIOD, by="project").rows)
    assert rows["old"]["cost"] == 0.0
    assert rows["old"]["change"] == pytest.approx(-40.0)
    assert rows["old"]["change_pct"] == pytest.approx(-100.0)


def test_summarise_new_spend_has_no_percentage() -> None:
    data = points(
        {"hour": "2024-03-10T00:00Z", "project": "brand-new", "effective_cost": 10.0},
        {"hour": "2024-03-11T00:00Z", "project": "also-new", "effective_cost": 5.0},
    )
    summary = summarise(data, period=PERIOD, by="project")
    assert list(summary.rows["change_pct"]) == [None, None]
    assert summary.previous_total == 0.0
    assert summary.change_pct is None


def test_summarise_new_key_has_no_percentage_beside_existing_keys() -> None:
    data = points(
        {"hour": "2024-03-10T00:00Z", "project": "web", "effective_cost": 20.0},
        {"hour": "2024-03-02T00:00Z", "project": "web", "effective_cost": 10.0},
        {"hour": "2024-03-10T00:00Z", "project": "brand-new", "effective_cost": 5.0},
    )
    rows = by_key(summarise(data, period=PERIOD, by="project").rows)
    assert rows["web"]["change_pct"] == pytest.approx(100.0)
    assert rows["brand-new"]["change_pct"] is None  # the CLI prints "new" only for None


def test_summarise_drops_rounding_dust() -> None:
    data = points(
        {"hour": "2024-03-10T00:00Z", "project": "dust", "effective_cost": 0.001},
        {"hour": "2024-03-02T00:00Z", "project": "dust", "effective_cost": 0.002},
        {"hour": "2024-03-10T00:00Z", "project": "real", "effective_cost": 0.01},
    )
    summary = summarise(data, period=PERIOD, by="project")
    assert list(summary.rows["key"]) == ["real"]


def test_summarise_no_data() -> None:
    summary = summarise(points(), period=PERIOD, by="service")
    assert summary.rows.empty
    assert summary.total == 0.0
    assert summary.change_pct is None


def test_summarise_categorical_columns() -> None:
    data = points(
        {"hour": "2024-03-10T00:00Z", "project": "a", "effective_cost": 2.0},
        {"hour": "2024-03-02T00:00Z", "project": "b", "effective_cost": 3.0},
        {"hour": "2024-03-02T00:00Z", "project": "a", "effective_cost": 1.0},
    )
    data["project"] = data["project"].astype("category")
    rows = by_key(summarise(data, period=PERIOD, by="project").rows)
    assert {k: (r["cost"], r["previous"]) for k, r in rows.items()} == {
        "a": (2.0, 1.0),
        "b": (0.0, 3.0),
    }


@pytest.mark.parametrize("by", ["team", "services", "Project", ""])
def test_summarise_unknown_breakdown_lists_allowed(by: str) -> None:
    with pytest.raises(ReportError) as info:
        summarise(points(), period=PERIOD, by=by)
    message = str(info.value)
    assert repr(by) in message
    for allowed in BREAKDOWNS:
        assert allowed in message


def test_summarise_unknown_metric() -> None:
    with pytest.raises(ReportError, match="effective or billed"):
        summarise(points(), period=PERIOD, by="project", metric="list")


# --- unallocated_share ------------------------------------------------------------------------


def test_unallocated_share() -> None:
    data = points(
        {"hour": "2024-03-10T00:00Z", "project": "web", "effective_cost": 60.0},
        {"hour": "2024-03-10T00:00Z", "project": UNALLOCATED, "service_name": "Amazon S3",
         "sub_account_name": "data", "effective_cost": 15.0},
        {"hour": "2024-03-11T00:00Z", "project": UNALLOCATED, "service_name": "Amazon S3",
         "sub_account_name": "data", "effective_cost": 5.0},
        {"hour": "2024-03-10T00:00Z", "project": UNALLOCATED, "service_name": "Amazon EC2",
         "sub_account_name": "sandbox", "effective_cost": 25.0},
        {"hour": "2024-03-10T00:00Z", "project": UNALLOCATED, "service_name": "Amazon S3",
         "sub_account_name": "sandbox", "effective_cost": 1.0},
        # previous period: not counted
        {"hour": "2024-03-02T00:00Z", "project": UNALLOCATED, "service_name": "Amazon RDS",
         "sub_account_name": "data", "effective_cost": 500.0},
    )
    loose, total, detail = unallocated_share(data, period=PERIOD)
    assert loose == pytest.approx(46.0)
    assert total == pytest.approx(106.0)
    assert detail.to_dict("records") == [
        {"service_name": "Amazon EC2", "sub_account_name": "sandbox", "cost": 25.0},
        {"service_name": "Amazon S3", "sub_account_name": "data", "cost": 20.0},
        {"service_name": "Amazon S3", "sub_account_name": "sandbox", "cost": 1.0},
    ]


def test_unallocated_share_everything_allocated() -> None:
    data = points({"hour": "2024-03-10T00:00Z", "project": "web", "effective_cost": 60.0})
    loose, total, detail = unallocated_share(data, period=PERIOD)
    assert (loose, total) == (0.0, 60.0)
    assert detail.empty


def test_unallocated_share_no_data() -> None:
    loose, total, detail = unallocated_share(points(), period=PERIOD)
    assert (loose, total) == (0.0, 0.0)
    assert detail.empty
