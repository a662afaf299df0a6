"""A detector for any pandas Series with a DatetimeIndex (hourly or daily).

The same baseline and verdict as the engine, for one series, so it can be evaluated on public
anomaly benchmarks. adtk-style: hyperparameters in ``__init__``, learned state in ``name_``
attributes, missing values left missing::

    detector = SeasonalDetector().fit(history)
    verdicts = detector.detect(new_hours)   # DataFrame: expected, excess, z, ..., alert
    flags = verdicts["alert"]
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset
from pandas.tseries.offsets import Tick

from bot.detection._baseline import DAY, baseline_at
from bot.detection._rules import SUSTAINED_HOURS, SUSTAINED_WINDOW, Thresholds, judge

__all__ = ["SeasonalDetector"]

_STEPS_PER_DAY = {pd.Timedelta(hours=1): DAY, pd.Timedelta(days=1): 1}


class SeasonalDetector:
    """Seasonal-baseline anomaly detector for one spend series.

    Each point is judged only from the points before it (online, no look-ahead). ``alert``
    applies the lifecycle's opening rule: one strong point, two confirming points in a row, or
    ``SUSTAINED_HOURS`` anomalous points out of the last ``SUSTAINED_WINDOW``.
    """

    def __init__(self, thresholds: Thresholds | None = None, *, min_history: int | None = None):
        self.thresholds = thresholds or Thresholds()
        self.min_history = min_history

    def fit(self, series: pd.Series) -> SeasonalDetector:
        """Learn the history (and the sampling step) that ``detect`` judges new points against."""
        series = _validated(series)
        index = series.index
        assert isinstance(index, pd.DatetimeIndex)  # _validated refuses any other index
        # a calendar frequency (month, week) has no fixed length: inferred, then refused below
        step = pd.Timedelta(index.freq) if isinstance(index.freq, Tick) else _infer_step(series)
        if step not in _STEPS_PER_DAY:
            raise ValueError(
                f"the series is sampled every {step}; SeasonalDetector handles hourly or daily "
                "data (resample first, e.g. series.resample('h').sum())"
            )
        self.step_ = step
        self.steps_per_day_ = _STEPS_PER_DAY[step]
        self.history_ = series.asfreq(to_offset(step))
        return self

    def detect(self, series: pd.Series | None = None) -> pd.DataFrame:
        """Verdicts for each point of ``series`` (default: the fitted series itself)."""
        if not hasattr(self, "history_"):
            raise RuntimeError("call fit() before detect()")
        judged = (self.history_ if series is None
                  else _validated(series).asfreq(to_offset(self.step_)))
        history = self.history_[self.history_.index < judged.index[0]] if len(judged) else (
            self.history_)
        full = pd.concat([history, judged])
        values = full.to_numpy(dtype=float)[None, :]
        present = np.flatnonzero(~np.isnan(values[0]) & (values[0] != 0))
        first_seen = np.array([present[0] if len(present) else values.shape[1]])
        day = self.steps_per_day_
        min_history = self.min_history if self.min_history is not None else 3 * day
        rows = []
        for index in range(len(history), values.shape[1]):
            baseline = baseline_at(values, index, first_seen, day=day,
                                   floor_usd=self.thresholds.expected_floor_usd)
            verdict = judge(values[:, index], baseline, [self.thresholds],
                            can_be_new=np.array([False]), min_history_hours=min_history)
            rows.append((baseline.expected[0], verdict.excess[0], verdict.z[0],
                         verdict.standout[0], bool(verdict.anomalous[0]),
                         bool(verdict.confirming[0]), bool(verdict.strong[0])))
        out = pd.DataFrame(rows, index=judged.index, columns=[
            "expected", "excess", "z", "standout", "anomalous", "confirming", "strong"])
        out.insert(0, "actual", judged.to_numpy(dtype=float))
        missing = out["actual"].isna()
        out.loc[missing, ["excess", "z", "standout"]] = np.nan
        out["alert"] = self._alerts(out)
        return out

    def _alerts(self, verdicts: pd.DataFrame) -> pd.Series:
        window = SUSTAINED_WINDOW
        anomalous = verdicts["anomalous"].to_numpy()
        confirming = verdicts["confirming"].to_numpy()
        strong = verdicts["strong"].to_numpy()
        recent = pd.Series(anomalous.astype(int)).rolling(window, min_periods=1).sum().to_numpy()
        previous_confirming = np.concatenate([[False], confirming[:-1]])
        alert = strong | (confirming & previous_confirming) | (
            anomalous & (recent >= SUSTAINED_HOURS))
        return pd.Series(alert, index=verdicts.index, name="alert")


def _validated(series: pd.Series) -> pd.Series:
    if not isinstance(series, pd.Series) or not isinstance(series.index, pd.DatetimeIndex):
        raise TypeError("SeasonalDetector needs a pandas Series with a DatetimeIndex")
    if not series.index.is_monotonic_increasing:
        series = series.sort_index()
    if series.index.has_duplicates:
        raise ValueError("the series has duplicate timestamps; aggregate them first")
    return series.astype(float)


def _infer_step(series: pd.Series) -> pd.Timedelta:
    if len(series) < 2:
        raise ValueError("the series needs at least two points to know its sampling step")
    return pd.Timedelta(pd.Series(series.index).diff().dropna().min())
