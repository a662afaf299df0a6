"""Periods of cost questions: --last, month to date, --start/--end, and the one before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.costs.periods import (
    Period,
    ReportError,
    choose_period,
    parse_moment,
    period_between,
    period_for,
)

AS_OF = datetime(2024, 3, 15, 10, 0, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


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
