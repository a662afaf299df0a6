"""Budget lines of ``spendwatch replay``: the thresholds the budget job would have recorded.

A replay has no store, so each poll at time T reads the replayed points visible by T the way
``bot.finance.budgets.budget_status`` reads the store: figures as of the end of the newest
visible hour (or T if sooner), spend since the period began, the period-end forecast of
``bot.finance.forecast`` (never below what is spent), and the thresholds of
``bot.finance.burn.crossed_thresholds``. Each (budget, period, basis, threshold) is one line,
once, at the first poll that reached it; ``crossed_at`` is that poll's time.

What differs from the running bot, and why:

- only the config's budgets (``budgets:``): budgets set in chat live in the store, which a
  replay does not have;
- only Usage rows (what ``bot.anomaly.replay.load_usage_points`` keeps), so purchases,
  credits and taxes that the bot's budgets count are left out of a replay's spend;
- no re-arming (the amounts never change in a replay) and no burn-rate lines (the scored
  contract is a threshold reached by actual or forecast spend).

Each poll keeps one running hourly array per budget, so a poll costs a slice sum. The
forecast (a few milliseconds) is the cost that counts: it depends only on the days before the
day of the figures, so it is made again only when those days change (a new day, or a late row
for a past one), and only while it can still be news: some forecast threshold is not crossed
yet, or spend crossed one and its line carries the forecast. ``bench/budget_replay.py``
measures it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from bot.finance.budgets import HISTORY_DAYS, Basis, Budget, month_bounds
from bot.finance.burn import crossed_thresholds
from bot.finance.config import ALL_ENVIRONMENTS, BudgetSettings
from bot.finance.forecast import ForecastError, forecast_period_end
from bot.settings import Settings

__all__ = ["BudgetFigures", "BudgetReplay", "budget_line"]

HOUR = timedelta(hours=1)
DAY_HOURS = 24


@dataclass(frozen=True)
class BudgetFigures:
    """What one poll read for one budget."""

    budget: Budget
    at: datetime  # the figures' moment (the end of the newest visible hour, or the poll)
    spent: float
    forecast: float | None


def budget_line(figures: BudgetFigures, *, basis: Basis, threshold: float,
                crossed_at: datetime) -> dict[str, object]:
    """One JSON line of a threshold crossed (``type``, ``project``, ``environment``,
    ``threshold``, ``basis``, ``crossed_at`` first; the figures that crossed it after)."""
    budget = figures.budget
    return {
        "type": "budget", "project": budget.project, "environment": budget.environment,
        "threshold": threshold, "basis": str(basis), "crossed_at": _iso(crossed_at),
        "budget": budget.key, "period_start": _iso(budget.start),
        "period_end": _iso(budget.end), "amount": round(budget.amount, 2),
        "spent": round(figures.spent, 2),
        "forecast": None if figures.forecast is None else round(figures.forecast, 2),
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Track:
    """One configured budget: its rows by the time they became visible, and what is seen."""

    config: BudgetSettings
    hours: np.ndarray  # hour index of each row (hours since the replay's first day)
    visible: np.ndarray  # datetime64[ns] each row became visible, ascending
    cost: np.ndarray
    values: np.ndarray  # spend per hour index, of the rows revealed so far
    seen: np.ndarray  # whether the hour has a row (a point, in the store's terms)
    revealed: int = 0
    crossed: set[tuple[datetime, Basis, float]] = field(default_factory=set)
    forecast_key: tuple[object, ...] | None = None
    forecast_value: float | None = None  # the forecast for forecast_key (None: none made)


class BudgetReplay:
    """The budget lines of a replay, poll by poll (see the module docstring).

    ``points`` are ``load_usage_points``' frame (``hour`` and ``visible_at`` as UTC
    timestamps). Call :meth:`poll` with each poll time, in order. ``figures`` holds what the
    last poll read per budget key; its forecast is None when no line needed it, unless
    ``all_forecasts`` (the lines are the same either way).
    """

    def __init__(self, points: pd.DataFrame, settings: Settings, *,
                 all_forecasts: bool = False) -> None:
        self.forecasts = 0  # how many forecasts were made (for bench figures)
        self.figures: dict[str, BudgetFigures] = {}
        self._all_forecasts = all_forecasts
        self._tracks: list[_Track] = []
        hours = pd.to_datetime(points["hour"], utc=True)
        visible = pd.to_datetime(points["visible_at"], utc=True).dt.tz_convert(None)
        if points.empty or not settings.budgets:
            self._origin = pd.Timestamp(0, tz="UTC")
            self._visible_all = np.array([], dtype="datetime64[ns]")
            self._newest_all = np.array([], dtype=np.int64)
            self._size = 0
            return
        self._origin = hours.min().floor("D")
        index = ((hours - self._origin) // pd.Timedelta(hours=1)).to_numpy(dtype=np.int64)
        self._size = int(index.max()) + 1
        seen_at = visible.to_numpy(dtype="datetime64[ns]")
        order = np.argsort(seen_at, kind="stable")
        self._visible_all = seen_at[order]
        self._newest_all = np.maximum.accumulate(index[order])
        projects = points["project"].to_numpy()
        environments = points["environment"].to_numpy()
        costs = points["cost"].to_numpy(dtype=float)
        for config in settings.budgets:
            mask = projects[order] == config.project
            if config.environment != ALL_ENVIRONMENTS:
                mask &= environments[order] == config.environment
            rows = order[mask]
            self._tracks.append(_Track(
                config=config, hours=index[rows], visible=self._visible_all[mask],
                cost=costs[rows], values=np.zeros(self._size), seen=np.zeros(self._size, bool)))

    def poll(self, now: datetime) -> list[dict[str, object]]:
        """The lines of thresholds first reached by the data visible at ``now``."""
        now = pd.Timestamp(now).tz_convert("UTC").to_pydatetime()
        at = self._as_of(now)
        lines: list[dict[str, object]] = []
        for track in self._tracks:
            self._reveal(track, now)
            figures = self._figures(track, at)
            if figures is None:
                continue
            self.figures[figures.budget.key] = figures
            lines.extend(self._news(track, figures, crossed_at=now))
        return lines

    def _as_of(self, now: datetime) -> datetime:
        """The end of the newest hour visible at ``now``, or ``now`` if sooner or if none is."""
        count = int(np.searchsorted(self._visible_all, np.datetime64(_naive(now), "ns"),
                                    side="right"))
        if count == 0:
            return now
        newest = self._origin.to_pydatetime() + int(self._newest_all[count - 1]) * HOUR
        return min(now, newest + HOUR)

    def _reveal(self, track: _Track, now: datetime) -> None:
        upto = int(np.searchsorted(track.visible, np.datetime64(_naive(now), "ns"),
                                   side="right"))
        if upto > track.revealed:
            rows = slice(track.revealed, upto)
            np.add.at(track.values, track.hours[rows], track.cost[rows])
            track.seen[track.hours[rows]] = True
            track.revealed = upto

    def _figures(self, track: _Track, at: datetime) -> BudgetFigures | None:
        budget = _budget(track.config, at - timedelta(microseconds=1))
        if budget is None:
            return None
        at = min(at, budget.end)
        end = self._index(at)
        lo = max(self._index(min(budget.start, at - timedelta(days=HISTORY_DAYS))), 0)
        first = max(self._index(budget.start), 0)
        spent = float(track.values[first:end].sum()) if end > first else 0.0
        any_seen = end > lo and bool(track.seen[lo:end].any())
        forecast: float | None = None
        if at >= budget.end:
            forecast = spent
        elif any_seen and (self._all_forecasts or _may_be_news(track, budget, spent)):
            forecast = self._forecast(track, budget, at, lo, end, spent)
        return BudgetFigures(budget=budget, at=at, spent=spent, forecast=forecast)

    def _forecast(self, track: _Track, budget: Budget, at: datetime, lo: int, end: int,
                  spent: float) -> float | None:
        """``budget_status``'s forecast: daily totals from the first day with a point in the
        window to the last, the period-end forecast, never below ``spent``."""
        seen = np.flatnonzero(track.seen[lo:end]) + lo
        first_day, last_day = int(seen[0]) // DAY_HOURS, int(seen[-1]) // DAY_HOURS
        begin = max(lo, first_day * DAY_HOURS)
        days = np.bincount(np.arange(begin, end) // DAY_HOURS - first_day,
                           weights=track.values[begin:end])[:last_day - first_day + 1]
        today = end // DAY_HOURS
        known = days[:max(0, today - first_day)]
        key = (budget.start, budget.end, today, first_day, known.tobytes())
        if track.forecast_key != key:
            track.forecast_key = key
            track.forecast_value = self._make_forecast(days, first_day, budget, at)
        return None if track.forecast_value is None else max(track.forecast_value, spent)

    def _make_forecast(self, days: np.ndarray, first_day: int, budget: Budget,
                       at: datetime) -> float | None:
        self.forecasts += 1
        index = pd.date_range(self._origin + pd.Timedelta(days=first_day), periods=len(days),
                              freq="D")
        try:
            made = forecast_period_end(pd.Series(days, index=index), as_of=at,
                                       start=budget.start, end=budget.end)
        except ForecastError:
            return None  # as budget_status: no forecast (e.g. no day before this one)
        return made.forecast

    def _news(self, track: _Track, figures: BudgetFigures, *, crossed_at: datetime
              ) -> list[dict[str, object]]:
        budget = figures.budget
        reached = crossed_thresholds(budget.amount, figures.spent,
                                     figures.forecast if figures.forecast is not None else 0.0,
                                     budget.thresholds)
        levels = {Basis.ACTUAL: reached.actual,
                  Basis.FORECAST: reached.forecast if figures.forecast is not None else ()}
        lines = []
        for basis, thresholds in levels.items():
            for threshold in thresholds:
                key = (budget.start, basis, threshold)
                if key not in track.crossed:
                    track.crossed.add(key)
                    lines.append(budget_line(figures, basis=basis, threshold=threshold,
                                             crossed_at=crossed_at))
        return lines

    def _index(self, moment: datetime) -> int:
        """The hour index of ``moment`` (hours since the replay's first day, rounded down)."""
        return int((moment - self._origin.to_pydatetime()) // HOUR)


def _may_be_news(track: _Track, budget: Budget, spent: float) -> bool:
    """Whether a forecast could change this poll's lines: a forecast threshold is still open,
    or spend has just crossed one (its line carries the forecast)."""
    crossed = track.crossed
    if any((budget.start, Basis.FORECAST, t) not in crossed for t in budget.thresholds):
        return True
    reached = crossed_thresholds(budget.amount, spent, 0.0, budget.thresholds).actual
    return any((budget.start, Basis.ACTUAL, t) not in crossed for t in reached)


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def _budget(config: BudgetSettings, moment: datetime) -> Budget | None:
    """The configured budget as it applies to the period holding ``moment``, if any."""
    if config.monthly is not None:
        start, end = month_bounds(moment)
        amount = config.monthly
    else:
        assert config.amount is not None and config.start and config.end  # validated
        start, end = _day_start(config.start), _day_start(config.end) + timedelta(days=1)
        if not start <= moment < end:
            return None
        amount = config.amount
    return Budget(project=config.project, environment=config.environment, amount=amount,
                  start=start, end=end, thresholds=tuple(config.thresholds),
                  monthly=config.monthly is not None)


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
