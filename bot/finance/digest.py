"""The weekly finance digest: the figures of one week against the week before, from the store.

Pure computation over the store: nothing is sent or written here (``bot.finance.digest_send``
queues it; ``bot.finance.digest_view`` draws it). The week is the seven days before the
digest's hour, ``[week_ending - 7 d, week_ending)``, compared with the seven days before that;
its days are the seven 24-hour buckets from the week's start (so with a digest at Monday
09:00 UTC, each "day" runs from 09:00 to 09:00). Amounts are EffectiveCost in the base
currency, every charge category included, as budgets count them.

What each figure means:

- **Spend by project**: this week, last week, the change; with the project's budgets
  (``bot.finance.budgets``) as of the week's end: spent so far in the budget's period, its
  amount, and the period-end forecast.
- **Anomalies opened** are those detected in the week; **resolved** those whose resolution
  fell in the week. An anomaly is resolved at the first of: people finishing the playbook or
  marking it expected (audit log), or the detector finding spend back to normal
  (``resolved_at`` while its status is auto-resolved). Dollar impact is ``impact_usd``: the
  excess over the detector's baseline, summed over the anomalous hours.
- **Time to acknowledge**: from ``detected_at`` to the first thing a person did to own it
  (acknowledge, mark expected, start or answer the playbook, resolve), over the anomalies
  whose first such act fell in the week. **Time to resolve**: from ``detected_at`` to the
  resolution, over the anomalies resolved in the week. Each is given as a median and a mean,
  in hours; an anomaly is counted in the week its act happened, so no act is counted twice.
- **Spend caught early** (an estimate, for anomalies detected in the week). Assumption: a
  daily detector, as the providers' own anomaly detection works on daily cost, sees a day's
  anomaly only once that UTC day has closed and its data has arrived, taken here as the end of
  the UTC day of ``detected_at`` plus 24 hours (billing data commonly lags about a day; this
  is an assumption, not a published figure). Then::

      daily_seen   = midnight UTC starting the day of detected_at + 48 h
      hours_saved  = max(0, daily_seen - detected_at) in hours
      rate         = impact_usd / anomalous hours (started_at to last_seen_at, at least 1)
      caught_early = rate * hours_saved

  i.e. the excess that would have kept running at the anomaly's own average rate until a daily
  detector noticed it.
- **What changed**: the most frequent answers to the playbook's "what changed" question (the
  field the playbook's ``resolution.what_changed`` names), among answers saved in the week.
- **Unallocated spend**: spend whose project is the unallocated marker (``unallocated``, as
  ``bot.costs.service.unallocated`` counts it), this week against last, per day, and its share
  of all spend.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError
from sqlmodel import Session

from bot.anomaly.enums import AnomalyStatus, AuditAction
from bot.costs.service import data_end, percent_change
from bot.finance.budgets import BudgetStatus, budget_statuses
from bot.ingest.allocation import UNALLOCATED
from bot.playbook.engine import PlaybookState, SelectAnswer
from bot.settings import Settings
from storage.models import Anomaly
from storage.queries import digest as digest_q
from storage.timeutil import as_utc

__all__ = ["ACKNOWLEDGING", "DAILY_DETECTOR_LAG", "RESOLVING", "AnomalyLine",
           "Digest", "DigestError", "Durations", "EarlyCatch", "ProjectLine", "Unallocated",
           "caught_early", "compute_digest", "daily_spend", "digest_key", "durations",
           "week_bounds"]

WEEK = timedelta(days=7)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
# after the end of the UTC day of detection, when a daily detector has the day's data
DAILY_DETECTOR_LAG = timedelta(hours=24)
TOP_WHAT_CHANGED = 3
ACKNOWLEDGING = (AuditAction.ACKNOWLEDGED, AuditAction.EXPECTED, AuditAction.PLAYBOOK_STARTED,
                 AuditAction.PLAYBOOK_STEP, AuditAction.STABILISED, AuditAction.RESOLVED)
RESOLVING = (AuditAction.RESOLVED, AuditAction.EXPECTED)


class DigestError(ValueError):
    """The digest cannot be made as asked; the message says what to give instead."""


@dataclass(frozen=True)
class ProjectLine:
    project: str
    spend: float
    previous: float
    budgets: tuple[BudgetStatus, ...] = ()

    @property
    def change(self) -> float:
        return self.spend - self.previous

    @property
    def change_pct(self) -> float | None:
        return percent_change(self.spend, self.previous)


@dataclass(frozen=True)
class AnomalyLine:
    anomaly_id: int
    project: str
    environment: str
    impact_usd: float
    detected_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True)
class Durations:
    """Hours from detection to an act, over ``count`` anomalies (None when there are none)."""

    count: int
    median_hours: float | None
    mean_hours: float | None


@dataclass(frozen=True)
class EarlyCatch:
    anomaly_id: int
    project: str
    rate_per_hour: float
    hours_saved: float

    @property
    def usd(self) -> float:
        return self.rate_per_hour * self.hours_saved


@dataclass(frozen=True)
class Unallocated:
    spend: float
    previous: float
    total: float  # all spend this week
    days: tuple[float, ...]  # this week, day by day

    @property
    def change_pct(self) -> float | None:
        return percent_change(self.spend, self.previous)

    @property
    def share(self) -> float | None:
        return None if abs(self.total) < 1e-9 else 100 * self.spend / self.total


@dataclass(frozen=True)
class Digest:
    week_start: datetime
    week_ending: datetime
    days: tuple[datetime, ...]  # the start of each day of the week
    daily: tuple[float, ...]  # all spend, day by day, this week
    daily_previous: tuple[float, ...]  # ... and the week before
    projects: tuple[ProjectLine, ...]  # largest spend first
    opened: tuple[AnomalyLine, ...]
    resolved: tuple[AnomalyLine, ...]
    acknowledge: Durations
    resolve: Durations
    early: tuple[EarlyCatch, ...]
    what_changed: tuple[tuple[str, int], ...]  # (answer, times), most frequent first
    unallocated: Unallocated
    data_end: datetime | None = None  # just after the newest hour with spend data, if any

    @property
    def late_data(self) -> bool:
        """The newest spend data stops before the week's end (an export arrives late)."""
        return self.data_end is not None and self.data_end < self.week_ending

    @property
    def key(self) -> str:
        return digest_key(self.week_ending)

    @property
    def total(self) -> float:
        return sum(self.daily)

    @property
    def previous_total(self) -> float:
        return sum(self.daily_previous)

    @property
    def change_pct(self) -> float | None:
        return percent_change(self.total, self.previous_total)

    @property
    def opened_impact(self) -> float:
        return sum(a.impact_usd for a in self.opened)

    @property
    def resolved_impact(self) -> float:
        return sum(a.impact_usd for a in self.resolved)

    @property
    def caught_early_usd(self) -> float:
        return sum(c.usd for c in self.early)


def week_bounds(week_ending: datetime) -> tuple[datetime, datetime]:
    """The week a digest covers: the seven days before ``week_ending`` (on the hour, UTC)."""
    end = as_utc(week_ending)
    if (end.minute, end.second, end.microsecond) != (0, 0, 0):
        raise DigestError(f"the week must end on the hour, got {end:%Y-%m-%d %H:%M:%S} UTC; "
                          f"give a whole hour such as {end:%Y-%m-%dT%H}:00Z")
    return end - WEEK, end


def digest_key(week_ending: datetime) -> str:
    """The digest's name, by the ISO week its first day falls in: ``digest:2026-W48``."""
    year, week, _ = (week_bounds(week_ending)[0]).isocalendar()
    return f"digest:{year}-W{week:02d}"


def compute_digest(*, db_session: Session, settings: Settings, week_ending: datetime,
                   what_changed: str | None = "what_changed.change") -> Digest:
    """Every figure of the digest for the week ending at ``week_ending`` (see the module).

    ``what_changed`` is the playbook field (``step.field``) whose answers are counted: the
    playbook's ``resolution.what_changed``; None counts none.
    """
    start, end = week_bounds(week_ending)
    days = tuple(start + i * DAY for i in range(7))
    spend = digest_q.spend_by_project_and_day(
        connection=db_session.connection(), edges=[start - WEEK + i * DAY for i in range(15)])
    projects = _projects(spend, _budgets(db_session, settings, end))
    daily, loose = _by_day(spend), _by_day(spend, project=UNALLOCATED)
    anomalies = digest_q.anomalies_between(db_session=db_session, start=start, end=end,
                                           resolving_actions=RESOLVING)
    acts = digest_q.first_actions(db_session=db_session,
                                  anomaly_ids=[int(a.id or 0) for a in anomalies],
                                  actions=set(ACKNOWLEDGING) | set(RESOLVING))
    opened, resolved, acknowledged, resolve_hours = [], [], [], []
    for anomaly in anomalies:
        detected = as_utc(anomaly.detected_at)
        done = _resolved_at(anomaly, acts.get(int(anomaly.id or 0), {}))
        line = AnomalyLine(int(anomaly.id or 0), anomaly.project, anomaly.environment,
                           anomaly.impact_usd, detected, done)
        if start <= detected < end:
            opened.append(line)
        if done is not None and start <= done < end:
            resolved.append(line)
            resolve_hours.append(_hours(done - detected))
        ack = _first(acts.get(int(anomaly.id or 0), {}), ACKNOWLEDGING)
        if ack is not None and start <= ack < end:
            acknowledged.append(_hours(ack - detected))
    early = tuple(caught_early(a) for a in anomalies
                  if start <= as_utc(a.detected_at) < end and a.impact_usd > 0)
    return Digest(
        week_start=start, week_ending=end, days=days, daily=tuple(daily[7:]),
        daily_previous=tuple(daily[:7]), projects=projects, opened=tuple(opened),
        resolved=tuple(resolved), acknowledge=durations(acknowledged),
        resolve=durations(resolve_hours), early=early,
        what_changed=_what_changed(db_session, start, end, what_changed),
        unallocated=Unallocated(spend=sum(loose[7:]), previous=sum(loose[:7]),
                                total=sum(daily[7:]), days=tuple(loose[7:])),
        data_end=data_end(db_session.connection()),
    )


def daily_spend(*, db_session: Session, week_ending: datetime
                ) -> tuple[tuple[datetime, ...], tuple[float, ...], tuple[float, ...]]:
    """The week's days, and all spend per day this week and the week before (the chart's)."""
    start, _ = week_bounds(week_ending)
    daily = _by_day(digest_q.spend_by_project_and_day(
        connection=db_session.connection(), edges=[start - WEEK + i * DAY for i in range(15)]))
    return tuple(start + i * DAY for i in range(7)), tuple(daily[7:]), tuple(daily[:7])


def caught_early(anomaly: Anomaly) -> EarlyCatch:
    """How much sooner than a daily detector the anomaly was seen, and at what excess per hour
    (the definition is in the module docstring)."""
    detected = as_utc(anomaly.detected_at)
    day_start = datetime(detected.year, detected.month, detected.day, tzinfo=UTC)
    daily_seen = day_start + DAY + DAILY_DETECTOR_LAG
    active = _hours(as_utc(anomaly.last_seen_at) + HOUR - as_utc(anomaly.started_at))
    rate = anomaly.impact_usd / max(active, 1.0)
    return EarlyCatch(int(anomaly.id or 0), anomaly.project, rate,
                      max(0.0, _hours(daily_seen - detected)))


def durations(hours: Sequence[float]) -> Durations:
    if not hours:
        return Durations(0, None, None)
    return Durations(len(hours), statistics.median(hours), statistics.fmean(hours))


def _budgets(db_session: Session, settings: Settings, end: datetime) -> list[BudgetStatus]:
    """The budgets as of the week's last instant (``bot.finance.budgets``, read-only)."""
    return budget_statuses(db_session=db_session, settings=settings,
                           now=end - timedelta(microseconds=1))


def _projects(spend: Sequence[digest_q.DayProjectSpend], budgets: Sequence[BudgetStatus]
              ) -> tuple[ProjectLine, ...]:
    week: dict[str, float] = {}
    before: dict[str, float] = {}
    for row in spend:
        target = week if row.bucket >= 7 else before
        target[row.project] = target.get(row.project, 0.0) + row.cost
    lines: dict[str, list[BudgetStatus]] = {}
    for status in budgets:
        lines.setdefault(status.budget.project, []).append(status)
    names = set(week) | set(before) | set(lines)
    out = [ProjectLine(name, week.get(name, 0.0), before.get(name, 0.0),
                       tuple(lines.get(name, ()))) for name in names]
    return tuple(sorted(out, key=lambda p: (-p.spend, -p.previous, p.project)))


def _by_day(spend: Sequence[digest_q.DayProjectSpend], *, project: str | None = None
            ) -> list[float]:
    """Fourteen daily sums: the week before, then the week (of one ``project``, or all)."""
    out = [0.0] * 14
    for row in spend:
        if project is None or row.project == project:
            out[row.bucket] += row.cost
    return out


def _first(acts: dict[str, datetime], actions: Sequence[str]) -> datetime | None:
    moments = [acts[a] for a in actions if a in acts]
    return min(moments) if moments else None


def _resolved_at(anomaly: Anomaly, acts: dict[str, datetime]) -> datetime | None:
    moments = [m for m in (_first(acts, RESOLVING),) if m is not None]
    if anomaly.status == AnomalyStatus.AUTO_RESOLVED and anomaly.resolved_at is not None:
        moments.append(as_utc(anomaly.resolved_at))
    return min(moments) if moments else None


def _hours(span: timedelta) -> float:
    return max(0.0, span.total_seconds() / 3600)


def _what_changed(db_session: Session, start: datetime, end: datetime, ref: str | None
                  ) -> tuple[tuple[str, int], ...]:
    if ref is None:
        return ()
    step_id, _, field_id = ref.partition(".")
    counts: Counter[str] = Counter()
    for run in digest_q.playbook_runs_between(db_session=db_session, start=start, end=end):
        try:
            state = PlaybookState.model_validate(run.answers)
        except ValidationError:
            continue  # a run saved by an older, incompatible version: nothing to count
        record = state.steps.get(step_id)
        if record is None or not start <= as_utc(record.at) < end:
            continue
        answer = record.values.get(field_id)
        text = answer.label if isinstance(answer, SelectAnswer) else answer
        if isinstance(text, str) and text.strip():
            counts[text.strip()] += 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return tuple(ranked[:TOP_WHAT_CHANGED])
