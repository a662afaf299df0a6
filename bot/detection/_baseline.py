"""Seasonal baselines for one hour of many series at once.

Every series is a row of a matrix of hourly spend (columns are consecutive hours). For a target
column ``i`` the baseline looks back at the same hour of previous days (hour-of-day) and of
previous weeks (hour-of-week):

* expected: the median of the same hour in previous weeks once two weeks of history exist
  (it knows Mondays from Sundays), else the median of the same hour in previous days;
* spread: a robust standard deviation (1.4826 x MAD) of those same-hour samples, so a line
  whose 14:00 is routinely anywhere between $5 and $50 gets a wide band, and a flat line a
  narrow one;
* usual peak: the highest value seen at that hour in the window, so bursts that are part of
  normal life do not alert again;
* excursion: how far above its own hour-of-day profile the series goes in ordinary times (the
  99.5th percentile of relative excess over the last four weeks, leaving out the last day so
  an incident does not excuse itself). A line that jumps 2x now and then is judged against
  that; a flat line against a small one.

Medians, not means: one earlier incident in the window does not move the baseline. Missing
hours count as zero spend once a series exists, and the series' first hour is tracked so new
spend can be told apart from a line that dropped to zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType

import numpy as np

__all__ = ["Baseline", "baseline_at"]

DAY = 24
WEEK = 168
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True, slots=True)
class Baseline:
    """Per-series arrays for one target hour."""

    expected: np.ndarray
    sigma: np.ndarray
    usual_peak: np.ndarray
    excursion: np.ndarray  # ordinary relative excess over the hour-of-day profile
    history_hours: np.ndarray  # how many hours of this series precede the target hour


def _samples(matrix: np.ndarray, index: int, step: int, count: int) -> np.ndarray:
    columns = [index - step * k for k in range(1, count + 1) if index - step * k >= 0]
    if not columns:
        return np.full((matrix.shape[0], 0), np.nan)
    return matrix[:, columns]


def baseline_at(
    matrix: np.ndarray,
    index: int,
    first_seen: np.ndarray,
    *,
    days: int = 14,
    weeks: int = 4,
    excursion_days: int = 27,
    day: int = DAY,
    floor_usd: np.ndarray | float = 0.05,
) -> Baseline:
    """Baseline of column ``index`` of ``matrix`` (series x hours) from earlier columns only.

    ``first_seen`` is each series' first column with spend; samples before it are ignored.
    ``day`` is the number of columns per day (24 for hourly data, 1 for daily data).
    ``floor_usd`` (per series or one for all) is the least an hour's usual level counts as
    when measuring ordinary excursions (``Thresholds.expected_floor_usd``).
    """
    week = 7 * day
    history = np.maximum(index - first_seen, 0)
    daily = _masked(_samples(matrix, index, day, days), index, day, first_seen)
    weekly = _masked(_samples(matrix, index, week, weeks), index, week, first_seen)
    with np.errstate(all="ignore"), _Quiet():
        daily_median = _nanquantile(daily, 0.5, axis=1) if daily.shape[1] else _nan(matrix)
        weekly_count = np.sum(~np.isnan(weekly), axis=1) if weekly.shape[1] else np.zeros(
            matrix.shape[0], dtype=int)
        weekly_median = _nanquantile(weekly, 0.5, axis=1) if weekly.shape[1] else _nan(matrix)
        expected = np.where(weekly_count >= 2, weekly_median, daily_median)
        daily_spread = MAD_TO_SIGMA * _nanquantile(
            np.abs(daily - daily_median[:, None]), 0.5, axis=1)
        weekly_spread = (
            MAD_TO_SIGMA * _nanquantile(
                np.abs(weekly - weekly_median[:, None]), 0.5, axis=1)
            if weekly.shape[1] else _nan(matrix)
        )
        sigma = np.fmax(daily_spread, np.where(weekly_count >= 2, weekly_spread, np.nan))
        # with daily data the previous point is yesterday: an incident's first day must not
        # become the usual peak its second day is compared with
        peak_days = daily[:, 1:] if day == 1 else daily
        usual_peak = np.fmax(
            np.nanmax(peak_days, axis=1) if peak_days.shape[1] else _nan(matrix),
            np.nanmax(weekly, axis=1) if weekly.shape[1] else _nan(matrix),
        )
    expected = np.nan_to_num(expected, nan=0.0)
    sigma = np.nan_to_num(sigma, nan=0.0)
    usual_peak = np.nan_to_num(usual_peak, nan=0.0)
    excursion = _excursion(matrix, index, first_seen, days=excursion_days, day=day,
                           floor_usd=np.broadcast_to(np.asarray(floor_usd, dtype=float),
                                                     (matrix.shape[0],)))
    return Baseline(expected, sigma, usual_peak, excursion, history)


def _excursion(
    matrix: np.ndarray, index: int, first_seen: np.ndarray, *, days: int, day: int,
    floor_usd: np.ndarray,
) -> np.ndarray:
    end = index - day
    n_days = min(days, end // day) if end > 0 else 0
    if n_days < 3:
        return np.full(matrix.shape[0], np.nan)
    window = matrix[:, end - n_days * day:end].astype(float, copy=True)
    columns = np.arange(end - n_days * day, end)
    window[columns[None, :] < first_seen[:, None]] = np.nan
    blocks = window.reshape(matrix.shape[0], n_days, day)
    with _Quiet():
        profile = _nanquantile(blocks, 0.5, axis=1)  # series x hour-of-day
        level = _nanquantile(blocks.reshape(matrix.shape[0], -1), 0.5, axis=1)
        floor = np.maximum(profile, 0.1 * level[:, None] + floor_usd[:, None])
        rise = blocks - profile[:, None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            relative = np.where(floor[:, None, :] > 0, rise / floor[:, None, :],
                                np.where(rise > 0, np.inf, 0.0))
        return _nanquantile(relative.reshape(matrix.shape[0], -1), 0.995, axis=1)


def _masked(samples: np.ndarray, index: int, step: int, first_seen: np.ndarray) -> np.ndarray:
    """Samples from before a series existed are not zeros, they are unknown."""
    if not samples.shape[1]:
        return samples
    columns = np.array([index - step * k for k in range(1, samples.shape[1] + 1)])
    before = columns[None, :] < first_seen[:, None]
    out = samples.astype(float, copy=True)
    out[before] = np.nan
    return out


def _nanquantile(values: np.ndarray, q: float, *, axis: int) -> np.ndarray:
    """``np.nanquantile`` (linear interpolation) by one sort: NaNs sort last, and counting the
    values that are not NaN gives the positions to read. numpy's own version loops over rows
    in Python when NaNs are present, which is most of the detection time on many lines."""
    ordered = np.sort(np.moveaxis(values, axis, -1), axis=-1)
    if ordered.shape[-1] == 0:
        return np.full(ordered.shape[:-1], np.nan)
    count = np.sum(~np.isnan(ordered), axis=-1)
    position = q * np.maximum(count - 1, 0)
    below = np.floor(position).astype(np.intp)
    above = np.minimum(below + 1, np.maximum(count - 1, 0))
    low = np.take_along_axis(ordered, below[..., None], axis=-1)[..., 0]
    high = np.take_along_axis(ordered, above[..., None], axis=-1)[..., 0]
    result = low + (high - low) * (position - below)
    return np.where(count > 0, result, np.nan)


def _nan(matrix: np.ndarray) -> np.ndarray:
    return np.full(matrix.shape[0], np.nan)


class _Quiet:
    """All-NaN rows are expected (new series); keep numpy's warnings out of the logs."""

    def __enter__(self) -> None:
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._catch.__exit__(exc_type, exc, traceback)
