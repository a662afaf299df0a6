"""What one hour's judgement says about a workload: its finding, with the evidence an alert
shows (contributors and their SKUs, the baseline's description, the shape of the rise, the
price per unit).

:func:`bot.detection.engine.detect_hour` judges the levels; this module turns the verdicts of
one workload into a :class:`Finding`. Kept apart so that the engine reads as the judgement
alone and what an alert says about it can change without touching the thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bot.detection._baseline import DAY, WEEK
from bot.detection._rules import HourVerdict, Thresholds
from bot.detection.unit_cost import UnitCostVerdict

if TYPE_CHECKING:
    from bot.detection.engine import SpendMatrix

__all__ = ["Contributor", "Finding", "Levels", "build_finding", "with_unit_cost"]


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
class Levels:
    """The verdicts of one hour: service lines, workload totals, and SKU lines (split only)."""

    services: HourVerdict
    totals: HourVerdict
    sku_rows: np.ndarray  # rows of matrix.lines judged on their own
    skus: HourVerdict | None


def build_finding(matrix: SpendMatrix, w: int, index: int, levels: Levels,
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


def _top_sku(matrix: SpendMatrix, levels: Levels, service_row: int) -> str:
    """The SKU of a service line that rose most (its only SKU when it has one)."""
    lines = np.flatnonzero(matrix.service_of_line == service_row)
    if len(lines) == 1 or levels.skus is None:
        return matrix.text("lines", "sku_id")[lines[0]]
    position = np.searchsorted(levels.sku_rows, lines)
    best = lines[int(np.argmax(levels.skus.excess[position]))]
    return matrix.text("lines", "sku_id")[best]


def with_unit_cost(matrix: SpendMatrix, finding: Finding, w: int,
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
