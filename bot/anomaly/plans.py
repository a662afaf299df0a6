"""Planned spend: a dollar envelope on a workload, until a date, inside which no alert fires.

A plan covers an anomaly when the project matches, the environment matches (or the plan's is
``*``), the service matches the anomaly's top contributor (or the plan's is ``""``), and every
hour of the anomaly lies in ``[starts_at, ends_at)``. The envelope (``amount_usd``) is the
spend above normal the plan covers in total: the ``impact_usd`` of every anomaly it covered,
this one included. Within it the anomaly is stored but not alerted; past it the alert fires and
says by how much the plan was exceeded.

The decision, :func:`judge`, is a pure function of the plans, what each has used already and
the incident's facts, so ``replay`` and the scheduler share it. The store side
(:func:`apply_plans`) records the decision in the anomaly's evidence (``plan_id``,
``plan_covered``, ``plan_exceeded_usd``), which is how ``/cost plans`` counts an envelope's use
and how the alert shows the plan (:func:`plan_note`, one of ``bot.anomaly.notes``).

Nothing is suppressed forever: a plan must end, at most :data:`MAX_PLAN_DAYS` after it starts
(or after now, for one that covers an anomaly already going on), and expires on its own. Plans
are never deleted; removing one stamps ``removed_at``. Adding, removing and an envelope exceeded
are audited. Marking an alert expected may make a plan too (:func:`plan_expected`, linked by
``anomaly_id``): the same spend then stays quiet within the envelope the person gave.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlmodel import Session

from bot.anomaly.access import NothingChanged, ResponseError, check_may_act
from bot.anomaly.enums import AuditAction
from bot.anomaly.views import AlertNote, main_service
from bot.chat.text import money, when
from bot.settings import RoutingSettings
from storage import queries
from storage.models import Anomaly, Plan
from storage.queries import plans as plan_queries
from storage.timeutil import as_utc

__all__ = ["ALL_ENVIRONMENTS", "ALL_SERVICES", "MAX_PLAN_DAYS", "BOT_ACTOR", "ExpectedPlan",
           "ExpectedScope", "IncidentFacts", "expected_defaults", "plan_expected",
           "PlanDecision", "PlanError", "PlanUse", "add_plan", "apply_plans", "check_may_plan",
           "covers", "facts_of", "judge", "list_plans", "parse_moment", "plan_note", "plan_uses",
           "remove_plan"]

MAX_PLAN_DAYS = 90  # the longest a plan may run: a person renews it, nothing hides for ever
ALL_ENVIRONMENTS = "*"
ALL_SERVICES = ""
BOT_ACTOR = "spendwatch"
HOUR = timedelta(hours=1)
EVIDENCE_KEYS = ("plan_id", "plan_covered", "plan_exceeded_usd")
CENT = 0.005


class PlanError(ResponseError):
    """A plan that cannot be added or removed as asked; the message says what to change, and
    ``field`` which box of a form it is about (``envelope``, ``until``), if any."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ExpectedScope(StrEnum):
    """What a plan made by marking an alert expected covers."""

    WORKLOAD = "workload"  # every service of the anomaly's project and environment
    SERVICE = "service"  # only its top service


EXPECTED_DAYS = 7  # how long a plan made from "expected" lasts unless the person says otherwise
EXPECTED_ENVELOPE_TIMES = 2  # its envelope: twice the impact so far, unless the person says


@dataclass(frozen=True)
class ExpectedPlan:
    """The plan a person asks for when marking an alert expected."""

    scope: ExpectedScope
    envelope_usd: float
    ends_at: datetime
    service: str = ""  # the anomaly's top service, which ``SERVICE`` means


def expected_defaults(anomaly: Anomaly, now: datetime) -> ExpectedPlan:
    """What the expected form offers: this workload, twice the impact so far, a week."""
    envelope = max(math.ceil(EXPECTED_ENVELOPE_TIMES * max(anomaly.impact_usd, 0.0)), 1)
    return ExpectedPlan(ExpectedScope.WORKLOAD, float(envelope),
                        now + timedelta(days=EXPECTED_DAYS), main_service(anomaly))


@dataclass(frozen=True)
class IncidentFacts:
    """What a plan is judged against: the workload, its top service, its hours, its impact."""

    project: str
    environment: str
    service: str
    started_at: datetime
    ended_at: datetime  # the end of its last elevated hour
    impact_usd: float


@dataclass(frozen=True)
class PlanDecision:
    plan: Plan
    used_usd: float  # the envelope's use with this incident
    exceeded_by: float  # 0 when the incident is inside the envelope

    @property
    def covered(self) -> bool:
        return self.exceeded_by <= 0


@dataclass(frozen=True)
class PlanUse:
    """A plan as ``/cost plans`` and ``spendwatch plans list`` show it."""

    plan: Plan
    used_usd: float
    anomalies: int

    @property
    def left_usd(self) -> float:
        return max(self.plan.amount_usd - self.used_usd, 0.0)


# -- the decision (pure) -------------------------------------------------------------------------


def covers(plan: Plan, facts: IncidentFacts) -> bool:
    """Whether the plan's scope and dates hold every hour of the incident."""
    return (plan.removed_at is None
            and plan.project == facts.project
            and plan.environment in (ALL_ENVIRONMENTS, facts.environment)
            and plan.service_name in (ALL_SERVICES, facts.service)
            and as_utc(plan.starts_at) <= as_utc(facts.started_at)
            and as_utc(facts.ended_at) <= as_utc(plan.ends_at))


def judge(plans: Iterable[Plan], used: Mapping[int, float],
          facts: IncidentFacts) -> PlanDecision | None:
    """The plan that holds the incident, or None when none does.

    ``used`` is each plan's use by other incidents. A plan with room for the incident wins
    (the lowest id first); when none has room, the one it exceeds the least is named.
    """
    decisions = []
    for plan in plans:
        if not covers(plan, facts):
            continue
        total = used.get(int(plan.id or 0), 0.0) + max(facts.impact_usd, 0.0)
        over = total - plan.amount_usd
        decisions.append(PlanDecision(plan, total, over if over > CENT else 0.0))
    if not decisions:
        return None
    return min(decisions, key=lambda d: (d.exceeded_by, int(d.plan.id or 0)))


def facts_of(anomaly: Anomaly) -> IncidentFacts:
    return IncidentFacts(project=anomaly.project, environment=anomaly.environment,
                         service=main_service(anomaly), started_at=anomaly.started_at,
                         ended_at=as_utc(anomaly.last_seen_at) + HOUR,
                         impact_usd=anomaly.impact_usd)


# -- the store side ------------------------------------------------------------------------------


def check_terms(*, amount_usd: float, starts_at: datetime, ends_at: datetime, now: datetime,
                max_days: int = MAX_PLAN_DAYS) -> None:
    """Refuse an envelope or dates no plan can have, saying what to give instead."""
    if not math.isfinite(amount_usd) or amount_usd <= 0:
        raise PlanError(f"The envelope must be more than 0, not {amount_usd:g}: give the spend "
                        f"above normal the plan allows in total, e.g. 5000 or 5k.",
                        field="envelope")
    if ends_at <= now:
        raise PlanError(f"The plan would end {_day(ends_at)}, which has passed; give a date "
                        f"in the future.", field="until")
    if ends_at <= starts_at:
        raise PlanError(f"The plan ends ({_day(ends_at)}) before it starts ({_day(starts_at)}); "
                        f"give an end after the start.", field="until")
    length = ends_at - max(starts_at, now)  # a plan may cover an anomaly already going on
    if length > timedelta(days=max_days):
        raise PlanError(f"A plan may run at most {max_days} days (this one: {length.days} "
                        f"days); end it sooner and renew it when it expires, so nothing stays "
                        f"unwatched for ever.", field="until")


def _day(moment: datetime) -> str:
    return f"{as_utc(moment):%Y-%m-%d %H:%M} UTC"


def check_may_plan(routing: RoutingSettings, *, user: str, owners: Collection[str],
                   channel: str | None) -> None:
    """Whoever may act on every owner's alerts in the workload may plan it; FinOps anything."""
    if user in routing.finops:
        return
    if not owners:
        raise PlanError("Sorry, this workload has no spend on record yet, so only FinOps "
                        "(routing.finops) may plan it; ask in the FinOps channel.")
    for owner in sorted(owners):
        check_may_act(routing, user=user, owner=owner, channel=channel)


def add_plan(*, db_session: Session, project: str, environment: str, amount_usd: float,
             ends_at: datetime, actor: str, now: datetime, starts_at: datetime | None = None,
             service_name: str = ALL_SERVICES, reason: str = "", anomaly_id: int | None = None,
             max_days: int = MAX_PLAN_DAYS) -> Plan:
    """Store a plan (audited ``plan.added``); the start defaults to ``now``."""
    start = as_utc(starts_at) if starts_at is not None else now
    check_terms(amount_usd=amount_usd, starts_at=start, ends_at=as_utc(ends_at), now=now,
                max_days=max_days)
    if not project.strip() or not environment.strip():
        raise PlanError("Name the project and the environment (or * for every environment).")
    plan = plan_queries.add_plan(db_session=db_session, plan=Plan(
        project=project, environment=environment, service_name=service_name,
        amount_usd=round(amount_usd, 2), starts_at=start, ends_at=as_utc(ends_at),
        reason=reason.strip(), created_by=actor[:100], created_at=now, anomaly_id=anomaly_id))
    queries.audit.add_audit(db_session=db_session, actor=actor, action=AuditAction.PLAN_ADDED,
                            subject_type="plan", subject_id=str(plan.id), detail={
                                "project": project, "environment": environment,
                                "service_name": service_name, "amount_usd": plan.amount_usd,
                                "starts_at": start.isoformat(),
                                "ends_at": as_utc(ends_at).isoformat(), "reason": plan.reason,
                                "anomaly_id": anomaly_id})
    return plan


def remove_plan(*, db_session: Session, plan_id: int, actor: str, now: datetime) -> Plan:
    """End a plan now (audited ``plan.removed``); its history stays."""
    plan = plan_queries.get_plan(db_session=db_session, plan_id=plan_id)
    if plan is None:
        raise PlanError(f"There is no plan #{plan_id}; `plans list --all` shows every plan.")
    if plan.removed_at is not None:
        raise NothingChanged(f"Plan #{plan_id} was removed by {plan.removed_by} on "
                             f"{when(plan.removed_at)}; nothing changed.")
    plan.removed_at, plan.removed_by = now, actor[:100]
    db_session.add(plan)
    queries.audit.add_audit(db_session=db_session, actor=actor, action=AuditAction.PLAN_REMOVED,
                            subject_type="plan", subject_id=str(plan_id))
    return plan


def list_plans(*, db_session: Session, now: datetime, everything: bool = False,
               projects: Collection[str] | None = None) -> list[PlanUse]:
    """Active plans (or every plan), each with what its envelope has covered so far."""
    plans = plan_queries.list_plans(db_session=db_session,
                                    active_at=None if everything else now)
    if projects is not None:
        plans = [p for p in plans if p.project in projects]
    return plan_uses(db_session, plans)


def plan_uses(session: Session, plans: Sequence[Plan]) -> list[PlanUse]:
    uses = []
    for plan in plans:
        mine = [a for a in plan_queries.anomalies_under(db_session=session, project=plan.project,
                                                         since=plan.starts_at)
                if (a.evidence or {}).get("plan_id") == plan.id]
        uses.append(PlanUse(plan, sum(a.impact_usd for a in mine), len(mine)))
    return uses


def _used_by_others(session: Session, anomaly: Anomaly, plans: Sequence[Plan]
                    ) -> dict[int, float]:
    if not plans:
        return {}
    since = min(as_utc(p.starts_at) for p in plans)
    used: dict[int, float] = {}
    for other in plan_queries.anomalies_under(db_session=session, project=anomaly.project,
                                              since=since):
        plan_id = (other.evidence or {}).get("plan_id")
        if other.id != anomaly.id and isinstance(plan_id, int):
            used[plan_id] = used.get(plan_id, 0.0) + other.impact_usd
    return used


def apply_plans(*, db_session: Session, anomaly_ids: Iterable[int], now: datetime) -> set[int]:
    """Judge each anomaly against the plans and record it in its evidence; the ids covered
    (no alert for those). An envelope exceeded for the first time is audited."""
    covered: set[int] = set()
    for anomaly_id in sorted(set(anomaly_ids)):
        anomaly = queries.anomalies.get_anomaly(db_session=db_session, anomaly_id=anomaly_id)
        if anomaly is None:
            continue
        plans = plan_queries.plans_at(db_session=db_session, project=anomaly.project)
        decision = judge(plans, _used_by_others(db_session, anomaly, plans), facts_of(anomaly))
        _record(db_session, anomaly, decision, now)
        if decision is not None and decision.covered:
            covered.add(anomaly_id)
    return covered


def _record(session: Session, anomaly: Anomaly, decision: PlanDecision | None,
            now: datetime) -> None:
    before = dict(anomaly.evidence or {})
    evidence = {k: v for k, v in before.items() if k not in EVIDENCE_KEYS}
    if decision is not None:
        evidence.update(plan_id=int(decision.plan.id or 0), plan_covered=decision.covered,
                        plan_exceeded_usd=round(decision.exceeded_by, 2))
        first = not (before.get("plan_id") == decision.plan.id
                     and before.get("plan_exceeded_usd"))
        if not decision.covered and first:
            queries.audit.add_audit(
                db_session=session, actor=BOT_ACTOR, action=AuditAction.PLAN_EXCEEDED,
                subject_type="plan", subject_id=str(decision.plan.id),
                detail={"anomaly_id": anomaly.id, "exceeded_usd": round(decision.exceeded_by, 2),
                        "at": now.isoformat()})
    if evidence != before:
        anomaly.evidence = evidence
        session.add(anomaly)


def plan_note(session: Session, anomaly: Anomaly) -> AlertNote | None:
    """"Planned: <reason> (plan #N, $envelope until <date>)", and by how much it was exceeded."""
    evidence = anomaly.evidence or {}
    plan_id = evidence.get("plan_id")
    if not isinstance(plan_id, int):
        return None
    plan = plan_queries.get_plan(db_session=session, plan_id=plan_id)
    if plan is None:
        return None
    head = (f"Planned: {plan.reason or 'planned activity'} (plan #{plan.id}, "
            f"{money(plan.amount_usd, decimals=0)} until {when(plan.ends_at)})")
    exceeded = float(evidence.get("plan_exceeded_usd") or 0.0)
    if exceeded > 0:
        return AlertNote(f"{head} — exceeded by {money(exceeded)}",
                         (f"The plan by {plan.created_by} covers {money(plan.amount_usd)} above "
                          f"normal in total; spend went past it, so this alert fired.",))
    return AlertNote(f"{head} — within the envelope",
                     (f"Inside the plan by {plan.created_by}: no alert was sent for it.",))


def plan_expected(*, db_session: Session, anomaly: Anomaly, plan: ExpectedPlan, reason: str,
                  actor: str, now: datetime) -> Plan:
    """The plan that marking ``anomaly`` expected asks for, linked to it, from its start."""
    service = main_service(anomaly) if plan.scope == ExpectedScope.SERVICE else ALL_SERVICES
    return add_plan(db_session=db_session, project=anomaly.project,
                    environment=anomaly.environment, service_name=service,
                    amount_usd=plan.envelope_usd, starts_at=as_utc(anomaly.started_at),
                    ends_at=plan.ends_at, actor=actor, now=now, reason=reason,
                    anomaly_id=anomaly.id)


def parse_moment(text: str, *, end_of_day: bool = False, what: str = "date") -> datetime:
    """An ISO date or date-time, in UTC when it names no zone. A bare date is the start of that
    day, or with ``end_of_day`` its end (``until 2026-12-05`` includes the 5th)."""
    value = text.strip()
    try:
        if len(value) == 10:
            day = datetime.fromisoformat(value).replace(tzinfo=UTC)
            return day + timedelta(days=1) if end_of_day else day
        return as_utc(datetime.fromisoformat(value))
    except ValueError:
        raise PlanError(f"{value[:40]!r} is not a {what}: give it as 2026-12-05 or "
                        f"2026-12-05T18:00 (UTC).") from None
