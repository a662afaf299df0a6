"""Seeded incidents: what goes wrong, on which workload, and when.

``INCIDENTS`` maps each kind to a function ``(scene, rng) -> Event | None``: it picks a target
line among those of the right role, a window with :meth:`Scene.place`, changes the cost arrays
in place and returns the label. To add a kind, write one such function and add it to the
table; labels, placement rules and tests follow.

Placement rules: incidents start after the first ``earliest`` hours (ten days), end at or
before ``latest`` (half a day before the data ends), and never come within a week of another
incident on the same workload. The first kind is the classic; with ``live`` data (ending now)
it is still going on in the newest hour.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from bot.demodata.catalogue import DemoLine
from bot.demodata.shapes import Clock, baseline

__all__ = ["EXTRA_INCIDENTS", "INCIDENTS", "Event", "Scene"]

DAY = 24
GAP = 7 * DAY  # quiet time around an incident on the same workload


@dataclass(frozen=True)
class Event:
    kind: str
    line: DemoLine
    start: int  # hour index of the first affected hour
    end: int  # hour index after the last affected hour


@dataclass
class Scene:
    clock: Clock
    lines: list[DemoLine]
    cost: list[np.ndarray]
    earliest: int
    latest: int
    live: bool
    busy: dict[tuple[str, str], list[tuple[int, int]]] = field(default_factory=dict)
    # what each line consumed, in dollars at its usual price (the FOCUS ConsumedQuantity times
    # that price): more traffic raises it with the cost, a higher price raises the cost alone
    usage: list[np.ndarray] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.usage:
            self.usage = [cost.copy() for cost in self.cost]

    def scale_use(self, index: int, start: int, factor: np.ndarray | float) -> None:
        """More (or less) of the same usage at the same price, from ``start`` on."""
        span = slice(start, start + np.size(factor)) if np.ndim(factor) else slice(start, None)
        self.cost[index][span] *= factor
        self.usage[index][span] *= factor

    def add_use(self, index: int, start: int, extra: np.ndarray) -> None:
        """Extra usage at the line's usual price, from ``start`` on."""
        self.cost[index][start:start + len(extra)] += extra
        self.usage[index][start:start + len(extra)] += extra

    def candidates(self, role: str, environments: Iterable[str] = ("prod",)) -> list[int]:
        envs = set(environments)
        return [i for i, line in enumerate(self.lines)
                if line.role == role and line.environment in envs and line.trap is None]

    def free(self, line: DemoLine, start: int, end: int) -> bool:
        return all(end + GAP <= s or start >= e + GAP for s, e in self.busy.get(line.workload, []))

    def place(self, rng: np.random.Generator, lines: list[int], duration: int, *,
              when: Callable[[int], bool] | None = None,
              starts: Iterable[int] | None = None) -> tuple[int, int] | None:
        """A target line and a start hour for an incident of ``duration`` hours.

        Untouched workloads first; ``when`` filters start hours (relaxed if nothing fits).
        """
        order = [lines[i] for i in rng.permutation(len(lines))]
        order.sort(key=lambda i: self.lines[i].workload in self.busy)
        span = list(starts if starts is not None
                    else range(self.earliest, self.latest - duration + 1))
        for test in (when, None) if when is not None else (None,):
            for index in order:
                ok = [s for s in span if (test is None or test(s))
                      and self.free(self.lines[index], s, s + duration)]
                if ok:
                    return index, int(rng.choice(ok))
        return None

    def reserve(self, kind: str, index: int, start: int, end: int) -> Event:
        line = self.lines[index]
        self.busy.setdefault(line.workload, []).append((start, end))
        return Event(kind, line, start, end)

    def typical(self, index: int, start: int) -> float:
        """The line's median hourly cost over the week before ``start``."""
        return float(np.median(self.cost[index][max(start - 7 * DAY, 0):start]))

    def working_hour(self, s: int) -> bool:
        return bool(self.clock.weekday[s] < 5 and 9 <= self.clock.hour[s] <= 16)


def _ramp(length: int, up: int, top: float) -> np.ndarray:
    """Multipliers that climb from 1 to ``top`` over ``up`` hours, then hold."""
    steps = np.clip(np.arange(1, length + 1) / max(up, 1), 0.0, 1.0)
    return 1.0 + (top - 1.0) * steps


def verbose_logging(scene: Scene, rng: np.random.Generator) -> Event | None:
    """An agent published with debug logging on a busy workload: logs x10-15 within hours."""
    lines = scene.candidates("logging")
    if scene.live:
        duration = int(rng.integers(6, 21))
        pick = scene.place(rng, lines, duration, starts=[scene.clock.n - duration])
    else:
        duration = int(rng.integers(10, 37))
        pick = scene.place(rng, lines, duration)
    if pick is None:
        return None
    index, start = pick
    up = int(rng.integers(1, 4))
    scene.scale_use(index, start, _ramp(duration, up, rng.uniform(10, 15)))
    return scene.reserve("verbose-logging", index, start, start + duration)


def _added_flat(scene: Scene, rng: np.random.Generator, kind: str, lines: list[int],
                hours: tuple[int, int], times: tuple[float, float]) -> Event | None:
    """Extra spend at ``times`` the line's typical level for a while, on top of normal use."""
    duration = int(rng.integers(*hours))
    pick = scene.place(rng, lines, duration)
    if pick is None:
        return None
    index, start = pick
    extra = (rng.uniform(*times) - 1.0) * scene.typical(index, start)
    scene.add_use(index, start, extra * rng.lognormal(0.0, 0.05, duration))
    return scene.reserve(kind, index, start, start + duration)


def runaway_agent_loop(scene: Scene, rng: np.random.Generator) -> Event | None:
    """An agent stuck in a tool-call loop burns tokens at full speed until someone kills it."""
    lines = scene.candidates("llm", ("prod", "staging"))
    return _added_flat(scene, rng, "runaway-agent-loop", lines, (3, 11), (8.0, 12.0))


def cross_region_transfer(scene: Scene, rng: np.random.Generator) -> Event | None:
    """A job pointed at a bucket in another region: transfer x5-8 until it is fixed."""
    lines = scene.candidates("transfer", ("prod", "staging"))
    return _added_flat(scene, rng, "cross-region-transfer", lines, (8, 37), (5.0, 8.0))


def _scaled(scene: Scene, rng: np.random.Generator, kind: str, hours: tuple[int, int],
            times: tuple[float, float]) -> Event | None:
    """The same traffic costs ``times`` as much from a working hour on, for a while: the
    price per unit changes, the usage does not."""
    duration = int(rng.integers(*hours))
    pick = scene.place(rng, scene.candidates("llm"), duration, when=scene.working_hour)
    if pick is None:
        return None
    index, start = pick
    scene.cost[index][start:start + duration] *= rng.uniform(*times)
    return scene.reserve(kind, index, start, start + duration)


def model_tier_switch(scene: Scene, rng: np.random.Generator) -> Event | None:
    """A deploy moves a prompt to a bigger model: the same traffic costs about twice as much."""
    return _scaled(scene, rng, "model-tier-switch", (24, 49), (1.8, 2.5))


def autoscaling_runaway(scene: Scene, rng: np.random.Generator) -> Event | None:
    """A bad scaling rule adds instances every hour until someone caps it."""
    up, hold = int(rng.integers(5, 11)), int(rng.integers(3, 13))
    duration = up + hold
    pick = scene.place(rng, scene.candidates("compute", ("prod", "staging")), duration)
    if pick is None:
        return None
    index, start = pick
    scene.scale_use(index, start, _ramp(duration, up, rng.uniform(3.5, 6.0)))
    return scene.reserve("autoscaling-runaway", index, start, start + duration)


def gpu_left_running(scene: Scene, rng: np.random.Generator) -> Event | None:
    """Nobody stopped the training box in the evening: it runs through the night or weekend."""
    lines = scene.candidates("gpu", ("dev",))
    for index in (lines[i] for i in rng.permutation(len(lines))):
        cost = scene.cost[index]
        on = cost > 0.3 * np.quantile(cost, 0.95)
        level = float(np.median(cost[on]))
        windows = []
        for day in range(scene.clock.days):
            hours = np.flatnonzero(on & (scene.clock.day == day))
            if not len(hours) or scene.clock.day_weekday[day] >= 5:
                continue
            start = int(hours[-1]) + 1
            later = np.flatnonzero(on[start:])
            end = start + int(later[0]) if len(later) else scene.clock.n
            if (start >= scene.earliest and end <= scene.latest
                    and scene.free(scene.lines[index], start, end)):
                windows.append((start, end))
        if not windows:
            continue
        weekends = [w for w in windows if w[1] - w[0] > 30]
        pool = weekends if weekends and rng.random() < 0.4 else windows
        start, end = pool[int(rng.integers(len(pool)))]
        if rng.random() < 0.3 and end - start > 12:  # someone noticed and stopped it
            end = start + int(rng.integers(8, end - start))
        cost[start:end] = level * rng.lognormal(0.0, 0.03, end - start)
        scene.usage[index][start:end] = cost[start:end]
        return scene.reserve("gpu-left-running", index, start, end)
    return None


def poc_to_production(scene: Scene, rng: np.random.Generator) -> Event | None:
    """A proof of concept ships: the same API appears in prod with real traffic overnight."""
    pick = scene.place(rng, scene.candidates("poc", ("dev",)), DAY, when=scene.working_hour)
    if pick is None:
        return None
    index, start = pick
    dev = scene.lines[index]
    line = DemoLine(dev.project, "prod", dev.owner, dev.provider, dev.service, dev.category,
                    dev.unit, float(rng.uniform(10.0, 25.0)), role="llm",
                    tag_style=dev.tag_style, env_tag="production", region=dev.region,
                    amp=0.35, peak=dev.hours[0] + 6, weekend=0.8, noise=0.08)
    cost, _ = baseline(line, scene.clock, rng)
    cost[:start] = 0.0
    scene.lines.append(line)
    scene.cost.append(cost)
    scene.usage.append(cost.copy())
    return scene.reserve("poc-to-production", len(scene.lines) - 1, start, start + DAY)


def retry_storm(scene: Scene, rng: np.random.Generator) -> Event | None:
    """A client retries every failed call without backoff: an API line x4-7 for a few hours."""
    lines = scene.candidates("llm", ("prod", "staging"))
    return _added_flat(scene, rng, "retry-storm", lines, (3, 7), (4.0, 7.0))


def prompt_cache_disabled(scene: Scene, rng: np.random.Generator) -> Event | None:
    """A config change turns prompt caching off: the same traffic costs 1.6-2x, for days."""
    return _scaled(scene, rng, "prompt-cache-disabled", (30, 61), (1.6, 2.0))


def log_retention_backfill(scene: Scene, rng: np.random.Generator) -> Event | None:
    """A re-index of old logs: the logging line x4-6 for half a day, then back."""
    lines = scene.candidates("logging", ("prod", "staging"))
    return _added_flat(scene, rng, "log-backfill", lines, (8, 16), (4.0, 6.0))


def _big(scene: Scene, roles: tuple[str, ...], least_usd: float) -> list[int]:
    """Production lines of these roles whose typical hour costs at least ``least_usd``."""
    return [i for role in roles for i in scene.candidates(role)
            if scene.typical(i, scene.earliest) >= least_usd]


def price_increase(scene: Scene, rng: np.random.Generator) -> Event | None:
    """The provider's price for the same usage goes up 35-45 % (a new tier, a lost discount)
    on the biggest steady lines, and stays up for days: a moderate shift that costs a lot.
    The usage does not change: only the price per unit tells it from more traffic."""
    lines = _big(scene, ("llm", "compute"), 10.0) or _big(scene, ("llm", "compute"), 5.0)
    duration = int(rng.integers(48, 97))
    pick = scene.place(rng, lines, duration)
    if pick is None:
        return None
    index, start = pick
    scene.cost[index][start:start + duration] *= rng.uniform(1.35, 1.45)
    return scene.reserve("price-increase", index, start, start + duration)


def two_hour_burst(scene: Scene, rng: np.random.Generator) -> Event | None:
    """A batch of requests fired by mistake: for two hours a big line costs 2.3-2.8 times what
    it cost at those hours a week before, then it is over. Too short for a level shift."""
    lines = _big(scene, ("llm", "compute"), 8.0) or _big(scene, ("llm", "compute"), 4.0)
    duration = 2
    pick = scene.place(rng, lines, duration, when=scene.working_hour)
    if pick is None:
        return None
    index, start = pick
    usual = scene.cost[index][start - 7 * DAY:start - 7 * DAY + duration]
    scene.add_use(index, start, rng.uniform(1.3, 1.8) * usual)
    return scene.reserve("two-hour-burst", index, start, start + duration)


def slow_leak(scene: Scene, rng: np.random.Generator) -> Event | None:
    """Something accumulates (snapshots nobody deletes, a queue that is never drained): a
    line's cost creeps up by a little every hour for days, until someone notices."""
    lines = [*scene.candidates("logging"), *scene.candidates("transfer"),
             *scene.candidates("compute")]
    duration = int(rng.integers(72, 121))
    pick = scene.place(rng, lines, duration)
    if pick is None:
        return None
    index, start = pick
    scene.scale_use(index, start, _ramp(duration, duration, rng.uniform(2.2, 3.0)))
    return scene.reserve("slow-leak", index, start, start + duration)


Incident = Callable[[Scene, np.random.Generator], "Event | None"]

# the first entry is the classic, always present (live at the end of data that ends now)
INCIDENTS: dict[str, Incident] = {
    "verbose-logging": verbose_logging,
    "gpu-left-running": gpu_left_running,
    "poc-to-production": poc_to_production,
    "cross-region-transfer": cross_region_transfer,
    "autoscaling-runaway": autoscaling_runaway,
    "runaway-agent-loop": runaway_agent_loop,
    "model-tier-switch": model_tier_switch,
}

# kinds the default demo does not use: for checking that detection generalises to incidents
# it was not built around (``bench/detect_quality.py --kinds``)
EXTRA_INCIDENTS: dict[str, Incident] = {
    "retry-storm": retry_storm,
    "prompt-cache-disabled": prompt_cache_disabled,
    "log-backfill": log_retention_backfill,
    "price-increase": price_increase,
    "two-hour-burst": two_hour_burst,
    "slow-leak": slow_leak,
}
