"""Cost lookups: periods, breakdowns against the previous period, unallocated spend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pandas as pd
import pytest

from bot.costs.periods import (
    BREAKDOWNS,
    Period,
    ReportError,
    choose_period,
    cut,
    parse_moment,
    period_between,
    period_for,
    summarise,
    unallocated,
)
from bot.ingest.allocation import UNALLOCATED

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


@pytest.mark.parametrize(("by", "column"),
                         [(b, c) for b, c in BREAKDOWNS.items() if b != "category"])
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


def test_summarise_keeps_rounding_dust_in_the_total_and_cut_sums_it() -> None:
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


def test_cut_sums_what_it_leaves_out_in_both_periods() -> None:
    data = points(*[{"hour": "2024-03-10T00:00Z", "project": f"p{n}", "effective_cost": n}
                    for n in range(1, 6)],
                  {"hour": "2024-03-02T00:00Z", "project": "p1", "effective_cost": 7.0})
    summary = summarise(data, period=PERIOD, by="project")
    shown = cut(summary.rows, limit=2)
    assert list(shown.shown["key"]) == ["p5", "p4"]
    assert (shown.hidden, shown.hidden_cost, shown.hidden_previous) == (3, 6.0, 7.0)
    with pytest.raises(ReportError, match="--top 0"):
        cut(summary.rows, limit=0)


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


# --- the total whatever the breakdown; charges other than usage apart --------------------------

MIXED = points(
    {"hour": "2024-03-10T00:00Z", "project": "web", "service_name": "Amazon EC2",
     "effective_cost": 60.0, "billed_cost": 70.0},
    {"hour": "2024-03-11T00:00Z", "project": "api", "service_name": "Amazon S3",
     "region": None, "effective_cost": 0.004, "billed_cost": 0.004},
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
def test_the_total_is_every_point_whatever_the_breakdown(by: str, metric: str) -> None:
    summary = summarise(MIXED, period=PERIOD, by=by, metric=metric)
    expected = {"effective": (99.004, -910.0), "billed": (609.004, -910.0)}[metric]
    assert (summary.total, summary.previous_total) == pytest.approx(expected)
    assert summary.usage_total + summary.other["cost"].sum() == pytest.approx(expected[0])
    assert summary.usage_previous + summary.other["previous"].sum() == pytest.approx(expected[1])
    assert summary.metric == metric


def test_credits_and_purchases_are_rows_of_their_own() -> None:
    summary = summarise(MIXED, period=PERIOD, by="project")
    assert by_key(summary.rows)["platform"]["change"] == pytest.approx(2.0)  # usage only
    other = {(r["charge_category"], r["key"]): (r["cost"], r["previous"])
             for r in summary.other.to_dict("records")}
    assert other == {("Credit", "platform"): (0.0, -1000.0), ("Credit", UNALLOCATED): (-3.0, 0.0),
                     ("Purchase", "web"): (0.0, 0.0)}
    assert list(summary.other["key"])[0] == "platform"  # the largest amount first


def test_the_biggest_mover_is_usage_never_a_credit() -> None:
    summary = summarise(MIXED, period=PERIOD, by="project")
    assert summary.total - summary.previous_total == pytest.approx(1009.004)  # mostly a credit
    mover = summary.biggest_mover
    assert mover is not None
    assert (mover["key"], mover["change"]) == ("web", pytest.approx(10.0))


def test_no_biggest_mover_without_a_previous_period() -> None:
    data = points({"hour": "2024-03-10T00:00Z", "project": "web", "effective_cost": 5.0})
    assert summarise(data, period=PERIOD, by="project").biggest_mover is None


def test_by_category_the_categories_are_the_keys() -> None:
    summary = summarise(MIXED, period=PERIOD, by="category")
    assert list(summary.rows["key"]) == ["Usage"]
    assert sorted(summary.other["key"]) == ["Credit", "Purchase"]


# --- unallocated ------------------------------------------------------------------------------


def test_unallocated_counts_credits_and_every_service() -> None:
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


def test_unallocated_everything_allocated_and_no_data() -> None:
    data = points({"hour": "2024-03-10T00:00Z", "project": "web", "effective_cost": 60.0})
    loose, total = unallocated(data, period=PERIOD)
    assert (loose.total, total) == (0.0, 60.0)
    assert loose.rows.empty and loose.other.empty
    loose, total = unallocated(points(), period=PERIOD)
    assert (loose.total, total) == (0.0, 0.0)


# --- --start / --end --------------------------------------------------------------------------

DATA_END = utc(2024, 9, 30, 12)


@pytest.mark.parametrize(("text", "moment"), [
    ("2024-09-01", utc(2024, 9, 1)),
    ("2024-09-01T06:00Z", utc(2024, 9, 1, 6)),
    ("2024-09-01T06", utc(2024, 9, 1, 6)),
    ("2024-09-01T08:00+02:00", utc(2024, 9, 1, 6)),
    (" 20240901 ", utc(2024, 9, 1)),
])
def test_parse_moment_reads_iso_dates_and_times_as_utc(text: str, moment: datetime) -> None:
    assert parse_moment(text, option="--start") == moment


@pytest.mark.parametrize(("text", "message"), [
    ("yesterday", "--start 'yesterday' is not an ISO 8601 date or time; use e.g. 2024-09-01"),
    ("2024-13-01", "not an ISO 8601 date"),
    ("2024-09-01T06:30", "not on the hour; spend is hourly, so give a whole hour such as "
                         "2024-09-01T06:00Z"),
])
def test_parse_moment_says_what_to_type(text: str, message: str) -> None:
    with pytest.raises(ReportError, match=message):
        parse_moment(text, option="--start")


def test_a_period_between_start_and_end_and_the_one_before() -> None:
    period = choose_period(last=None, start="2024-09-01", end="2024-09-08", as_of=None,
                           data_end=DATA_END)
    assert period == Period("7 days", utc(2024, 9, 1), utc(2024, 9, 8), utc(2024, 8, 25),
                            utc(2024, 9, 1))
    hours = period_between(utc(2024, 9, 1), utc(2024, 9, 2, 12))
    assert hours.label == "36 hours" and hours.previous_start == utc(2024, 8, 30, 12)


def test_start_without_end_runs_to_the_newest_data() -> None:
    period = choose_period(last=None, start="2024-09-29", end=None, as_of=None,
                           data_end=DATA_END)
    assert (period.start, period.end, period.label) == (utc(2024, 9, 29), DATA_END, "36 hours")


def test_without_start_it_is_last_7_days_of_data() -> None:
    assert choose_period(last=None, start=None, end=None, as_of=None,
                         data_end=DATA_END) == period_for("7d", as_of=DATA_END)
    as_of = utc(2024, 9, 10)
    assert choose_period(last="24h", start=None, end=None, as_of=as_of.replace(tzinfo=None),
                         data_end=DATA_END) == period_for("24h", as_of=as_of)


@pytest.mark.parametrize(("options", "message"), [
    ({"start": "2024-09-08", "end": "2024-09-01"},
     r"--end 2024-09-01 00:00 must be after --start 2024-09-08 00:00 \(UTC; --end is "
     r"exclusive\)"),
    ({"start": "2024-09-01", "end": "2024-09-01"}, "must be after --start"),
    ({"start": "2024-09-01", "last": "7d"}, "--last and --start cannot be combined"),
    ({"end": "2024-09-01"}, "--end needs --start"),
    ({"start": "2024-09-01", "as_of": DATA_END}, "--as-of goes with --last"),
    ({"start": "Sept 1"}, "--start 'Sept 1' is not an ISO 8601 date or time"),
    ({"start": "2024-09-01", "end": "soon"}, "--end 'soon' is not an ISO 8601 date or time"),
])
def test_period_options_that_do_not_fit_say_so(options: dict, message: str) -> None:
    arguments = {"last": None, "start": None, "end": None, "as_of": None, **options}
    with pytest.raises(ReportError, match=message):
        choose_period(**arguments, data_end=DATA_END)
