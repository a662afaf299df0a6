"""Anomaly lifecycle: one incident per workload, from the hourly findings.

Rules, in the order a responder would expect them:

* **open** when a workload has one strong hour, two confirming hours in a row, or
  ``sustained_hours`` anomalous hours out of the last ``sustained_window`` (see
  ``bot.detection._rules``: the bigger the jump against the line's own history, the less
  waiting); the incident starts at the first anomalous hour of that stretch;
* **open a burst that is over** when a stretch of anomalous hours too short for those rules
  ends (the workload is neither anomalous nor elevated for an hour), it was sharp (each hour
  stood out ``burst_standout`` times the line's ordinary excursions), it lasted
  ``burst_min_hours`` anomalous hours and its excess came to ``min_burst_usd``: the incident
  says when it ended and what it cost (``evidence["burst_ended_at"]``,
  ``evidence["burst_cost_usd"]``, ``evidence["burst_hours"]``). Busy lines have moderate
  anomalous hours, and single sharp ones, now and then; those stay quiet;
* **name a price change**: a finding whose evidence says a line's price per unit rose
  (``bot.detection.unit_cost``) opens, or renames, the incident as ``unit-cost``, started at
  the first dearer hour;
* **update** while it lasts: every elevated hour adds its excess to the impact so far and may
  raise the peak; the kind moves from spike to level shift after six elevated hours;
* **auto-resolve** after ``quiet_hours`` hours back to normal;
* **re-open** (same incident, no new alert) if it flares again within ``reopen_hours`` of
  resolving;
* on a **first run over history**, only incidents still going on in the newest hours alert:
  the caller replays history with ``alert=False`` and switches alerts on for the newest hour.

Pure and in memory; the scheduler persists :class:`Incident` to the ``anomaly`` table.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from bot.anomaly.enums import AnomalyKind, AnomalyStatus, EventKind
from bot.detection._rules import SUSTAINED_HOURS, SUSTAINED_WINDOW, Thresholds
from bot.detection.engine import SpendMatrix, detect_hour
from bot.detection.findings import Contributor, Finding
from bot.detection.normal import NormalFloors

__all__ = ["Incident", "Lifecycle", "LifecycleEvent", "catch_up"]

HOUR = pd.Timedelta(hours=1)
LEVEL_SHIFT_HOURS = 6
# a burst is judged once it is over: within this of its last anomalous hour's start (one hour
# back to normal, or one elevated hour then one normal)
BURST_NOTICE = pd.Timedelta(hours=3)


@dataclass
class Incident:
    id: int
    project: str
    environment: str
    owner: str
    phase: str
    kind: AnomalyKind
    started_at: pd.Timestamp
    detected_at: pd.Timestamp
    last_elevated_at: pd.Timestamp
    expected_cost: float
    actual_cost: float
    impact_usd: float
    peak_hourly_usd: float
    elevated_hours: int = 1
    status: AnomalyStatus = AnomalyStatus.OPEN
    resolved_at: pd.Timestamp | None = None
    # passed the detector's confirmation while people should hear of it (an incident that
    # opened and ended during a first run over history never is); whether it was posted is
    # the chat side's record (``alert`` rows), per platform
    alert_worthy: bool = False
    contributors: list[Contributor] = field(default_factory=list)
    evidence: dict[str, object] = field(default_factory=dict)

    @property
    def projected_daily_usd(self) -> float:
        return max(self.actual_cost - self.expected_cost, 0.0) * 24

    def to_alert(self) -> dict[str, Any]:
        """The alert line ``replay`` writes (and chat messages are built from)."""
        return {
            "alert_id": f"swa-{self.id}",
            "project": self.project,
            "environment": self.environment,
            "owner": self.owner,
            "phase": self.phase,
            "kind": self.kind,
            "started_at": _iso(self.started_at),
            "detected_at": _iso(self.detected_at),
            "expected_cost": round(self.expected_cost, 2),
            "actual_cost": round(self.actual_cost, 2),
            "impact_usd": round(self.impact_usd, 2),
            "projected_daily_usd": round(self.projected_daily_usd, 2),
            "baseline": self.evidence.get("baseline"),
            **{key: self.evidence[key] for key in _ALERT_EXTRAS if key in self.evidence},
            "top_contributors": [
                {"service": c.service, "region": c.region, "sku": c.sku,
                 "impact_usd": round(c.impact_usd, 2),
                 "expected_cost": round(c.expected, 2), "actual_cost": round(c.actual, 2)}
                for c in self.contributors
            ],
        }


# what the alert line carries beyond the figures when the detector said it: a burst that is
# over (when, what it cost) and a change of price per unit (before, after, usage change)
_ALERT_EXTRAS = ("burst_ended_at", "burst_cost_usd", "burst_hours", "unit_cost_service",
                 "unit_cost_sku", "unit_cost_unit", "unit_cost_before", "unit_cost_after",
                 "usage_change")


@dataclass(frozen=True)
class LifecycleEvent:
    kind: EventKind
    incident: Incident
    alert: bool  # whether this event should reach people


def _iso(stamp: pd.Timestamp) -> str:
    return pd.Timestamp(stamp).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


class Lifecycle:
    """Turns each poll's findings into incident events."""

    def __init__(self, *, quiet_hours: int = 6, reopen_hours: int = 24,
                 sustained_hours: int = SUSTAINED_HOURS,
                 sustained_window: int = SUSTAINED_WINDOW,
                 first_id: int = 1) -> None:
        self.quiet_hours = quiet_hours
        self.reopen_hours = reopen_hours
        self.sustained_hours = sustained_hours
        self.sustained_window = sustained_window
        self.open: dict[tuple[str, str], Incident] = {}
        self.resolved: dict[tuple[str, str], Incident] = {}
        # recent anomalous findings of workloads without an open incident, newest last
        self.recent: dict[tuple[str, str], list[Finding]] = {}
        self._ids = itertools.count(first_id)

    def apply(self, findings: list[Finding], *, now: pd.Timestamp,
              alert: bool = True) -> list[LifecycleEvent]:
        """Process the findings of the poll at data time ``now`` (end of the judged hour)."""
        events: list[LifecycleEvent] = []
        window = pd.Timedelta(hours=self.sustained_window)
        for finding in findings:
            key = (finding.project, finding.environment)
            if key in self.open:
                if finding.elevated or finding.anomalous:
                    events.append(self._update(self.open[key], finding))
                continue
            if not finding.anomalous:
                continue
            recent = [f for f in self.recent.get(key, []) if finding.hour - f.hour < window]
            recent.append(finding)
            self.recent[key] = recent
            if not self._should_open(recent):
                continue
            del self.recent[key]
            started = _stretch_start(recent)
            previous = self.resolved.get(key)
            if previous is not None and previous.resolved_at is not None and (
                finding.hour - previous.resolved_at <= pd.Timedelta(hours=self.reopen_hours)
            ):
                events.append(self._reopen(previous, finding, alert=alert))
            else:
                events.append(self._open(finding, started, now=now, alert=alert))
        busy = {(f.project, f.environment) for f in findings if f.anomalous or f.elevated}
        for key, recent in list(self.recent.items()):
            if key not in busy and key not in self.open:
                events += self._burst_over(key, recent, now=now, alert=alert)
        for key in [k for k, f in self.recent.items() if now - f[-1].hour > window]:
            del self.recent[key]
        for key, incident in list(self.open.items()):
            if now - incident.last_elevated_at - HOUR >= pd.Timedelta(hours=self.quiet_hours):
                incident.status = AnomalyStatus.AUTO_RESOLVED
                incident.resolved_at = now
                del self.open[key]
                self.resolved[key] = incident
                events.append(LifecycleEvent(EventKind.RESOLVED, incident, alert))
        return events

    def restore(self, incidents: list[Incident]) -> None:
        """Carry on from stored incidents (open ones, and recently resolved ones)."""
        for incident in sorted(incidents, key=lambda i: i.id):
            key = (incident.project, incident.environment)
            if incident.status == AnomalyStatus.OPEN:
                self.open[key] = incident
            else:
                self.resolved[key] = incident

    def _burst_over(self, key: tuple[str, str], recent: list[Finding], *, now: pd.Timestamp,
                    alert: bool) -> list[LifecycleEvent]:
        """Open an incident for the burst that ``recent`` ends with, if it was costly."""
        newest = recent[-1]
        if now - newest.hour > BURST_NOTICE:
            return []
        burst = [f for f in recent if f.hour >= _stretch_start(recent)]
        cost = sum(max(f.excess, 0.0) for f in burst)
        if (cost < newest.min_burst_usd or len(burst) < newest.burst_min_hours
                or not all(_sharp(f) for f in burst)):
            return []
        del self.recent[key]
        ended = newest.hour + HOUR
        previous = self.resolved.get(key)
        if previous is not None and previous.resolved_at is not None and (
            newest.hour - previous.resolved_at <= pd.Timedelta(hours=self.reopen_hours)
        ):
            event = self._reopen(previous, newest, alert=alert)
            incident = event.incident
            incident.impact_usd += cost - max(newest.excess, 0.0)
        else:
            event = self._open(newest, burst[0].hour, now=now, alert=alert)
            incident = event.incident
            incident.impact_usd = cost
            incident.elevated_hours = len(burst)
        incident.peak_hourly_usd = max(incident.peak_hourly_usd, *(f.actual for f in burst))
        incident.evidence["burst_ended_at"] = _iso(ended)
        incident.evidence["burst_cost_usd"] = round(cost, 2)
        incident.evidence["burst_hours"] = len(burst)
        return [event]

    def _should_open(self, recent: list[Finding]) -> bool:
        newest = recent[-1]
        if newest.strong:
            return True
        if newest.confirming and len(recent) >= 2:
            before = recent[-2]
            if before.confirming and newest.hour - before.hour == HOUR:
                return True
        return len(recent) >= self.sustained_hours

    def _open(self, finding: Finding, started: pd.Timestamp, *, now: pd.Timestamp,
              alert: bool) -> LifecycleEvent:
        incident = Incident(
            id=next(self._ids),
            project=finding.project,
            environment=finding.environment,
            owner=finding.owner,
            phase=finding.phase,
            kind=_kind(finding),
            started_at=started,
            detected_at=now,
            last_elevated_at=finding.hour,
            expected_cost=finding.expected,
            actual_cost=finding.actual,
            impact_usd=max(finding.excess, 0.0),
            peak_hourly_usd=finding.actual,
            contributors=list(finding.contributors),
            evidence=dict(finding.evidence),
        )
        since = finding.evidence.get("unit_cost_since")
        if isinstance(since, str):  # the price rose before the spend rules saw anything
            incident.started_at = min(started, pd.Timestamp(since))
        incident.alert_worthy = alert
        self.open[(finding.project, finding.environment)] = incident
        return LifecycleEvent(EventKind.OPENED, incident, alert)

    def _update(self, incident: Incident, finding: Finding) -> LifecycleEvent:
        incident.last_elevated_at = finding.hour
        incident.elevated_hours += 1
        incident.impact_usd += max(finding.excess, 0.0)
        incident.peak_hourly_usd = max(incident.peak_hourly_usd, finding.actual)
        incident.expected_cost = finding.expected
        incident.actual_cost = finding.actual
        if incident.kind == AnomalyKind.SPIKE and incident.elevated_hours >= LEVEL_SHIFT_HOURS:
            incident.kind = AnomalyKind.LEVEL_SHIFT
        if _priced(finding) and incident.kind in _PRICE_EXPLAINS:
            # the price per unit rose after the spend did: the truer name of what happened
            incident.kind = AnomalyKind.UNIT_COST
            incident.evidence.update({k: v for k, v in finding.evidence.items()
                                      if k in _UNIT_COST_KEYS})
        return LifecycleEvent(EventKind.UPDATED, incident, False)

    def _reopen(self, incident: Incident, finding: Finding, *, alert: bool) -> LifecycleEvent:
        key = (incident.project, incident.environment)
        del self.resolved[key]
        incident.status = AnomalyStatus.OPEN
        incident.resolved_at = None
        self.open[key] = incident
        incident.alert_worthy = incident.alert_worthy or alert
        self._update(incident, finding)
        return LifecycleEvent(EventKind.REOPENED, incident, alert)


def _sharp(finding: Finding) -> bool:
    return finding.standout >= finding.burst_standout


def _stretch_start(recent: list[Finding]) -> pd.Timestamp:
    """First hour of the newest run of anomalous hours (one missing hour does not break it)."""
    start = recent[-1].hour
    for finding in reversed(recent[:-1]):
        if start - finding.hour > 2 * HOUR:
            break
        start = finding.hour
    return start


# shapes a later unit-cost finding renames (new spend has no price before it to compare)
_PRICE_EXPLAINS = (AnomalyKind.SPIKE, AnomalyKind.LEVEL_SHIFT, AnomalyKind.OFF_HOURS,
                   AnomalyKind.RAMP)
_UNIT_COST_KEYS = ("unit_cost_service", "unit_cost_sku", "unit_cost_unit", "unit_cost_before",
                   "unit_cost_after", "unit_cost_excess_usd", "unit_cost_since", "usage_change")


def _priced(finding: Finding) -> bool:
    return "unit_cost_before" in finding.evidence


def _kind(finding: Finding) -> AnomalyKind:
    if finding.new_spend:
        return AnomalyKind.NEW_SPEND
    if _priced(finding):
        return AnomalyKind.UNIT_COST
    if finding.evidence.get("off_hours"):
        return AnomalyKind.OFF_HOURS
    if finding.evidence.get("ramp"):
        return AnomalyKind.RAMP
    return AnomalyKind.SPIKE


def catch_up(
    matrix: SpendMatrix,
    lifecycle: Lifecycle,
    *,
    first_index: int,
    thresholds_for: dict[tuple[str, str], Thresholds] | None = None,
    warmup_hours: int = 7 * 24,
    normal_floors: NormalFloors | None = None,
) -> list[LifecycleEvent]:
    """Judge hours ``first_index`` .. newest silently, then alert on what is still going on.

    A first run over history (or a restart after a gap) must not flood the channel with old
    news: incidents that opened and resolved in the past stay quiet; those still open at the
    newest hour become alert-worthy (one "opened" event each).
    """
    newest = matrix.hours - 1
    for index in range(max(first_index, 0), newest):
        findings = detect_hour(matrix, index, thresholds_for, warmup_hours=warmup_hours,
                               normal_floors=normal_floors)
        lifecycle.apply(findings, now=matrix.hour(index) + HOUR, alert=False)
    now = matrix.hour(newest) + HOUR
    findings = detect_hour(matrix, newest, thresholds_for, warmup_hours=warmup_hours,
                           normal_floors=normal_floors)
    events = [e for e in lifecycle.apply(findings, now=now, alert=True)
              if e.kind != EventKind.RESOLVED]
    for incident in lifecycle.open.values():
        if not incident.alert_worthy:
            incident.alert_worthy = True
            events.append(LifecycleEvent(EventKind.OPENED, incident, True))
    return events
