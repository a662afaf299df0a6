"""The one "naive means UTC" rule, for whatever the store, a config file or Slack hands over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from storage.timeutil import as_utc, stored_utc


def test_naive_is_taken_as_utc_and_aware_is_converted():
    assert as_utc(datetime(2026, 9, 1, 9)) == datetime(2026, 9, 1, 9, tzinfo=UTC)
    paris = timezone(timedelta(hours=2))
    converted = as_utc(datetime(2026, 9, 1, 11, tzinfo=paris))
    assert converted == datetime(2026, 9, 1, 9, tzinfo=UTC) and converted.tzinfo is UTC


def test_stored_values_read_back_in_utc_from_datetimes_or_their_text():
    assert stored_utc(None) is None
    assert stored_utc("2026-09-01 09:00:00") == datetime(2026, 9, 1, 9, tzinfo=UTC)
    assert stored_utc("2026-09-01T09:00:00+00:00") == datetime(2026, 9, 1, 9, tzinfo=UTC)
    assert stored_utc(datetime(2026, 9, 1, 9)) == datetime(2026, 9, 1, 9, tzinfo=UTC)


# fixed offsets: a wall time inside a zone's DST gap has no single UTC moment to compare with
OFFSETS = st.builds(timezone, st.timedeltas(min_value=timedelta(hours=-23),
                                            max_value=timedelta(hours=23)))


@given(st.datetimes(timezones=st.none() | OFFSETS))
def test_the_same_moment_whatever_zone_it_came_in(moment):
    result = as_utc(moment)
    assert result.tzinfo is UTC
    assert result == (moment if moment.tzinfo else moment.replace(tzinfo=UTC))
