"""Detection over many lines of spend for one hour: findings per workload, with evidence.

A *line* is one service of one (project, environment); a *workload* is the (project,
environment) and its total is judged too, so a broad rise is caught even when no single line
stands out, and a 12-fold rise in a small line (logging) is caught even when the total moves
less. Pure: arrays in, findings out. The scheduler builds the matrix from the store, ``replay``
from a file; both call :func:`detect_hour`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bot.detection._baseline import DAY, WEEK, baseline_at
from bot.detection._rules import HourVerdict, Thresholds, judge

__all__ = ["Contributor", "Finding", "SpendMatrix", "detect_hour", "thresholds_for_matrix"]

# a line of spend: a service of a workload, in one region (region "" when the data has none)
LINE_KEYS = ("project", "environment", "service_name", "region")


@dataclass
class SpendMatrix:
    """Hourly usage spend: one row per line, one column per hour from ``start``."""

    start: pd.Timestamp
    values: np.ndarray  # lines x hours, float
    lines: pd.DataFrame  # project, environment, service_name, [region,] owner, phase

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=float)
        if "region" not in self.lines:
            self.lines = self.lines.assign(region="")
        codes, workloads = pd.factorize(
            pd.MultiIndex.from_frame(self.lines[["project", "environment"]])
        )
        self.workload_of_line = codes
        self.workloads = pd.DataFrame(list(workloads), columns=["project", "environment"])
        firsts = self.lines.groupby(codes, sort=True)[["owner", "phase"]].first()
        self.workloads["owner"] = firsts["owner"].to_numpy()
        self.workloads["phase"] = firsts["phase"].to_numpy()
        self.recompute()

    def recompute(self) -> None:
        """Totals per workload and first hours with spend (after ``values`` changed)."""
        totals = np.zeros((len(self.workloads), self.values.shape[1]))
        np.add.at(totals, self.workload_of_line, self.values)
        self.totals = totals
        self.first_seen_lines = _first_nonzero(self.values)
        self.first_seen_totals = _first_nonzero(totals)

    @property
    def hours(self) -> int:
        return self.values.shape[1]

    def hour(self, index: int) -> pd.Timestamp:
        return self.start + pd.Timedelta(hours=index)

    def index_of(self, hour: pd.Timestamp) -> int:
        return int((pd.Timestamp(hour) - self.start) / pd.Timedelta(hours=1))

    @classmethod
    def from_points(
        cls, points: pd.DataFrame, *, start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
    ) -> SpendMatrix:
        """From hourly points (hour, project, environment, service_name, region, owner, phase,
        cost); ``region`` may be absent. ``cost`` is usage spend; ``end`` is exclusive.
        """
        if "region" not in points:
            points = points.assign(region="")
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
        return cls(start=start, values=values, lines=lines)


def thresholds_for_matrix(
    matrix: SpendMatrix, resolve: Callable[[str, str], dict[str, float]]
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
    service: str
    impact_usd: float
    expected: float
    actual: float
    region: str = ""


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


def detect_hour(
    matrix: SpendMatrix,
    index: int,
    thresholds_for: dict[tuple[str, str], Thresholds] | None = None,
    *,
    default: Thresholds | None = None,
    warmup_hours: int = 7 * DAY,
    top: int = 5,
) -> list[Finding]:
    """Findings for every workload that is anomalous or elevated in column ``index``.

    ``thresholds_for`` maps (environment, phase) to thresholds (:func:`thresholds_for_matrix`).
    """
    default = default or Thresholds()
    thresholds_for = thresholds_for or {}

    def rows(frame: pd.DataFrame) -> list[Thresholds]:
        return [
            thresholds_for.get((env, phase), default)
            for env, phase in zip(frame["environment"], frame["phase"], strict=True)
        ]

    lines = _verdict(matrix.values, index, matrix.first_seen_lines, rows(matrix.lines),
                     warmup_hours)
    totals = _verdict(matrix.totals, index, matrix.first_seen_totals, rows(matrix.workloads),
                      warmup_hours)
    # a workload is what its total says, or what any of its lines says
    flags = {
        "anomalous": totals.anomalous | _any(matrix, lines.anomalous),
        "strong": totals.strong | _any(matrix, lines.strong),
        "confirming": totals.confirming | _any(matrix, lines.confirming),
        "elevated": totals.elevated | _any(matrix, lines.anomalous | lines.elevated),
        "new_spend": totals.new_spend | _any(matrix, lines.new_spend),
    }
    interesting = np.flatnonzero(flags["anomalous"] | flags["elevated"])
    return [_finding(matrix, w, index, lines, totals, flags, top) for w in interesting]


def _any(matrix: SpendMatrix, per_line: np.ndarray) -> np.ndarray:
    out = np.zeros(len(matrix.workloads), dtype=bool)
    np.logical_or.at(out, matrix.workload_of_line, per_line)
    return out


def _finding(matrix: SpendMatrix, w: int, index: int, lines: HourVerdict, totals: HourVerdict,
             flags: dict[str, np.ndarray], top: int) -> Finding:
    line_rows = np.flatnonzero(matrix.workload_of_line == w)
    excess_lines = lines.excess[line_rows]
    order = line_rows[np.argsort(-excess_lines, kind="stable")]
    contributors = [
        Contributor(
            service=str(matrix.lines.at[r, "service_name"]),
            region=str(matrix.lines.at[r, "region"]),
            impact_usd=round(float(lines.excess[r]), 4),
            expected=round(float(lines.expected[r]), 4),
            actual=round(float(lines.actual[r]), 4),
        )
        for r in order[:top]
        if lines.excess[r] > 0
    ]
    # the workload's excess: its total's, or (when only a line stands out) that line's
    line_excess = float(np.sum(np.clip(excess_lines, 0, None) * lines.anomalous[line_rows]))
    return Finding(
        project=str(matrix.workloads.at[w, "project"]),
        environment=str(matrix.workloads.at[w, "environment"]),
        owner=str(matrix.workloads.at[w, "owner"]),
        phase=str(matrix.workloads.at[w, "phase"]),
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
        evidence={
            "baseline": _describe_baseline(index, matrix.first_seen_totals[w]),
            "z": round(float(totals.z[w]), 2),
            **_shape(matrix.values, index, order[0] if len(order) else None, lines.expected),
        },
    )


def _verdict(values: np.ndarray, index: int, first_seen: np.ndarray,
             thresholds: list[Thresholds], warmup_hours: int) -> HourVerdict:
    baseline = baseline_at(values, index, first_seen)
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
