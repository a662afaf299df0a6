"""Month-end forecasts on series whose right answer can be worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest

from bot.finance.forecast import (
    ForecastError,
    ForecastModel,
    daily_totals,
    forecast_month_end,
    forecast_series,
)

NOV_16 = datetime(2026, 11, 16, tzinfo=UTC)  # a Monday; 1 November 2026 is a Sunday


def days(start: str, values: list[float] | np.ndarray) -> pd.Series:
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="D"))


def weekly(start: str, n: int, weekday: float, weekend: float) -> pd.Series:
    index = pd.date_range(start, periods=n, freq="D")
    return pd.Series(np.where(index.day_of_week >= 5, weekend, weekday), index=index)


def test_flat_spend_forecasts_spent_plus_the_same_for_each_remaining_day() -> None:
    result = forecast_month_end(days("2026-09-01", [100.0] * 90), as_of=datetime(
        2026, 11, 15, 9, tzinfo=UTC))
    assert result.model is ForecastModel.SEASONAL_NAIVE
    assert (result.month, result.days_elapsed, result.days_remaining) == (date(2026, 11, 1),
                                                                          14, 16)
    assert result.spend_to_date == pytest.approx(1400)
    assert result.forecast == pytest.approx(1400 + 100 * 16)
    assert (result.low, result.high) == pytest.approx((3000, 3000))
    assert result.note is None


def test_a_weekly_pattern_is_carried_to_the_remaining_weekdays_and_weekends() -> None:
    result = forecast_month_end(weekly("2026-09-07", 80, 100, 300), as_of=NOV_16,
                                model="seasonal-naive")
    # known 1-15 Nov: Sundays 1, 8, 15 and Saturdays 7, 14 at 300, ten weekdays at 100
    assert result.spend_to_date == pytest.approx(5 * 300 + 10 * 100)
    # 16-30 Nov: Saturdays 21, 28 and Sundays 22, 29 at 300, eleven weekdays at 100
    assert result.forecast == pytest.approx(2500 + 4 * 300 + 11 * 100)


def test_the_interval_widens_with_noise_and_holds_the_forecast() -> None:
    rng = np.random.default_rng(7)
    base = weekly("2026-08-03", 105, 100, 300)
    quiet = forecast_month_end(base + rng.normal(0, 3, len(base)), as_of=NOV_16)
    noisy = forecast_month_end(base + rng.normal(0, 30, len(base)), as_of=NOV_16)
    for result in (quiet, noisy):
        assert result.low < result.forecast < result.high
        assert result.low >= result.spend_to_date
    assert noisy.high - noisy.low > 3 * (quiet.high - quiet.low)


def test_a_higher_level_gives_a_wider_interval() -> None:
    rng = np.random.default_rng(3)
    series = weekly("2026-08-03", 105, 100, 300) + rng.normal(0, 20, 105)
    narrow = forecast_month_end(series, as_of=NOV_16, level=0.5)
    wide = forecast_month_end(series, as_of=NOV_16, level=0.95)
    assert wide.low < narrow.low and wide.high > narrow.high


def test_short_history_falls_back_to_the_run_rate_with_a_wide_interval_and_says_so() -> None:
    result = forecast_month_end(days("2026-11-01", [50.0] * 10),
                                as_of=datetime(2026, 11, 11, tzinfo=UTC), model="ets")
    assert result.model is ForecastModel.RUN_RATE
    assert result.note is not None and "only 10 days of history" in result.note
    assert result.forecast == pytest.approx(500 + 50 * 20)
    assert (result.low, result.high) == pytest.approx((500 + 25 * 20, 500 + 75 * 20))


def test_a_month_that_just_started_has_nothing_spent_and_every_day_to_come() -> None:
    result = forecast_month_end(days("2026-09-01", [100.0] * 91),
                                as_of=datetime(2026, 12, 1, tzinfo=UTC))
    assert (result.month, result.days_elapsed, result.days_remaining) == (date(2026, 12, 1),
                                                                          0, 31)
    assert result.spend_to_date == 0
    assert result.forecast == pytest.approx(3100)


def test_on_the_last_day_only_that_day_is_forecast() -> None:
    result = forecast_month_end(days("2026-09-01", [100.0] * 91),
                                as_of=datetime(2026, 11, 30, 23, tzinfo=UTC))
    assert result.days_remaining == 1
    assert result.forecast == pytest.approx(2900 + 100)


def test_days_at_or_after_as_of_are_not_used() -> None:
    series = weekly("2026-08-03", 120, 100, 300)
    later = series.copy()
    later[later.index >= "2026-11-16"] = 10_000.0
    assert forecast_month_end(later, as_of=NOV_16) == forecast_month_end(series, as_of=NOV_16)


def test_missing_days_spent_nothing_and_zero_spend_forecasts_zero() -> None:
    full = weekly("2026-08-03", 105, 100, 0)
    sparse = full[full > 0]
    assert forecast_month_end(sparse, as_of=NOV_16).forecast == pytest.approx(
        forecast_month_end(full, as_of=NOV_16).forecast)
    zero = forecast_month_end(days("2026-09-01", [0.0] * 60), as_of=NOV_16, model="ets")
    assert (zero.forecast, zero.low, zero.high) == (0, 0, 0)


def test_ets_follows_a_noisy_weekly_pattern_within_a_few_percent() -> None:
    rng = np.random.default_rng(11)
    series = weekly("2026-08-03", 105, 100, 300) + rng.normal(0, 10, 105)
    result = forecast_month_end(series, as_of=NOV_16, model="ets")
    assert result.model is ForecastModel.ETS
    truth = series[series.index < "2026-11-16"]["2026-11"].sum() + 2300
    assert result.forecast == pytest.approx(truth, rel=0.05)
    assert result.low < result.forecast < result.high


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"as_of": datetime(2026, 11, 16)}, "timezone-aware"),
    ({"model": "prophet"}, "unknown forecast model 'prophet'"),
    ({"level": 80}, "level must lie between 0 and 1"),
    ({"as_of": datetime(2026, 8, 1, tzinfo=UTC)}, "no spend history before 2026-08-01"),
])
def test_bad_input_says_what_was_wrong(kwargs: dict, message: str) -> None:
    arguments = {"as_of": NOV_16, "model": "auto", "level": 0.8, **kwargs}
    with pytest.raises(ForecastError, match=message):
        forecast_month_end(weekly("2026-08-03", 105, 100, 300), **arguments)


def test_hourly_points_become_daily_totals_per_series_and_forecasts_per_series() -> None:
    hours = pd.date_range("2026-10-01", "2026-11-15 23:00", freq="h", tz="UTC")
    points = pd.concat([
        pd.DataFrame({"hour": hours, "project": "chat", "environment": "prod",
                      "effective_cost": 1.0}),
        pd.DataFrame({"hour": hours[::2], "project": "search", "environment": "dev",
                      "effective_cost": 0.5}),
    ])
    daily = daily_totals(points, by=["project"])
    assert list(daily.columns) == ["chat", "search"]
    assert daily.loc["2026-10-02", "chat"] == 24.0 and daily.loc["2026-10-02", "search"] == 6.0
    forecasts = forecast_series(daily, as_of=NOV_16)
    assert forecasts["chat"].forecast == pytest.approx(24 * 30)
    assert forecasts["search"].forecast == pytest.approx(6 * 30)
    assert list(daily_totals(points, by=["project", "environment"]).columns) == [
        ("chat", "prod"), ("search", "dev")]
    with pytest.raises(ForecastError, match="no column team"):
        daily_totals(points, by=["team"])
