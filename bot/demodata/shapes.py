"""Normal life: the hourly shape of each pattern of spend, before any incident.

Every pattern returns a multiplier of the line's level (about 1 at typical times; for
hour-bound patterns, 1 while running). On top of it come slow growth, day-to-day variation and
correlated hourly noise, so no two hours or days are alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bot.demodata.catalogue import DemoLine

__all__ = ["Clock", "PATTERNS", "baseline"]


@dataclass(frozen=True)
class Clock:
    """Calendar facts of each hour of the data (UTC)."""

    hours: pd.DatetimeIndex
    hour: np.ndarray  # 0..23
    weekday: np.ndarray  # Monday = 0
    day: np.ndarray  # calendar day number, 0 for the first day
    day_weekday: np.ndarray  # weekday of each calendar day

    @classmethod
    def of(cls, hours: pd.DatetimeIndex) -> Clock:
        first = hours[0].normalize()
        day = ((hours.normalize() - first) // pd.Timedelta(days=1)).to_numpy().astype(int)
        weekday = hours.day_of_week.to_numpy()
        day_weekday = np.zeros(day[-1] + 1, dtype=int)
        day_weekday[day] = weekday
        return cls(hours, hours.hour.to_numpy(), weekday, day, day_weekday)

    @property
    def n(self) -> int:
        return len(self.hours)

    @property
    def days(self) -> int:
        return len(self.day_weekday)


ShapeResult = tuple[np.ndarray, tuple[int, int] | None]
"""An hourly multiplier, and the (start, end) hours of a planted anomaly if there is one."""
Pattern = Callable[[DemoLine, Clock, np.random.Generator], ShapeResult]


def baseline(line: DemoLine, clock: Clock, rng: np.random.Generator,
             ) -> tuple[np.ndarray, tuple[int, int] | None]:
    """Hourly cost of ``line`` with no incident, and the window of a harmless blip if any."""
    level = line.hourly_usd * rng.uniform(0.8, 1.25)
    rate = rng.uniform(*line.growth)
    growth = np.exp(rate * np.arange(clock.n) / 24)
    shape, window = PATTERNS[line.pattern](line, clock, rng)
    return level * shape * growth, window


def _wander(clock: Clock, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Correlated hourly noise times a day-to-day level: lognormal, median 1."""
    kernel = 0.55 ** np.arange(10)
    eps = rng.normal(0.0, sigma / np.sqrt(np.sum(kernel**2)), clock.n + len(kernel))
    hourly = np.convolve(eps, kernel, mode="full")[len(kernel):len(kernel) + clock.n]
    daily = rng.normal(0.0, 0.04, clock.days)[clock.day]
    return np.exp(hourly + daily)


def _rhythm(line: DemoLine, clock: Clock, rng: np.random.Generator) -> np.ndarray:
    amp = line.amp * rng.uniform(0.85, 1.15)
    peak = line.peak + rng.integers(-1, 2)
    daily = 1.0 + amp * np.cos(2 * np.pi * (clock.hour - peak) / 24)
    weekly = np.where(clock.weekday >= 5, line.weekend, 1.0)
    return daily * weekly


def steady(line: DemoLine, clock: Clock, rng: np.random.Generator) -> ShapeResult:
    """Production traffic: daily rhythm, quieter weekends."""
    return _rhythm(line, clock, rng) * _wander(clock, rng, line.noise), None


def _running(clock: Clock, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Share of each hour inside the day's [start, stop) (fractional hours, per-second billing)."""
    d = clock.day
    return np.clip(np.minimum(stop[d], clock.hour + 1) - np.maximum(start[d], clock.hour), 0, 1)


def business(line: DemoLine, clock: Clock, rng: np.random.Generator) -> ShapeResult:
    """GPU boxes people start in the morning and stop in the evening, on working days."""
    start = line.hours[0] + rng.normal(0.0, 0.5, clock.days)
    stop = line.hours[1] + rng.normal(0.3, 0.6, clock.days).clip(-1.5, 1.5)
    working = (clock.day_weekday < 5) & (rng.random(clock.days) > 0.06)
    share = _running(clock, start, stop) * working[clock.day]
    return np.maximum(share * rng.lognormal(0.0, 0.03, clock.n), 0.02), None


def devapi(line: DemoLine, clock: Clock, rng: np.random.Generator) -> ShapeResult:
    """A few people trying an API in working hours: patchy, small."""
    d = clock.day
    on = (clock.day_weekday[d] < 5) & (clock.hour >= line.hours[0]) & (clock.hour < line.hours[1])
    activity = rng.lognormal(0.0, 0.3, clock.days)[d]
    return np.where(on, rng.lognormal(0.0, 0.35, clock.n) * activity, 0.06), None


def batch(line: DemoLine, clock: Clock, rng: np.random.Generator) -> ShapeResult:
    """A nightly job: a block of a few hours, its length following the day's data volume."""
    start = line.hours[0] + rng.exponential(0.15, clock.days)
    volume = rng.lognormal(0.0, 0.1, clock.days)
    stop = start + (line.hours[1] - line.hours[0]) * volume
    share = _running(clock, start, stop)
    return np.maximum(share * rng.lognormal(0.0, 0.04, clock.n), 0.01), None


def bursty(line: DemoLine, clock: Clock, rng: np.random.Generator) -> ShapeResult:
    """Campaign traffic: normal rhythm plus short bursts a few times a week."""
    shape, _ = steady(line, clock, rng)
    daytime = np.flatnonzero((clock.hour >= 9) & (clock.hour <= 21))
    boost = np.ones(clock.n)
    for at in rng.choice(daytime, rng.poisson(0.45 * clock.days)):
        end = at + rng.integers(1, 3)
        boost[at:end] = np.maximum(boost[at:end], rng.uniform(1.8, 3.5))
    return shape * boost, None


def monday(line: DemoLine, clock: Clock, rng: np.random.Generator) -> ShapeResult:
    """B2B use: dead weekends, a Monday morning ramp to the week's busiest day."""
    by_weekday = np.array([1.3, 1.1, 1.0, 1.0, 0.9, 0.25, 0.25])
    factor = by_weekday[clock.weekday]
    ramp = np.clip((clock.hour - 5) / 6, 0.0, 1.0)
    factor = np.where(clock.weekday == 0, 0.25 + (1.3 - 0.25) * ramp, factor)
    rhythm = 1.0 + line.amp * np.cos(2 * np.pi * (clock.hour - line.peak) / 24)
    return factor * rhythm * _wander(clock, rng, line.noise), None


def sandbox(line: DemoLine, clock: Clock, rng: np.random.Generator) -> ShapeResult:
    """Pennies an hour, and once an intern's notebook loops: a big jump of a few dollars."""
    shape, _ = devapi(line, clock, rng)
    day = rng.integers(7, max(clock.days - 2, 8))
    start = min(int(np.flatnonzero(clock.day == day)[0]) + int(rng.integers(10, 18)),
                clock.n - 8)
    length = int(rng.integers(3, 7))
    shape[start:start + length] = min(rng.uniform(15, 30), 1.2 / line.hourly_usd)
    return shape, (start, start + length)


PATTERNS: dict[str, Pattern] = {
    "steady": steady,
    "business": business,
    "devapi": devapi,
    "batch": batch,
    "bursty": bursty,
    "monday": monday,
    "sandbox": sandbox,
}
