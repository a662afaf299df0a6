"""How long a budget lasts at the current pace, and which of its thresholds spend has crossed.

Two sentences a budget alert needs: "at the last 24 hours' rate this budget is gone in N
hours" (said only when that happens before the period ends; a budget that lasts the period
needs no warning) and "spend has crossed 80 %, the forecast 100 %". Both are arithmetic on
figures the caller already has, kept here as pure functions so the scheduler, the digest and
``replay`` agree to the cent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["DEFAULT_THRESHOLDS", "BudgetError", "BurnRate", "Crossed", "burn_rate",
           "crossed_thresholds", "hours_to_exhaustion"]

DEFAULT_THRESHOLDS: tuple[float, ...] = (50, 80, 100)


class BudgetError(ValueError):
    """A budget figure that cannot be right; the message says which and what to give."""


@dataclass(frozen=True)
class BurnRate:
    """A budget that runs out before its period ends, at the last 24 hours' rate."""

    hours_left: float
    runs_out_at: datetime
    hourly_rate: float


@dataclass(frozen=True)
class Crossed:
    """Thresholds (percent of the budget) reached by actual spend and by forecast spend."""

    actual: tuple[float, ...]
    forecast: tuple[float, ...]


def burn_rate(budget: float, spent: float, last_24h: float, *, now: datetime,
              period_end: datetime) -> BurnRate | None:
    """When the budget runs out at the last 24 hours' rate, or None if it lasts the period.

    A budget already spent runs out now (0 hours). No spend, or a credit, in the last 24
    hours means it does not run out at that rate.
    """
    _money(budget=budget, spent=spent, last_24h=last_24h)
    if budget <= 0:
        raise BudgetError(f"budget must be more than 0, not {budget}")
    _aware(now=now, period_end=period_end)
    if now >= period_end:
        return None
    hourly = last_24h / 24
    left = budget - spent
    if left <= 0:
        return BurnRate(hours_left=0.0, runs_out_at=now, hourly_rate=hourly)
    if hourly <= 0:
        return None
    hours = left / hourly
    if hours >= (period_end - now) / timedelta(hours=1):
        return None
    return BurnRate(hours_left=hours, runs_out_at=now + timedelta(hours=hours),
                    hourly_rate=hourly)


def hours_to_exhaustion(budget: float, spent: float, last_24h: float, *, now: datetime,
                        period_end: datetime) -> float | None:
    """Hours until the budget is gone at the last 24 hours' rate, if before ``period_end``."""
    burn = burn_rate(budget, spent, last_24h, now=now, period_end=period_end)
    return None if burn is None else burn.hours_left


def crossed_thresholds(budget: float, spent: float, forecast: float,
                       thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> Crossed:
    """The thresholds that ``spent`` and ``forecast`` have reached, lowest first.

    A threshold of 80 is reached when spend is at least 80 % of the budget.
    """
    _money(budget=budget, spent=spent, forecast=forecast)
    if budget <= 0:
        raise BudgetError(f"budget must be more than 0, not {budget}")
    levels = sorted(set(thresholds))
    bad = [t for t in levels if not math.isfinite(t) or t <= 0]
    if bad:
        raise BudgetError(f"thresholds are percents of the budget above 0 (e.g. 50, 80, 100); "
                          f"got {', '.join(str(t) for t in bad)}")

    def reached(amount: float) -> tuple[float, ...]:
        return tuple(t for t in levels if amount * 100 >= budget * t)

    return Crossed(actual=reached(spent), forecast=reached(forecast))


def _money(**figures: float) -> None:
    bad = [name for name, value in figures.items() if not math.isfinite(value)]
    if bad:
        raise BudgetError(f"{', '.join(bad)} must be a finite amount of money")


def _aware(**moments: datetime) -> None:
    naive = [name for name, value in moments.items() if value.tzinfo is None]
    if naive:
        raise BudgetError(f"{', '.join(naive)} must be timezone-aware (UTC), not naive")
