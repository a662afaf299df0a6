"""Replay: run detection over a FOCUS export as if the scheduler had polled it hour by hour.

The contract evaluations use. One poll per hour of data time; the poll at time T sees only the
rows whose ChargePeriodEnd is at or before T (a daily row becomes visible when its day ends),
judges the newest complete hour, and feeds the same lifecycle the scheduler uses. Each alert
opened is one JSON line (``"type": "anomaly"``), and so is each budget threshold the same poll
would have recorded (``"type": "budget"``, from ``bot.finance.replay``), in time order. No chat
platform, no database, no network.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bot.anomaly.enums import EventKind
from bot.anomaly.lifecycle import Incident, Lifecycle
from bot.detection.engine import LINE_KEYS, SpendMatrix, detect_hour, thresholds_for_matrix
from bot.finance.replay import BudgetReplay
from bot.ingest.allocation import Allocator
from bot.ingest.service import convert_currency, spread_hours
from bot.ingest.sources.focus import discover_files, read_chunks
from bot.settings import Settings

__all__ = ["OutputError", "ReplayResult", "check_output", "load_usage_points", "replay",
           "write_alerts"]

HOUR = pd.Timedelta(hours=1)


@dataclass
class ReplayResult:
    alerts: list[dict[str, object]]  # anomaly lines
    polls: int
    lines: int
    rejected_rows: int
    budget_alerts: list[dict[str, object]] = field(default_factory=list)

    def records(self) -> list[dict[str, object]]:
        """Every line the replay writes, anomalies and budgets, by the poll that raised it."""
        def when(record: dict[str, object]) -> str:
            return str(record["detected_at"] if record["type"] == "anomaly"
                       else record["crossed_at"])

        return sorted([*self.alerts, *self.budget_alerts], key=when)


def load_usage_points(path: Path, settings: Settings) -> tuple[pd.DataFrame, int]:
    """Usage spend (and units consumed) per line and hour from FOCUS files, with the time
    each became visible."""
    allocator = Allocator(settings.allocation)
    frames, rejected = [], 0
    for file in discover_files(path):
        for chunk in read_chunks(file):
            rejected += len(chunk.rejected)
            items, refused = convert_currency(chunk.items, settings)
            rejected += len(refused)
            items = items[items["charge_category"] == "Usage"]
            if items.empty:
                continue
            items, _ = allocator.allocate_frame(items)
            spread = spread_hours(items)
            frames.append(pd.DataFrame({
                "hour": spread["hour"],
                "visible_at": spread["end"],
                "project": spread["project"].astype(str),
                "environment": spread["environment"].astype(str),
                "service_name": spread["service_name"].astype(str),
                "region": spread["region"].astype(str),
                "sku_id": spread["sku_id"].astype(str),
                "owner": spread["owner"].astype(str),
                "phase": spread["phase"].astype(str),
                "cost": spread["effective_cost"].astype(float),
                "quantity": spread["usage_quantity"].astype(float),
                "unit": spread["usage_unit"].fillna("").astype(str),
            }))
    if not frames:
        columns = ["hour", "visible_at", "project", "environment", "service_name", "region",
                   "sku_id", "owner", "phase", "cost", "quantity", "unit"]
        return pd.DataFrame(columns=columns), rejected
    return pd.concat(frames, ignore_index=True), rejected


def replay(
    path: Path,
    settings: Settings,
    *,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
) -> ReplayResult:
    """Alerts opened by hourly polls over the data at ``path`` (``start``/``end``: poll times).

    Each line is the incident as the poll that opened it saw it (when, how much, which
    contributors), except its ``kind``: one incident carries one kind label everywhere it is
    shown, and that is the kind it has when the replay ends, the label the store, the chat
    message and ``detect`` show. The lifecycle refines it while the incident lasts (a spike
    still elevated after six hours is a level shift), so the later label is the truer one.
    Budget lines (``budget_alerts``) are the thresholds of the config's budgets the same polls
    reached (``bot.finance.replay``).
    """
    points, rejected = load_usage_points(path, settings)
    if points.empty:
        return ReplayResult([], 0, 0, rejected)
    points["hour"] = pd.to_datetime(points["hour"], utc=True)
    points["visible_at"] = pd.to_datetime(points["visible_at"], utc=True)
    late = points["visible_at"] > points["hour"] + HOUR
    matrix = SpendMatrix.from_points(points.assign(cost=np.where(late, 0.0, points["cost"]),
                                                   quantity=np.where(late, 0.0,
                                                                     points["quantity"])))
    pending = points[late].sort_values("visible_at")
    table = thresholds_for_matrix(matrix, settings.detection.thresholds)
    detection = settings.detection
    lifecycle = Lifecycle(
        quiet_hours=detection.quiet_hours_to_resolve,
        reopen_hours=detection.reopen_within_hours,
    )
    budgets = BudgetReplay(points, settings)
    opened: list[tuple[dict[str, object], Incident]] = []
    budget_alerts: list[dict[str, object]] = []
    polls = 0
    for index, now in _poll_times(matrix, start, end):
        pending = _reveal(matrix, pending, now)
        budget_alerts.extend(budgets.poll(now))
        findings = detect_hour(matrix, index, table, warmup_hours=detection.warmup_days * 24)
        for event in lifecycle.apply(findings, now=now):
            if event.kind == EventKind.OPENED and event.alert:
                opened.append((event.incident.to_alert(), event.incident))
        polls += 1
    alerts = [{"type": "anomaly", **alert, "kind": incident.kind} for alert, incident in opened]
    return ReplayResult(alerts, polls, len(matrix.lines), rejected, budget_alerts)


def _poll_times(matrix: SpendMatrix, start: pd.Timestamp | None,
                end: pd.Timestamp | None) -> Iterator[tuple[int, pd.Timestamp]]:
    for index in range(matrix.hours):
        now = matrix.hour(index) + HOUR  # the hour [index, index + 1) is complete at now
        if start is not None and now < start:
            continue
        if end is not None and now > end:
            break
        yield index, now


def _reveal(matrix: SpendMatrix, pending: pd.DataFrame, now: pd.Timestamp) -> pd.DataFrame:
    """Add rows that became visible by ``now`` (daily and longer rows arrive late)."""
    if pending.empty or pending["visible_at"].iloc[0] > now:
        return pending
    ready = pending[pending["visible_at"] <= now]
    key = list(LINE_KEYS)
    keys = matrix.lines.set_index(key).index
    rows = keys.get_indexer(pd.MultiIndex.from_frame(ready[key]))
    columns = ((ready["hour"] - matrix.start) / HOUR).to_numpy().astype(int)
    np.add.at(matrix.values, (rows, columns), ready["cost"].to_numpy())
    if matrix.quantities is not None:
        np.add.at(matrix.quantities, (rows, columns), ready["quantity"].to_numpy())
    matrix.recompute()
    return pending[pending["visible_at"] > now]


class OutputError(Exception):
    """The alerts file cannot be written where asked; the message starts with the path."""


def check_output(out: Path) -> None:
    """Refuse, before a long replay, a path whose alerts could not be written."""
    folder = out.parent
    if out.is_dir():
        raise OutputError(f"{out} is a folder; give a file in it, e.g. {out / 'alerts.jsonl'}")
    if not folder.is_dir():
        raise OutputError(f"{out}: the folder {folder} does not exist; create it or choose "
                          f"another path")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".spendwatch-"):
            pass
        if out.exists():
            with out.open("a"):
                pass
    except OSError as exc:
        raise _unwritable(out, exc) from None


def write_alerts(alerts: list[dict[str, object]], out: Path) -> None:
    """One JSON line per alert; the folder is created if it is missing."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8") as handle:
            for alert in alerts:
                handle.write(json.dumps(alert) + "\n")
    except OSError as exc:
        raise _unwritable(out, exc) from None


def _unwritable(out: Path, exc: OSError) -> OutputError:
    return OutputError(f"{out}: cannot be written ({exc.strerror or exc}); choose a file in a "
                       f"folder you can write to")
