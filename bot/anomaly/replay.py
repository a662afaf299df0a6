"""Replay: run detection over a FOCUS export as if the scheduler had polled it hour by hour.

The contract evaluations use. One poll per hour of data time; the poll at time T sees only the
rows whose ChargePeriodEnd is at or before T (a daily row becomes visible when its day ends),
judges the newest complete hour, and feeds the same lifecycle the scheduler uses. Each alert
opened is one JSON line (``"type": "anomaly"``), and so is each budget threshold the same poll
would have recorded (``"type": "budget"``, from ``bot.finance.replay``), in time order. No chat
platform, no network, and no database but the plans the caller read from one: an incident a plan
covers (``bot.anomaly.plans.judge``, the scheduler's decision) is written as
``"type": "suppressed"`` with the plan's id, and alerts later only if it outgrows the envelope,
then with ``"plan_id"``, ``"plan_exceeded_usd"`` and ``"alerted_at"``.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bot.anomaly.enums import EventKind
from bot.anomaly.lifecycle import HOUR as LIFECYCLE_HOUR
from bot.anomaly.lifecycle import Incident, Lifecycle
from bot.anomaly.plans import IncidentFacts, PlanDecision, judge
from bot.detection.engine import LINE_KEYS, SpendMatrix, detect_hour, thresholds_for_matrix
from bot.finance.replay import BudgetReplay
from bot.ingest.allocation import Allocator
from bot.ingest.service import convert_currency, spread_hours
from bot.ingest.sources.focus import discover_files, read_chunks
from bot.settings import Settings
from storage.models import Plan

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
    suppressed: list[dict[str, object]] = field(default_factory=list)  # inside a plan

    def records(self) -> list[dict[str, object]]:
        """Every line the replay writes (anomalies, budgets, incidents inside plans), by the
        poll that raised it."""
        def when(record: dict[str, object]) -> str:
            if record["type"] == "budget":
                return str(record["crossed_at"])
            return str(record.get("alerted_at") or record["detected_at"])

        return sorted([*self.alerts, *self.budget_alerts, *self.suppressed], key=when)


class PlanBook:
    """The plans a replay honours, and which incident each one holds so far."""

    def __init__(self, plans: Sequence[Plan]) -> None:
        self.plans = list(plans)
        self.held: dict[int, tuple[int, Incident]] = {}  # incident id -> (plan id, incident)

    def judge(self, incident: Incident) -> PlanDecision | None:
        if not self.plans:
            return None
        used: dict[int, float] = {}
        for other_id, (plan_id, other) in self.held.items():
            if other_id != incident.id:
                used[plan_id] = used.get(plan_id, 0.0) + other.impact_usd
        service = incident.contributors[0].service if incident.contributors else ""
        facts = IncidentFacts(
            project=incident.project, environment=incident.environment, service=service,
            started_at=incident.started_at.to_pydatetime(),
            ended_at=(incident.last_elevated_at + LIFECYCLE_HOUR).to_pydatetime(),
            impact_usd=incident.impact_usd)
        decision = judge(self.plans, used, facts)
        if decision is None:
            self.held.pop(incident.id, None)
        else:
            self.held[incident.id] = (int(decision.plan.id or 0), incident)
        return decision


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
    plans: Sequence[Plan] = (),
) -> ReplayResult:
    """Alerts opened by hourly polls over the data at ``path`` (``start``/``end``: poll times).

    Each line is the incident as the poll that opened it saw it (when, how much, which
    contributors), except its ``kind``: one incident carries one kind label everywhere it is
    shown, and that is the kind it has when the replay ends, the label the store, the chat
    message and ``detect`` show. The lifecycle refines it while the incident lasts (a spike
    still elevated after six hours is a level shift), so the later label is the truer one.
    Budget lines (``budget_alerts``) are the thresholds of the config's budgets the same polls
    reached (``bot.finance.replay``). ``plans`` are honoured as the scheduler honours them.
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
    book, quiet = PlanBook(plans), _Quiet()
    polls = 0
    for index, now in _poll_times(matrix, start, end):
        pending = _reveal(matrix, pending, now)
        budget_alerts.extend(budgets.poll(now))
        findings = detect_hour(matrix, index, table, warmup_hours=detection.warmup_days * 24)
        for event in lifecycle.apply(findings, now=now):
            incident = event.incident
            if event.kind == EventKind.OPENED and event.alert:
                alert = quiet.judge(book, incident, now)
                if alert is not None:
                    opened.append((alert, incident))
            elif incident.id in quiet.lines and event.kind != EventKind.RESOLVED:
                alert = quiet.judge(book, incident, now)  # grew: past the envelope now?
                if alert is not None:
                    opened.append((alert, incident))
        polls += 1
    alerts = [{"type": "anomaly", **alert, "kind": incident.kind} for alert, incident in opened]
    return ReplayResult(alerts, polls, len(matrix.lines), rejected, budget_alerts,
                        list(quiet.lines.values()))


class _Quiet:
    """Incidents kept quiet by a plan: their ``suppressed`` lines, updated while they grow."""

    def __init__(self) -> None:
        self.lines: dict[int, dict[str, object]] = {}

    def judge(self, book: PlanBook, incident: Incident,
              now: pd.Timestamp) -> dict[str, object] | None:
        """The alert line to write now, or None while a plan covers the incident."""
        decision = book.judge(incident)
        alert = incident.to_alert()
        if decision is not None and decision.covered:
            line = self.lines.setdefault(incident.id, {
                "type": "suppressed", "alert_id": alert["alert_id"], "project": incident.project,
                "environment": incident.environment, "detected_at": alert["detected_at"],
                "plan_id": decision.plan.id})
            line["impact_usd"] = alert["impact_usd"]
            return None
        was_quiet = self.lines.pop(incident.id, None) is not None
        late = {"alerted_at": pd.Timestamp(now).strftime("%Y-%m-%dT%H:%M:%SZ")}
        if decision is None:  # no plan, or it outlasted the plan's end
            return {**alert, **late} if was_quiet else alert
        return {**alert, "plan_id": decision.plan.id,
                "plan_exceeded_usd": round(decision.exceeded_by, 2), **late}


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
