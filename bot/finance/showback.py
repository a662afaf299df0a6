"""Showback: shared spend split across the projects that consume it, to the cent.

A line of spend that matches a shared pool in ``showback.shared`` is shared, whatever project
its tags gave it; everything else is the direct spend of its project. Each pool is split in
proportion to direct spend, evenly, or by fixed percentages, in whole cents by the largest
remainder method: every project gets the floor of its exact quota and the cents left over go,
one each, to the largest fractions (ties to the project named first). Quotas are computed
with exact fractions, so the shares of a pool add up to the pool's total in cents whatever the
amounts and weights; a float sum of shares could drift by a cent and the point of showback is
that finance can reconcile it with the invoice.

Amounts are summed per project (and per pool) before they are rounded to cents: a row's
``direct`` is the rounded sum of its project's lines, and totals are sums of the rows, so the
table always adds up across and down. Spend with no project (``unallocated``) is shown as a
row of its own and consumes no shared pool.

:func:`showback` is pure (a frame of spend per series in, dataclasses out);
:func:`load_showback` reads a period from the store and calls it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase
from fractions import Fraction

import pandas as pd
from sqlalchemy.engine import Connection

from bot.finance.config import SharedCost, SharedMatch
from bot.ingest.allocation import UNALLOCATED
from storage.queries.showback import series_spend

__all__ = [
    "SPLITS",
    "PoolSplit",
    "ProjectShowback",
    "Showback",
    "ShowbackError",
    "load_showback",
    "month_bounds",
    "pool_of",
    "showback",
    "split_cents",
    "to_cents",
]

SPLITS = ("proportional", "even", "fixed")
_MATCH_COLUMNS = ("provider", "billing_account_id", "sub_account_id", "sub_account_name",
                  "service_name", "service_category", "region")


class ShowbackError(ValueError):
    """A split that cannot be made as configured; says what to change."""


@dataclass(frozen=True)
class PoolSplit:
    """One shared pool: its total and each consuming project's share, in cents."""

    name: str
    split: str  # the split used: proportional, even or fixed
    total_cents: int
    shares: dict[str, int]
    note: str | None = None  # why the split differs from the configured one, if it does


@dataclass(frozen=True)
class ProjectShowback:
    """A project's direct spend and its share of each pool, in cents."""

    project: str
    direct_cents: int
    shared_cents: dict[str, int] = field(default_factory=dict)

    @property
    def shared_total_cents(self) -> int:
        return sum(self.shared_cents.values())

    @property
    def total_cents(self) -> int:
        return self.direct_cents + self.shared_total_cents


@dataclass(frozen=True)
class Showback:
    """Direct and shared spend per project (largest total first), and the pools."""

    projects: list[ProjectShowback]
    pools: list[PoolSplit]

    @property
    def direct_cents(self) -> int:
        return sum(p.direct_cents for p in self.projects)

    @property
    def shared_cents(self) -> int:
        return sum(p.total_cents for p in self.pools)

    @property
    def total_cents(self) -> int:
        return self.direct_cents + self.shared_cents

    @property
    def notes(self) -> list[str]:
        return [f"{p.name}: {p.note}" for p in self.pools if p.note]


def to_cents(amount: float) -> int:
    """An amount in the base currency as whole cents (half a cent away from zero)."""
    cents = Fraction(amount) * 100
    whole = int(abs(cents) + Fraction(1, 2))
    return whole if cents >= 0 else -whole


def split_cents(total_cents: int, weights: Mapping[str, float | int | Fraction]) -> dict[str, int]:
    """``total_cents`` split in proportion to ``weights`` (each 0 or more, not all 0) by the
    largest remainder method: the shares add up to ``total_cents`` exactly. A negative total
    (a credit) is split as its size and given back its sign."""
    exact = {key: Fraction(weight) for key, weight in weights.items()}
    if not exact or any(w < 0 for w in exact.values()) or sum(exact.values()) == 0:
        raise ShowbackError("a split needs weights of 0 or more, at least one above 0; "
                            f"got {dict(weights)}")
    size, sign = abs(total_cents), (-1 if total_cents < 0 else 1)
    whole = sum(exact.values())
    quotas = {key: size * w / whole for key, w in exact.items()}
    shares = {key: int(q) for key, q in quotas.items()}  # floor: quotas are not negative
    left = size - sum(shares.values())
    # largest fraction first; sorted() is stable, so a tie goes to the key named first
    order = sorted(quotas, key=lambda key: quotas[key] - shares[key], reverse=True)
    for key in order[:left]:
        shares[key] += 1
    return {key: sign * cents for key, cents in shares.items()}


def pool_of(frame: pd.DataFrame, pools: Sequence[SharedCost]) -> pd.Series:
    """The name of the pool each line of spend belongs to ("" for direct spend): the first
    pool whose match it meets."""
    out = pd.Series("", index=frame.index, dtype=object)
    for pool in pools:
        hit = _matches(frame, pool.match) & (out == "")
        out[hit] = pool.name
    return out


def _matches(frame: pd.DataFrame, match: SharedMatch) -> pd.Series:
    hit = pd.Series(True, index=frame.index)
    wanted = [(c, getattr(match, c)) for c in _MATCH_COLUMNS if getattr(match, c)]
    wanted += [(c, [pattern]) for c, pattern in match.tag.items()]
    for column, patterns in wanted:
        if column not in frame.columns:
            raise ShowbackError(f"the spend has no {column} column to match shared pools on")
        values = frame[column].astype(str)
        lowered = [p.lower() for p in patterns]
        matching = [v for v in values.unique() if any(fnmatchcase(v.lower(), p) for p in lowered)]
        hit &= values.isin(matching)  # each distinct value is matched once
    return hit


def showback(frame: pd.DataFrame, pools: Sequence[SharedCost]) -> Showback:
    """Direct and shared spend per project from ``frame`` (one row per line of spend with
    ``project``, ``cost`` and the columns the pools match on)."""
    if "project" not in frame.columns or "cost" not in frame.columns:
        raise ShowbackError("the spend needs project and cost columns")
    pool = pool_of(frame, pools)
    project = frame["project"].astype(str).replace("", UNALLOCATED)
    cost = frame["cost"].astype(float)
    direct_sums = cost[pool == ""].groupby(project[pool == ""]).sum()
    direct = {str(name): to_cents(amount) for name, amount in direct_sums.items()}
    consumers = sorted(name for name, cents in direct.items()
                       if cents != 0 and name != UNALLOCATED)
    splits = []
    for config in pools:
        total = to_cents(float(cost[pool == config.name].sum()))
        splits.append(_split_pool(config, total, direct, consumers))
    names = set(direct) | {name for s in splits for name in s.shares}
    rows = [ProjectShowback(name, direct.get(name, 0),
                            {s.name: s.shares[name] for s in splits if name in s.shares})
            for name in names]
    rows = [r for r in rows if r.direct_cents or any(r.shared_cents.values())]
    rows.sort(key=lambda r: (r.project == UNALLOCATED, -r.total_cents, r.project))
    return Showback(rows, splits)


def _split_pool(config: SharedCost, total: int, direct: Mapping[str, int],
                consumers: Sequence[str]) -> PoolSplit:
    """One pool split as configured, or evenly (with a note) when its projects have no
    direct spend to be proportional to."""
    if config.split == "fixed":
        percentages = {name: Fraction(str(pct)) for name, pct in config.percentages.items()}
        idle = sorted(name for name in percentages if not direct.get(name)) if total else []
        note = (f"{', '.join(idle)} had no direct spend but took a fixed share; check the "
                f"project names in percentages" if idle else None)
        return PoolSplit(config.name, "fixed", total, split_cents(total, percentages), note)
    chosen = list(dict.fromkeys(config.projects)) or list(consumers)
    if not chosen and not total:
        return PoolSplit(config.name, config.split, total, {})
    if not chosen:
        return PoolSplit(config.name, config.split, total, {UNALLOCATED: total},
                         note="no project had direct spend to share it, so it is shown "
                              "as unallocated; list its projects under projects")
    if config.split == "proportional":
        weights = {name: max(direct.get(name, 0), 0) for name in chosen}
        if any(weights.values()):
            idle = sorted(name for name, weight in weights.items() if not weight)
            note = (f"{', '.join(idle)} had no direct spend, so took no share"
                    if idle and total else None)
            return PoolSplit(config.name, "proportional", total, split_cents(total, weights),
                             note)
        return PoolSplit(config.name, "even", total, split_cents(total, dict.fromkeys(chosen, 1)),
                         note="none of its projects had direct spend, so it was split evenly")
    return PoolSplit(config.name, "even", total, split_cents(total, dict.fromkeys(chosen, 1)))


def month_bounds(period: str) -> tuple[datetime, datetime]:
    """``2026-10`` as its first hour and the first hour of the next month (UTC)."""
    try:
        start = pd.Timestamp(f"{period.strip()}-01", tz="UTC")
    except ValueError:
        start = None
    if start is None or start.strftime("%Y-%m") != period.strip():
        raise ShowbackError(f"--period {period!r} is not a month; give it as YYYY-MM, "
                            "e.g. 2026-10")
    end = start + pd.offsets.MonthBegin(1)
    return start.to_pydatetime(), end.to_pydatetime()


def load_showback(*, connection: Connection, pools: Sequence[SharedCost], start: datetime,
                  end: datetime, metric: str = "effective") -> Showback:
    """Showback of ``[start, end)`` from the store (EffectiveCost, or BilledCost)."""
    frame = series_spend(connection=connection, start=start, end=end, metric=metric)
    return showback(frame, pools)
