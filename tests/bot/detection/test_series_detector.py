"""Table-driven tests of the detector on tiny hourly series: what must alert, what must not."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from bot.detection import Thresholds
from bot.detection.series import SeasonalDetector

HOURS = 24 * 35  # five weeks of history
INCIDENT = HOURS - 10  # the last ten hours are judged
INDEX = pd.date_range("2026-06-01", periods=HOURS, freq="h", tz="UTC")
HOUR = INDEX.hour.to_numpy()
WEEKDAY = INDEX.day_of_week.to_numpy()


def noisy(level: float, seed: int = 1, sd: float = 0.05) -> np.ndarray:
    rng = np.random.default_rng(seed)
    daily = 1 + 0.3 * np.sin((HOUR - 8) / 24 * 2 * np.pi)
    return level * daily * rng.lognormal(0, sd, HOURS)


def with_last_hours(values: np.ndarray, change: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    out = values.copy()
    out[INCIDENT:] = change(out[INCIDENT:])
    return out


def bursty() -> np.ndarray:
    values = noisy(20, seed=3, sd=0.1)
    rng = np.random.default_rng(7)
    bursts = rng.choice(HOURS - 24, size=HOURS // 30, replace=False)
    values[bursts] *= rng.uniform(2.5, 3.5, len(bursts))
    values[HOURS - 3] *= 3.0  # a burst like the others, in the judged hours
    return values


def nightly_batch() -> np.ndarray:
    values = noisy(5, seed=4)
    values[(HOUR >= 1) & (HOUR < 4)] *= 12
    return values


def monday_ramp() -> np.ndarray:
    values = noisy(10, seed=5)
    monday_morning = (WEEKDAY == 0) & (HOUR >= 7) & (HOUR < 12)
    values[monday_morning] *= np.array([1.5, 2.2, 2.8, 3.0, 2.5])[HOUR[monday_morning] - 7]
    return values


def business_hours_gpu(left_running: bool) -> np.ndarray:
    on = (HOUR >= 8) & (HOUR < 19) & (WEEKDAY < 5)
    values = np.where(on, 40.0, 0.3) * np.random.default_rng(6).lognormal(0, 0.05, HOURS)
    if left_running:
        values[INCIDENT:] = 40.0
    return values


def ramp(values: np.ndarray) -> np.ndarray:
    return values * np.linspace(1.3, 6.0, len(values))


def organic_growth() -> np.ndarray:
    return noisy(10, seed=8) * np.exp(np.arange(HOURS) / 24 * 0.01)  # +1 % a day


def sparse() -> np.ndarray:
    """A line billed in lumps: $4-8 in one hour out of ten, nothing in between."""
    rng = np.random.default_rng(9)
    values = np.zeros(HOURS)
    lumps = rng.choice(HOURS, size=HOURS // 10, replace=False)
    values[lumps] = rng.uniform(4, 8, len(lumps))
    values[HOURS - 4] = 7.5  # one more lump in the judged hours
    return values


def judged_hours_of_gpu_at_night() -> np.ndarray:
    # make sure the judged hours include the night: the last ten hours are 14:00-23:00
    return business_hours_gpu(left_running=True)


CASES = [
    # name, series, must alert, alert within (hours from the first judged hour)
    ("steady line", noisy(10), False, None),
    ("spike x10 on a $10/h line", with_last_hours(noisy(10), lambda v: v * 10), True, 1),
    ("level shift x2.2 that lasts", with_last_hours(noisy(10), lambda v: v * 2.2), True, 5),
    ("runaway ramp", with_last_hours(noisy(10), ramp), True, 5),
    ("GPU left running after hours", judged_hours_of_gpu_at_night(), True, 6),
    ("GPU on its normal schedule", business_hours_gpu(left_running=False), False, None),
    ("bursty line, one more ordinary burst", bursty(), False, None),
    ("nightly batch block", nightly_batch(), False, None),
    ("Monday ramp", monday_ramp(), False, None),
    ("slow organic growth", organic_growth(), False, None),
    ("sparse line, one more lump", sparse(), False, None),
    ("tiny-dollar blip x20 on $0.02/h", with_last_hours(noisy(0.02), lambda v: v * 20), False,
     None),
    ("one-hour blip x2", with_last_hours(noisy(10), lambda v: np.r_[v[:1] * 2, v[1:]]), False,
     None),
    ("price +40 % on a steady $60/h line", with_last_hours(noisy(60, sd=0.04), lambda v: v * 1.4),
     True, 6),
    ("+40 % on a steady $3/h line", with_last_hours(noisy(3, sd=0.04), lambda v: v * 1.4), False,
     None),
    ("+20 % on a steady $60/h line", with_last_hours(noisy(60, sd=0.04), lambda v: v * 1.2),
     False, None),
]


@pytest.mark.parametrize(("name", "values", "must_alert", "within"), CASES,
                         ids=[c[0] for c in CASES])
def test_detector_table(name, values, must_alert, within):
    series = pd.Series(values, index=INDEX)
    detector = SeasonalDetector().fit(series.iloc[:INCIDENT])
    verdicts = detector.detect(series.iloc[INCIDENT:])

    alerts = np.flatnonzero(verdicts["alert"].to_numpy())
    if must_alert:
        assert len(alerts), f"{name}: no alert\n{verdicts.round(2)}"
        assert alerts[0] < within, f"{name}: first alert after {alerts[0] + 1} hours"
    else:
        assert not len(alerts), f"{name}: false alert\n{verdicts.round(2)}"


def test_missing_values_stay_missing_and_never_alert():
    values = with_last_hours(noisy(10), lambda v: v * 10)
    values[INCIDENT + 2] = np.nan
    series = pd.Series(values, index=INDEX)
    verdicts = SeasonalDetector().fit(series.iloc[:INCIDENT]).detect(series.iloc[INCIDENT:])
    gap = verdicts.iloc[2]
    assert np.isnan(gap["actual"]) and np.isnan(gap["z"])
    assert not gap["anomalous"]


def test_each_point_is_judged_only_from_points_before_it():
    """No look-ahead: judging a prefix gives the same verdicts as judging the whole series."""
    series = pd.Series(with_last_hours(noisy(10), lambda v: v * 3), index=INDEX)
    detector = SeasonalDetector().fit(series.iloc[:INCIDENT])
    whole = detector.detect(series.iloc[INCIDENT:])
    prefix = detector.detect(series.iloc[INCIDENT:INCIDENT + 4])
    pd.testing.assert_frame_equal(whole.iloc[:4].drop(columns="alert"),
                                  prefix.drop(columns="alert"))


def test_daily_series_work_too():
    index = pd.date_range("2026-01-01", periods=120, freq="D", tz="UTC")
    values = 100 * np.random.default_rng(2).lognormal(0, 0.05, 120)
    values[-3:] *= 4
    series = pd.Series(values, index=index)
    verdicts = SeasonalDetector(min_history=21).fit(series.iloc[:-3]).detect(series.iloc[-3:])
    assert verdicts["alert"].any()


def test_without_the_narrowing_a_big_moderate_shift_goes_unseen():
    series = pd.Series(with_last_hours(noisy(60, sd=0.04), lambda v: v * 1.4), index=INDEX)
    flat = SeasonalDetector(Thresholds(relative_shrink=0)).fit(series.iloc[:INCIDENT]).detect(
        series.iloc[INCIDENT:])
    assert not flat["alert"].any()


def test_thresholds_change_what_alerts():
    series = pd.Series(with_last_hours(noisy(10), lambda v: v * 1.7), index=INDEX)
    strict = SeasonalDetector().fit(series.iloc[:INCIDENT]).detect(series.iloc[INCIDENT:])
    relaxed = SeasonalDetector(Thresholds(relative=1.0)).fit(series.iloc[:INCIDENT]).detect(
        series.iloc[INCIDENT:])
    assert strict["alert"].any()
    assert not relaxed["alert"].any()


@pytest.mark.parametrize("bad", [
    pd.Series([1.0, 2.0]),  # no DatetimeIndex
    pd.Series([1.0, 2.0], index=pd.DatetimeIndex(["2026-01-01", "2026-01-01"], tz="UTC")),
    pd.Series([1.0, 2.0], index=pd.DatetimeIndex(["2026-01-01 00:00", "2026-01-01 00:15"])),
])
def test_unusable_series_are_refused_with_a_reason(bad):
    with pytest.raises((TypeError, ValueError)):
        SeasonalDetector().fit(bad)


SCALE_FREE = Thresholds(min_hourly_usd=0, min_daily_usd=0, new_spend_hourly_usd=0,
                        sigma_floor_usd=0, expected_floor_usd=0)


def test_a_line_of_cents_is_judged_like_any_other_once_the_dollar_floors_are_zero():
    cents = pd.Series(with_last_hours(noisy(0.03), lambda v: v * 2.2), index=INDEX)

    default = SeasonalDetector().fit(cents.iloc[:INCIDENT]).detect(cents.iloc[INCIDENT:])
    free = SeasonalDetector(SCALE_FREE).fit(cents.iloc[:INCIDENT]).detect(cents.iloc[INCIDENT:])

    assert not default["alert"].any()  # pennies never page anyone by default
    assert free["alert"].any()


@pytest.mark.parametrize("scale", [1e-4, 1.0, 1e4])
def test_without_dollar_floors_the_verdicts_do_not_depend_on_the_unit(scale):
    values = with_last_hours(noisy(10), lambda v: v * np.r_[1.0, 1.6, 2.2, 2.4, 2.5, 1, 1, 1, 1, 1])
    reference = SeasonalDetector(SCALE_FREE).fit(pd.Series(values[:INCIDENT], index=INDEX[
        :INCIDENT])).detect(pd.Series(values[INCIDENT:], index=INDEX[INCIDENT:]))
    scaled = pd.Series(values * scale, index=INDEX)
    verdicts = SeasonalDetector(SCALE_FREE).fit(scaled.iloc[:INCIDENT]).detect(
        scaled.iloc[INCIDENT:])

    flags = ["anomalous", "confirming", "strong", "alert"]
    pd.testing.assert_frame_equal(verdicts[flags], reference[flags])
    assert reference["alert"].any()


def test_negative_thresholds_are_refused_with_what_to_do():
    with pytest.raises(ValueError, match="sigma_floor_usd.*use 0"):
        Thresholds(sigma_floor_usd=-0.01)
