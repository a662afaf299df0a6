"""Month-end spend per series, with an interval, from daily totals.

Budgets warn on forecast month-end spend as well as on actual spend, so the forecast must be
cheap, say how sure it is, and be explainable in a sentence. It works on daily totals (the
hourly shape matters to detection, not to a month's total) with a weekly season:

- ``seasonal-naive``: each remaining day spends what the same weekday spent last week. The
  interval simulates the model's own error: week-on-week differences from the history, drawn
  in whole-week blocks and accumulated week after week, as a seasonal random walk does.
- ``ets``: statsmodels' ``ETSModel`` (additive error, damped additive trend, additive weekly
  season, heuristic starting states) on the last twelve weeks; the interval comes from paths
  it simulates with its own residuals.
- ``run-rate``: with fewer than ``MIN_HISTORY_DAYS`` days of history neither can see a week
  twice, so the last week's mean daily spend carries on, with a deliberately wide interval and
  a note that says so.

``auto`` is seasonal naive: as accurate as ETS in the backtest, with an interval that holds
the actual more often (``bench/forecast_backtest.py``, ``docs/forecast.md``).
Pure: a series in, a ``MonthForecast`` out. Days at or after the day of ``as_of`` are ignored,
so a backtest can hand over the whole series; a day with no value spent nothing.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

import numpy as np
import pandas as pd

__all__ = ["MIN_HISTORY_DAYS", "ForecastError", "ForecastModel", "MonthForecast",
           "daily_totals", "forecast_month_end", "forecast_period_end",
           "forecast_series"]

MIN_HISTORY_DAYS = 14
ETS_WINDOW_DAYS = 84
RUN_RATE_DAYS = 7
WEEK = 7
DRAWS = 2000
SEED = 20261


class ForecastModel(StrEnum):
    AUTO = "auto"
    SEASONAL_NAIVE = "seasonal-naive"
    ETS = "ets"
    RUN_RATE = "run-rate"


AUTO_PICKS = ForecastModel.SEASONAL_NAIVE


class ForecastError(ValueError):
    """The forecast cannot be made from what was given; the message says what to change."""


@dataclass(frozen=True)
class MonthForecast:
    """Spend of the month of ``as_of``: so far, expected at month end, and an interval for it."""

    month: date
    spend_to_date: float
    forecast: float
    low: float
    high: float
    level: float
    model: ForecastModel
    days_elapsed: int
    days_remaining: int
    history_days: int
    note: str | None = None


def forecast_month_end(daily: pd.Series, *, as_of: datetime, model: str = "auto",
                       level: float = 0.8) -> MonthForecast:
    """Forecast the total spend of the month that holds ``as_of`` (UTC).

    ``daily`` is spend per day, indexed by day (dates, or timestamps naive or in UTC). Days
    before the day of ``as_of`` are known; that day and the rest of the month are forecast.
    """
    today = _day(as_of)
    month_start = today.replace(day=1)
    return forecast_period_end(daily, as_of=as_of, start=month_start,
                               end=month_start + pd.offsets.MonthBegin(1), model=model,
                               level=level)


def forecast_period_end(daily: pd.Series, *, as_of: datetime, start: datetime | pd.Timestamp,
                        end: datetime | pd.Timestamp, model: str = "auto",
                        level: float = 0.8) -> MonthForecast:
    """Forecast the total spend of the period [``start``, ``end``) of whole UTC days, which
    holds ``as_of`` (a custom budget period; a month is one). ``month`` is the period's first
    day. History before ``start`` still teaches the model; only the period's days are summed.
    """
    chosen = _model(model)
    if not 0 < level < 1:
        raise ForecastError(f"level must lie between 0 and 1 (e.g. 0.8 for 80 %), not {level}")
    today = _day(as_of)
    period_start, period_end = _day(start), _day(end)
    if not period_start <= today < period_end:
        raise ForecastError(f"as_of {today.date()} lies outside the period {period_start.date()}"
                            f" to {period_end.date()}; forecast a period that holds it")
    history = _history(daily, today)
    elapsed = int((today - period_start).days)
    remaining = int((period_end - today).days)
    spent = float(history[history.index >= period_start].sum())
    used, note = _resolve(chosen, history)
    if used is ForecastModel.RUN_RATE:
        point, low, high = _run_rate(history.to_numpy(), remaining)
    else:
        y = history.to_numpy(dtype=float)
        try:
            path, sums = (_ets(y, remaining) if used is ForecastModel.ETS
                          else _seasonal_naive(y, remaining))
        except (ValueError, np.linalg.LinAlgError) as error:
            used, note = ForecastModel.SEASONAL_NAIVE, f"ETS could not fit ({error})"
            path, sums = _seasonal_naive(y, remaining)
        point = float(path.sum())
        low, high = (float(q) for q in np.quantile(sums, [(1 - level) / 2, (1 + level) / 2]))
    low, high = min(low, point), max(high, point)
    return MonthForecast(month=period_start.date(), spend_to_date=spent, forecast=spent + point,
                         low=spent + low, high=spent + high, level=level, model=used,
                         days_elapsed=elapsed, days_remaining=remaining,
                         history_days=len(history), note=note)


def forecast_series(daily: pd.DataFrame, *, as_of: datetime, model: str = "auto",
                    level: float = 0.8) -> dict[Hashable, MonthForecast]:
    """``forecast_month_end`` for each column of a frame of daily totals (see ``daily_totals``)."""
    return {key: forecast_month_end(daily[key], as_of=as_of, model=model, level=level)
            for key in daily.columns}


def daily_totals(points: pd.DataFrame, *, by: Sequence[str] = ("project",),
                 value: str = "effective_cost") -> pd.DataFrame:
    """Hourly points (``storage.queries.points.load_points``) as spend per UTC day and series.

    One column per series (a tuple when ``by`` names several columns), one row per day from
    the first to the last, zero where a series spent nothing.
    """
    missing = [c for c in ("hour", value, *by) if c not in points.columns]
    if missing:
        raise ForecastError(f"the points have no column {', '.join(missing)}; pass the frame "
                            "load_points returns, with the series columns asked for")
    if points.empty:
        return pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC"))
    day = pd.to_datetime(points["hour"], utc=True).dt.floor("D")
    keys = list(by)
    table = (points.assign(day=day).pivot_table(index="day", columns=keys, values=value,
                                                aggfunc="sum", fill_value=0.0))
    days = pd.date_range(table.index.min(), table.index.max(), freq="D")
    return table.reindex(days, fill_value=0.0).astype(float)


def _model(model: str) -> ForecastModel:
    try:
        return ForecastModel(model)
    except ValueError:
        known = ", ".join(m.value for m in ForecastModel)
        raise ForecastError(f"unknown forecast model {model!r}; choose one of {known}") from None


def _day(moment: datetime) -> pd.Timestamp:
    stamp = pd.Timestamp(moment)
    if stamp.tzinfo is None:
        raise ForecastError("as_of must be timezone-aware (a UTC datetime), not naive")
    return stamp.tz_convert("UTC").floor("D")


def _history(daily: pd.Series, today: pd.Timestamp) -> pd.Series:
    """The known days, one per calendar day from the first to yesterday, missing days as 0."""
    try:
        index = pd.to_datetime(daily.index)
    except (TypeError, ValueError) as error:
        raise ForecastError(f"daily must be indexed by day (dates or timestamps): {error}") \
            from None
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    values = pd.to_numeric(pd.Series(daily.to_numpy(), index=index.floor("D")),
                           errors="coerce").fillna(0.0)
    values = values.groupby(level=0).sum()
    values = values[values.index < today]
    if values.empty:
        raise ForecastError(f"no spend history before {today.date()}: give at least one day "
                            "of daily totals before as_of")
    days = pd.date_range(values.index.min(), today - pd.Timedelta(days=1), freq="D")
    return values.reindex(days, fill_value=0.0).astype(float)


def _resolve(chosen: ForecastModel, history: pd.Series) -> tuple[ForecastModel, str | None]:
    if len(history) < MIN_HISTORY_DAYS and chosen is not ForecastModel.RUN_RATE:
        return ForecastModel.RUN_RATE, (
            f"only {len(history)} days of history (a weekly model needs {MIN_HISTORY_DAYS}): "
            "run rate of the last days, with a wide interval")
    if chosen is ForecastModel.AUTO:
        return AUTO_PICKS, None
    if chosen is ForecastModel.ETS and float(history.std()) == 0.0:
        return ForecastModel.SEASONAL_NAIVE, "spend has been constant: repeated as it is"
    return chosen, None


def _run_rate(y: np.ndarray, remaining: int) -> tuple[float, float, float]:
    recent = y[-RUN_RATE_DAYS:]
    rate = float(recent.mean())
    low_rate = min(0.5 * rate, float(recent.min()))
    high_rate = max(1.5 * rate, float(recent.max()))
    return rate * remaining, low_rate * remaining, high_rate * remaining


def _seasonal_naive(y: np.ndarray, remaining: int) -> tuple[np.ndarray, np.ndarray]:
    """Point path and simulated sums of the remaining days (a seasonal random walk)."""
    base = y[-WEEK:]
    weeks = -(-remaining // WEEK)
    path = np.resize(base, remaining)
    diffs = y[WEEK:] - y[:-WEEK]
    rng = np.random.default_rng(SEED)
    starts = rng.integers(0, len(diffs) - WEEK + 1, size=(DRAWS, weeks))
    blocks = diffs[starts[..., None] + np.arange(WEEK)]  # (draws, weeks, 7)
    walks = np.cumsum(blocks, axis=1).reshape(DRAWS, weeks * WEEK)[:, :remaining]
    sims = np.clip(path + walks, 0.0, None) if (y >= 0).all() else path + walks
    return path, sims.sum(axis=1)


def _ets(y: np.ndarray, remaining: int) -> tuple[np.ndarray, np.ndarray]:
    """Point path and simulated sums of the remaining days from statsmodels' ETS."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    window = y[-ETS_WINDOW_DAYS:]
    # heuristic starting states leave four smoothing parameters to fit: a hundred times
    # faster than estimating the nine states as well; it needs 10 + 2 * (7 // 2) days
    start = "heuristic" if len(window) >= 10 + 2 * (WEEK // 2) else "estimated"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ETSModel(window, error="add", trend="add", damped_trend=True, seasonal="add",
                       seasonal_periods=WEEK, initialization_method=start).fit(disp=False)
        path = np.asarray(fit.forecast(remaining), dtype=float)
        errors = np.random.default_rng(SEED).choice(np.asarray(fit.resid, dtype=float),
                                                    size=(remaining, DRAWS))
        sims = np.asarray(fit.simulate(remaining, anchor="end", repetitions=DRAWS,
                                       random_errors=errors), dtype=float)
    if not np.isfinite(path).all():
        raise ValueError("the fitted model forecasts non-finite spend")
    floor = 0.0 if (y >= 0).all() else -np.inf
    path = np.clip(path, floor, None)
    sims = np.clip(sims.reshape(remaining, DRAWS), floor, None)
    return path, sims.sum(axis=0)
