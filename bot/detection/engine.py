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
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from bot.detection._baseline import DAY, WEEK, Baseline, baseline_at
from bot.detection._rules import HourVerdict, ThresholdRows, Thresholds, judge
from bot.detection.normal import NormalFloors, Widening
from bot.detection.unit_cost import UnitCostVerdict, judge_unit_cost

__all__ = ["Contributor", "Finding", "SpendMatrix", "detect_hour", "thresholds_for_matrix"]

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


@dataclass(frozen=True)
class Contributor:
    """A service line's share of the rise; ``sku`` names the SKU that rose most within it."""

    service: str
    impact_usd: float
    expected: float
    actual: float
    region: str = ""
    sku: str = ""


@dataclass(frozen=True)
class Finding:
    """One workload's verdict for one hour."""

    project: str
    environment: str
    owner: str
    phase: str
    hour: pd.Timestamp
    anomalous: bool
    strong: bool
    confirming: bool
    elevated: bool
    new_spend: bool
    expected: float
    actual: float
    excess: float
    contributors: list[Contributor] = field(default_factory=list)
    evidence: dict[str, object] = field(default_factory=dict)
    # a short burst of anomalous hours opens an incident once over if its excess reached this
    min_burst_usd: float = float("inf")
    burst_standout: float = float("inf")
    burst_min_hours: int = 1
    # how far the most striking anomalous level (total or line) stood out from its own
    # ordinary excursions this hour (0 when none was anomalous)
    standout: float = 0.0


@dataclass(frozen=True)
class _Levels:
    """The verdicts of one hour: service lines, workload totals, and SKU lines (split only)."""

    services: HourVerdict
    totals: HourVerdict
    sku_rows: np.ndarray  # rows of matrix.lines judged on their own
    skus: HourVerdict | None


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
    sku_rows = np.flatnonzero(matrix.split)
    skus = None
    if len(sku_rows):
        key = ("sku thresholds", tuple(sorted(thresholds_for.items())), default)
        if key not in matrix._memo:
            matrix._memo[key] = rows("lines").take(sku_rows)
        skus = _verdict(matrix.values[sku_rows], index, matrix.first_seen_lines[sku_rows],
                        matrix._memo[key], warmup_hours,
                        lift=partial(widening.skus, rows=sku_rows) if widening else None)
        skus = _without_swaps(matrix, sku_rows, skus, services)
    levels = _Levels(services, totals, sku_rows, skus)
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
    return [_with_unit_cost(matrix, _finding(matrix, int(w), index, levels, flags, top,
                                             burst[w]), int(w), unit)
            for w in interesting]


def _unit_cost_workloads(matrix: SpendMatrix, unit: UnitCostVerdict) -> np.ndarray:
    """Per workload: is the price per unit of any of its lines anomalous?"""
    out = np.zeros(len(matrix.workloads), dtype=bool)
    out[matrix.workload_of_service[matrix.service_of_line[unit.rows]]] = True
    return out


def _with_unit_cost(matrix: SpendMatrix, finding: Finding, w: int,
                    unit: UnitCostVerdict) -> Finding:
    """The finding with the evidence of its line whose price per unit rose most in dollars."""
    mine = np.flatnonzero(matrix.workload_of_service[matrix.service_of_line[unit.rows]] == w)
    if not len(mine):
        return finding
    best = mine[int(np.argmax(unit.excess_usd[mine]))]
    line = matrix.lines.iloc[int(unit.rows[best])]
    change = float(unit.usage_change[best])
    evidence = {
        **finding.evidence,
        "unit_cost_service": str(line["service_name"]),
        "unit_cost_sku": str(line["sku_id"]),
        "unit_cost_unit": str(line["unit"]),
        "unit_cost_before": float(unit.before[best]),
        "unit_cost_after": float(unit.after[best]),
        "unit_cost_excess_usd": round(float(unit.excess_usd[best]), 4),
        "unit_cost_since": matrix.hour(int(unit.since[best])).isoformat(),
        **({"usage_change": round(change, 4)} if np.isfinite(change) else {}),
    }
    excess = max(finding.excess, round(float(unit.excess_usd[mine].sum()), 4))
    return replace(finding, excess=excess, evidence=evidence)


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


def _any(matrix: SpendMatrix, levels: _Levels, name: str) -> np.ndarray:
    """Per workload: does any service line, or any SKU line judged on its own, say ``name``?"""
    out = np.zeros(len(matrix.workloads), dtype=bool)
    np.logical_or.at(out, matrix.workload_of_service, getattr(levels.services, name))
    if levels.skus is not None:
        owners = matrix.workload_of_service[matrix.service_of_line[levels.sku_rows]]
        np.logical_or.at(out, owners, getattr(levels.skus, name))
    return out


def _finding(matrix: SpendMatrix, w: int, index: int, levels: _Levels,
             flags: dict[str, np.ndarray], top: int, thresholds: Thresholds) -> Finding:
    services, totals = levels.services, levels.totals
    service_rows = np.flatnonzero(matrix.workload_of_service == w)
    excess = services.excess[service_rows]
    order = service_rows[np.argsort(-excess, kind="stable")]
    contributors = [
        Contributor(
            service=matrix.text("services", "service_name")[r],
            region=matrix.text("services", "region")[r],
            sku=_top_sku(matrix, levels, r),
            impact_usd=round(float(services.excess[r]), 4),
            expected=round(float(services.expected[r]), 4),
            actual=round(float(services.actual[r]), 4),
        )
        for r in order[:top]
        if services.excess[r] > 0
    ]
    # the workload's excess: its total's, or (when only a line stands out) that line's
    line_excess = float(np.sum(np.clip(excess, 0, None) * services.anomalous[service_rows]))
    return Finding(
        project=matrix.text("workloads", "project")[w],
        environment=matrix.text("workloads", "environment")[w],
        owner=matrix.text("workloads", "owner")[w],
        phase=matrix.text("workloads", "phase")[w],
        hour=matrix.hour(index),
        anomalous=bool(flags["anomalous"][w]),
        strong=bool(flags["strong"][w]),
        confirming=bool(flags["confirming"][w]),
        elevated=bool(flags["elevated"][w]),
        new_spend=bool(flags["new_spend"][w]),
        expected=round(float(totals.expected[w]), 4),
        actual=round(float(totals.actual[w]), 4),
        excess=round(max(float(totals.excess[w]), line_excess), 4),
        contributors=contributors,
        min_burst_usd=thresholds.min_burst_usd if thresholds.burst_alerts else float("inf"),
        burst_standout=thresholds.burst_standout,
        burst_min_hours=thresholds.burst_min_hours,
        standout=_standout(totals, w, services, service_rows),
        evidence={
            "baseline": _describe_baseline(index, matrix.first_seen_totals[w]),
            "z": round(float(totals.z[w]), 2),
            **_shape(matrix.service_values, index, order[0] if len(order) else None,
                     services.expected),
        },
    )


def _standout(totals: HourVerdict, w: int, services: HourVerdict,
              service_rows: np.ndarray) -> float:
    levels = [float(totals.standout[w])] if totals.anomalous[w] else []
    levels += [float(v) for v in services.standout[service_rows][services.anomalous[service_rows]]]
    return round(max(levels, default=0.0), 3)


def _top_sku(matrix: SpendMatrix, levels: _Levels, service_row: int) -> str:
    """The SKU of a service line that rose most (its only SKU when it has one)."""
    lines = np.flatnonzero(matrix.service_of_line == service_row)
    if len(lines) == 1 or levels.skus is None:
        return matrix.text("lines", "sku_id")[lines[0]]
    position = np.searchsorted(levels.sku_rows, lines)
    best = lines[int(np.argmax(levels.skus.excess[position]))]
    return matrix.text("lines", "sku_id")[best]


def _verdict(values: np.ndarray, index: int, first_seen: np.ndarray,
             thresholds: list[Thresholds], warmup_hours: int,
             lift: Callable[[Baseline], Baseline] | None = None) -> HourVerdict:
    floors = np.array([t.expected_floor_usd for t in thresholds], dtype=float)
    baseline = baseline_at(values, index, first_seen, floor_usd=floors)
    if lift is not None:
        baseline = lift(baseline)
    can_be_new = first_seen >= warmup_hours
    return judge(values[:, index], baseline, thresholds, can_be_new=can_be_new)


def _shape(values: np.ndarray, index: int, line: int | None,
           expected: np.ndarray) -> dict[str, bool]:
    """What the top line's rise looks like: outside its usual hours, or a ramp."""
    if line is None:
        return {}
    recent = values[line, max(0, index - 3):index + 1]
    # the level the line runs at when it is on (its busy hours), over the last week
    working = float(np.percentile(values[line, max(0, index - WEEK):index], 90)) if index else 0.0
    off_hours = bool(expected[line] < 0.25 * working and values[line, index] > 0.5 * working > 0)
    ramp = bool(len(recent) == 4 and np.all(recent[1:] >= 1.15 * recent[:-1]))
    return {"off_hours": off_hours, "ramp": ramp}


def _describe_baseline(index: int, first_seen: int) -> str:
    history = index - first_seen
    if history >= 2 * WEEK:
        weeks = min(4, history // WEEK)
        return f"median of the same hour in the previous {weeks} weeks"
    if history >= DAY:
        days = min(14, history // DAY)
        return f"median of the same hour on the previous {days} days"
    return "no history: new spend"
