"""Detection over many lines of spend for one hour: findings per workload, with evidence.

Three levels are judged every hour, each against its own baseline:

* the *workload* total (project, environment), so a broad rise is caught even when no single
  line stands out;
* each *service line* (service in a region), so a 12-fold rise in a small line (logging) is
  caught even when the total moves less;
* each *SKU line* of a service line that has more than one SKU (for AI services the SKU is the
  model and token kind), so a model that suddenly takes the traffic is caught inside a busy
  service. A SKU that appears while its siblings lose about as much is a swap (a model
  migration), not new spend;
* the *price per unit* of every line with quantities (``bot.detection.unit_cost``), so the
  same usage costing more (a price change, a cache turned off, a pricier tier) is caught and
  told apart from more traffic.

Resources are not lines: instances and endpoints are replaced all day by autoscaling and
deployments, and every replacement would look like new spend. Pure: arrays in, findings out.
The scheduler builds the matrix from the store, ``replay`` from a file; both call
:func:`detect_hour`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from bot.detection._baseline import DAY, Baseline, baseline_at
from bot.detection._rules import HourVerdict, ThresholdRows, Thresholds, judge
from bot.detection.findings import Finding, Levels, build_finding, with_unit_cost
from bot.detection.normal import NormalFloors, Widening
from bot.detection.unit_cost import UnitCostVerdict, judge_unit_cost

__all__ = ["SpendMatrix", "detect_hour", "thresholds_for_matrix"]

# a service line: a service of a workload in one region (region "" when the data has none)
SERVICE_KEYS = ("project", "environment", "service_name", "region")
# the finest line: a SKU of a service line (sku_id "" when the data has none)
LINE_KEYS = (*SERVICE_KEYS, "sku_id")
# a new SKU whose siblings lost at least this share of its spend replaced them
SWAP_SHARE = 0.5


@dataclass
class SpendMatrix:
    """Hourly usage spend: one row per line (SKU of a service line), one column per hour."""

    start: pd.Timestamp
    values: np.ndarray  # lines x hours, float
    lines: pd.DataFrame  # project, environment, service_name, [region, sku_id,] owner, phase
    # units consumed (FOCUS ConsumedQuantity), lines x hours; 0 where unknown. ``lines["unit"]``
    # names the unit ("" for a line without one, or with more than one)
    quantities: np.ndarray | None = None
    # what every hour's judgement reads from the frames, worked out once (:meth:`thresholds`,
    # :meth:`text`); the frames are not changed after construction
    _memo: dict[tuple[object, ...], Any] = field(default_factory=dict, init=False, repr=False,
                                                 compare=False)

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=float)
        if self.quantities is not None:
            self.quantities = np.asarray(self.quantities, dtype=float)
            if self.quantities.shape != self.values.shape:
                raise ValueError(f"quantities are {self.quantities.shape}, spend is "
                                 f"{self.values.shape}: one figure per line and hour in both")
        if "unit" not in self.lines:
            self.lines = self.lines.assign(unit="")
        for optional in ("region", "sku_id"):
            if optional not in self.lines:
                self.lines = self.lines.assign(**{optional: ""})
        codes, services = pd.factorize(pd.MultiIndex.from_frame(self.lines[list(SERVICE_KEYS)]))
        self.service_of_line = codes
        self.services = pd.DataFrame(list(services), columns=list(SERVICE_KEYS))
        self.split = np.bincount(codes, minlength=len(self.services))[codes] > 1
        codes, workloads = pd.factorize(
            pd.MultiIndex.from_frame(self.services[["project", "environment"]])
        )
        self.workload_of_service = codes
        self.workloads = pd.DataFrame(list(workloads), columns=["project", "environment"])
        meta = self.lines.groupby(self.service_of_line, sort=True)[["owner", "phase"]].first()
        self.services["owner"] = meta["owner"].to_numpy()
        self.services["phase"] = meta["phase"].to_numpy()
        firsts = self.services.groupby(codes, sort=True)[["owner", "phase"]].first()
        self.workloads["owner"] = firsts["owner"].to_numpy()
        self.workloads["phase"] = firsts["phase"].to_numpy()
        self.recompute()

    def recompute(self) -> None:
        """Service lines, workload totals and first hours with spend (after ``values`` changed)."""
        if len(self.services) == len(self.lines):  # one SKU per service line: no copy
            self.service_values = self.values
        else:
            self.service_values = np.zeros((len(self.services), self.values.shape[1]))
            np.add.at(self.service_values, self.service_of_line, self.values)
        totals = np.zeros((len(self.workloads), self.values.shape[1]))
        np.add.at(totals, self.workload_of_service, self.service_values)
        self.totals = totals
        self.first_seen_lines = _first_nonzero(self.values)
        self.first_seen_services = _first_nonzero(self.service_values)
        self.first_seen_totals = _first_nonzero(totals)

    @property
    def hours(self) -> int:
        return self.values.shape[1]

    @property
    def split_rows(self) -> np.ndarray:
        """Rows of :attr:`lines` judged on their own: the SKUs of service lines with more
        than one."""
        return np.flatnonzero(self.split)

    def thresholds(self, of: str, table: dict[tuple[str, str], Thresholds],
                   default: Thresholds) -> ThresholdRows:
        """The thresholds of each row of ``of`` ("lines", "services" or "workloads"), by its
        environment and phase (``default`` for a pair not in ``table``)."""
        key = ("thresholds", of, tuple(sorted(table.items())), default)
        found = self._memo.get(key)
        if found is None:
            frame: pd.DataFrame = getattr(self, of)
            found = ThresholdRows(
                table.get((env, phase), default)
                for env, phase in zip(frame["environment"], frame["phase"], strict=True))
            self._memo[key] = found
        return found

    def split_thresholds(self, table: dict[tuple[str, str], Thresholds],
                         default: Thresholds) -> ThresholdRows:
        """The thresholds of the :attr:`split_rows`, the SKU lines judged on their own."""
        key = ("split thresholds", tuple(sorted(table.items())), default)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = self.thresholds("lines", table, default).take(
                self.split_rows)
        return found

    def text(self, of: str, column: str) -> dict[Any, str]:
        """Column ``column`` of frame ``of`` as text, by row label (as ``frame.at``)."""
        key = ("text", of, column)
        found = self._memo.get(key)
        if found is None:
            frame: pd.DataFrame = getattr(self, of)
            found = {label: str(value) for label, value in zip(frame.index, frame[column],
                                                               strict=True)}
            self._memo[key] = found
        return found

    def hour(self, index: int) -> pd.Timestamp:
        return self.start + pd.Timedelta(hours=index)

    def index_of(self, hour: pd.Timestamp) -> int:
        return int((pd.Timestamp(hour) - self.start) / pd.Timedelta(hours=1))

    @classmethod
    def from_points(
        cls, points: pd.DataFrame, *, start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
    ) -> SpendMatrix:
        """From hourly points (hour, project, environment, service_name, region, sku_id, owner,
        phase, cost, [quantity, unit]); ``region`` and ``sku_id`` may be absent. ``cost`` is
        usage spend; ``end`` is exclusive. With ``quantity`` (units consumed) and ``unit`` the
        matrix carries quantities too (:func:`_quantities`).
        """
        for optional in ("region", "sku_id"):
            if optional not in points:
                points = points.assign(**{optional: ""})
        hours = pd.to_datetime(points["hour"], utc=True)
        start = pd.Timestamp(start) if start is not None else hours.min()
        end = pd.Timestamp(end) if end is not None else hours.max() + pd.Timedelta(hours=1)
        n_hours = max(int((end - start) / pd.Timedelta(hours=1)), 0)
        keys = points[list(LINE_KEYS)].astype(str)
        codes, distinct = pd.factorize(pd.MultiIndex.from_frame(keys))
        lines = pd.DataFrame(list(distinct), columns=list(LINE_KEYS))
        meta = points.assign(_line=codes).groupby("_line", sort=True)[["owner", "phase"]].first()
        lines["owner"] = meta["owner"].astype(str).to_numpy()
        lines["phase"] = meta["phase"].astype(str).to_numpy()
        column = ((hours - start) / pd.Timedelta(hours=1)).to_numpy().astype(np.int64)
        inside = (column >= 0) & (column < n_hours)
        values = np.zeros((len(lines), n_hours))
        np.add.at(values, (codes[inside], column[inside]), points["cost"].to_numpy()[inside])
        quantities = None
        if "quantity" in points:
            lines["unit"], quantities = _quantities(points, codes, column, inside, values.shape)
        return cls(start=start, values=values, lines=lines, quantities=quantities)


def _quantities(points: pd.DataFrame, codes: np.ndarray, column: np.ndarray,
                inside: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Each line's unit and quantity matrix. A line whose points name more than one unit
    has no quantity (units of different things do not add up); nor does a point without a
    unit, unless the whole line has none."""
    units = (points["unit"].fillna("").astype(str) if "unit" in points
             else pd.Series("", index=points.index))
    named = units.to_numpy() != ""
    kinds = pd.DataFrame({"line": codes[named], "unit": units.to_numpy()[named]}).groupby(
        "line")["unit"].agg(["first", "nunique"])
    unit = np.full(shape[0], "", dtype=object)
    mixed = np.zeros(shape[0], dtype=bool)
    unit[kinds.index.to_numpy()] = kinds["first"].to_numpy()
    mixed[kinds.index.to_numpy()] = kinds["nunique"].to_numpy() > 1
    unit[mixed] = ""
    amount = pd.to_numeric(points["quantity"], errors="coerce").fillna(0.0).to_numpy(float)
    keep = inside & ~mixed[codes] & (named | (unit[codes] == ""))
    quantities = np.zeros(shape)
    np.add.at(quantities, (codes[keep], column[keep]), amount[keep])
    return unit.astype(str), quantities


def thresholds_for_matrix(
    matrix: SpendMatrix, resolve: Callable[[str, str], dict[str, Any]]
) -> dict[tuple[str, str], Thresholds]:
    """Thresholds for every (environment, phase) in the matrix; ``resolve`` gives the fields
    (``DetectionSettings.thresholds`` in practice)."""
    pairs = set(zip(matrix.lines["environment"], matrix.lines["phase"], strict=True))
    return {(env, phase): Thresholds(**resolve(env, phase)) for env, phase in pairs}


def _first_nonzero(values: np.ndarray) -> np.ndarray:
    nonzero = values != 0
    first = np.argmax(nonzero, axis=1)
    return np.where(nonzero.any(axis=1), first, values.shape[1])


def detect_hour(
    matrix: SpendMatrix,
    index: int,
    thresholds_for: dict[tuple[str, str], Thresholds] | None = None,
    *,
    default: Thresholds | None = None,
    warmup_hours: int = 7 * DAY,
    top: int = 5,
    normal_floors: NormalFloors | None = None,
) -> list[Finding]:
    """Findings for every workload that is anomalous or elevated in column ``index``.

    ``thresholds_for`` maps (environment, phase) to thresholds (:func:`thresholds_for_matrix`);
    ``normal_floors`` raises what counts as normal for some lines (:mod:`bot.detection.normal`).
    """
    default = default or Thresholds()
    thresholds_for = thresholds_for or {}

    def rows(of: str) -> ThresholdRows:
        return matrix.thresholds(of, thresholds_for, default)

    widening = Widening.of(matrix, normal_floors)
    services = _verdict(matrix.service_values, index, matrix.first_seen_services,
                        rows("services"), warmup_hours,
                        lift=widening.services if widening else None)
    totals = _verdict(matrix.totals, index, matrix.first_seen_totals, rows("workloads"),
                      warmup_hours, lift=widening.totals if widening else None)
    sku_rows = matrix.split_rows
    skus = None
    if len(sku_rows):
        skus = _verdict(matrix.values[sku_rows], index, matrix.first_seen_lines[sku_rows],
                        matrix.split_thresholds(thresholds_for, default),
                        warmup_hours,
                        lift=partial(widening.skus, rows=sku_rows) if widening else None)
        skus = _without_swaps(matrix, sku_rows, skus, services)
    levels = Levels(services, totals, sku_rows, skus)
    # a workload is what its total says, or what any of its lines says
    flags = {
        name: getattr(totals, name) | _any(matrix, levels, name)
        for name in ("anomalous", "strong", "confirming", "new_spend")
    }
    flags["elevated"] = totals.elevated | _any(matrix, levels, "elevated") | _any(
        matrix, levels, "anomalous")
    unit = judge_unit_cost(matrix.values, matrix.quantities, index, rows("lines"))
    priced = _unit_cost_workloads(matrix, unit)
    for name in ("anomalous", "strong", "confirming", "elevated"):
        flags[name] = flags[name] | priced
    interesting = np.flatnonzero(flags["anomalous"] | flags["elevated"])
    burst = rows("workloads")
    return [with_unit_cost(matrix, build_finding(matrix, int(w), index, levels, flags, top,
                                                 burst[w]), int(w), unit)
            for w in interesting]


def _unit_cost_workloads(matrix: SpendMatrix, unit: UnitCostVerdict) -> np.ndarray:
    """Per workload: is the price per unit of any of its lines anomalous?"""
    out = np.zeros(len(matrix.workloads), dtype=bool)
    out[matrix.workload_of_service[matrix.service_of_line[unit.rows]]] = True
    return out


def _without_swaps(matrix: SpendMatrix, rows: np.ndarray, skus: HourVerdict,
                   services: HourVerdict) -> HourVerdict:
    """New SKU spend is a swap, not new spend, when its service line as a whole did not rise
    by at least ``SWAP_SHARE`` of it (the old SKU lost what the new one gained)."""
    parent = matrix.service_of_line[rows]
    swap = skus.new_spend & (services.excess[parent] < SWAP_SHARE * skus.actual)
    if not swap.any():
        return skus
    keep = ~swap
    return HourVerdict(
        actual=skus.actual, expected=skus.expected, excess=skus.excess, z=skus.z,
        anomalous=skus.anomalous & (keep | ~skus.new_spend),
        confirming=skus.confirming & (keep | ~skus.new_spend),
        strong=skus.strong & (keep | ~skus.new_spend),
        elevated=skus.elevated & keep,
        new_spend=skus.new_spend & keep,
        standout=skus.standout,
    )


def _any(matrix: SpendMatrix, levels: Levels, name: str) -> np.ndarray:
    """Per workload: does any service line, or any SKU line judged on its own, say ``name``?"""
    out = np.zeros(len(matrix.workloads), dtype=bool)
    np.logical_or.at(out, matrix.workload_of_service, getattr(levels.services, name))
    if levels.skus is not None:
        owners = matrix.workload_of_service[matrix.service_of_line[levels.sku_rows]]
        np.logical_or.at(out, owners, getattr(levels.skus, name))
    return out


def _verdict(values: np.ndarray, index: int, first_seen: np.ndarray,
             thresholds: list[Thresholds], warmup_hours: int,
             lift: Callable[[Baseline], Baseline] | None = None) -> HourVerdict:
    floors = np.array([t.expected_floor_usd for t in thresholds], dtype=float)
    baseline = baseline_at(values, index, first_seen, floor_usd=floors)
    if lift is not None:
        baseline = lift(baseline)
    can_be_new = first_seen >= warmup_hours
    return judge(values[:, index], baseline, thresholds, can_be_new=can_be_new)
