"""``/cost plan`` and ``/cost plans``: planned spend declared and listed in chat, chat-neutral.

The same three steps as ``/cost budget`` (``bot.finance.chat``): :func:`parse` turns the words
into a typed query, :func:`answer` turns it into plain result objects (rendered by
``bot.anomaly.plans_views``) and :func:`respond` chains them, turning a mistake into the help
with the problem first. The anomaly desk hands these texts here with a session, the person and
what the channel sees, so Slack, Teams and the console give the same answers and refusals.

A channel sees the plans of the projects it sees, and a project outside its scope reads like
one that does not exist. Whoever may act on the workload's alerts may plan it
(:func:`bot.anomaly.plans.check_may_plan`); the amount is read like a budget's (``25000``,
``25k``, ``$25k``) and the date as ISO (``2026-12-05``: through the end of that day, UTC).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session

from bot.anomaly import plans
from bot.anomaly.plans import ALL_ENVIRONMENTS, ExpectedPlan, ExpectedScope, PlanUse
from bot.costs.command import CostCommandError, HelpAnswer, Scope, pick_name
from bot.finance.chat import parse_amount
from bot.settings import Settings
from storage import queries
from storage.models import Plan
from storage.queries import plans as plan_queries

__all__ = ["ADD_USAGE", "LIST_USAGE", "PLAN_LIMIT", "PlanAddQuery", "PlanAddedAnswer",
           "PlanAnswer", "PlanListQuery", "PlansAnswer", "answer", "asks_plans",
           "expected_plan_from", "parse",
           "respond"]

ADD_USAGE = "/cost plan <project> <environment|*> <amount> until <date> [reason]"
LIST_USAGE = "/cost plans [all]"
PLAN_LIMIT = 20
UNTIL = "until"


@dataclass(frozen=True)
class PlanAddQuery:
    project: str
    environment: str
    amount: float
    ends_at: datetime
    reason: str = ""


@dataclass(frozen=True)
class PlanListQuery:
    everything: bool = False  # expired and removed plans too


@dataclass(frozen=True)
class PlanAddedAnswer:
    plan: Plan


@dataclass(frozen=True)
class PlansAnswer:
    plans: tuple[PlanUse, ...]  # newest first, at most PLAN_LIMIT
    total: int
    everything: bool
    now: datetime


PlanAnswer = PlanAddedAnswer | PlansAnswer


def asks_plans(text: str) -> bool:
    """Whether a ``/cost`` text is about plans (its first word is ``plan`` or ``plans``)."""
    words = text.split(maxsplit=1)
    return bool(words) and words[0].casefold() in ("plan", "plans")


def parse(text: str, *, currency: str = "USD") -> PlanAddQuery | PlanListQuery:
    words = text.split()
    head, rest = words[0].casefold(), words[1:]
    if head == "plans":
        if rest and [w.casefold() for w in rest] != ["all"]:
            raise CostCommandError(f"`{LIST_USAGE}` takes only `all` (got '{rest[0][:40]}').")
        return PlanListQuery(everything=bool(rest))
    if not rest:
        return PlanListQuery()
    folded = [w.casefold() for w in rest]
    if UNTIL not in folded:
        raise CostCommandError(f"Say until when the plan holds: `{ADD_USAGE}`, e.g. "
                               f"`/cost plan search prod 5k until 2026-12-05 backfill`.")
    at = folded.index(UNTIL)
    if at != 3 or len(rest) < 5:
        raise CostCommandError(f"Give the project, the environment (* for all of them), the "
                               f"envelope, then `until` and a date: `{ADD_USAGE}`.")
    project, environment, amount = rest[:3]
    try:
        asked = expected_plan_from(ExpectedScope.WORKLOAD, amount, rest[4], currency=currency)
    except plans.PlanError as exc:
        raise CostCommandError(str(exc)) from None
    return PlanAddQuery(project, environment, asked.envelope_usd, asked.ends_at,
                        " ".join(rest[5:]))


def expected_plan_from(scope: str, envelope: str, until: str, *, currency: str = "USD",
                       service: str = "") -> ExpectedPlan:
    """The plan asked for in an expected form (scope, envelope, until date), or a
    :class:`~bot.anomaly.plans.PlanError` naming the box that is wrong."""
    try:
        chosen = ExpectedScope(scope or ExpectedScope.WORKLOAD)
    except ValueError:
        raise plans.PlanError(f"Choose what the plan covers: {ExpectedScope.WORKLOAD} or "
                              f"{ExpectedScope.SERVICE}.", field="scope") from None
    try:
        amount = parse_amount(envelope, currency=currency)
    except CostCommandError as exc:
        raise plans.PlanError(str(exc).replace("A budget must", "An envelope must")
                              .replace("any budget here", "any envelope here"),
                              field="envelope") from None
    try:
        ends_at = plans.parse_moment(until, end_of_day=True)
    except plans.PlanError as exc:
        raise plans.PlanError(str(exc), field="until") from None
    if ends_at <= datetime.now(UTC):
        raise plans.PlanError(f"The plan would end {ends_at:%Y-%m-%d %H:%M} UTC, which has "
                              f"passed; give a date in the future.", field="until")
    return ExpectedPlan(chosen, amount, ends_at, service)


def respond(text: str, *, db_session: Session, settings: Settings, scope: Scope, user: str,
            channel: str | None, now: datetime) -> PlanAnswer | HelpAnswer:
    """Parse and answer; a user's mistake becomes the help with the problem first. A refusal
    (``NotAllowed``) or a plan that cannot be (``PlanError``) is raised for the adapter."""
    try:
        query = parse(text, currency=settings.currency.base)
        return answer(query, db_session=db_session, settings=settings, scope=scope, user=user,
                      channel=channel, now=now)
    except CostCommandError as exc:
        return HelpAnswer(problem=str(exc))


def answer(query: PlanAddQuery | PlanListQuery, *, db_session: Session, settings: Settings,
           scope: Scope, user: str, channel: str | None, now: datetime) -> PlanAnswer:
    pairs = queries.costs.workloads(connection=db_session.connection(), owners=scope.owners)
    if isinstance(query, PlanListQuery):
        visible = None if scope.owners is None else {p for p, _ in pairs}
        uses = plans.list_plans(db_session=db_session, now=now, everything=query.everything,
                                projects=visible)
        newest = sorted(uses, key=lambda u: -int(u.plan.id or 0))
        return PlansAnswer(tuple(newest[:PLAN_LIMIT]), len(uses), query.everything, now)
    project = pick_name("project", query.project, sorted({p for p, _ in pairs}))
    environment = _environment(query.environment, project, pairs,
                               settings.allocation.environment_aliases)
    owners = plan_queries.workload_owners(
        connection=db_session.connection(), project=project,
        environment=None if environment == ALL_ENVIRONMENTS else environment)
    plans.check_may_plan(settings.routing, user=user, owners=owners, channel=channel)
    plan = plans.add_plan(db_session=db_session, project=project, environment=environment,
                          amount_usd=query.amount, ends_at=query.ends_at, actor=user, now=now,
                          reason=query.reason)
    return PlanAddedAnswer(plan)


def _environment(word: str, project: str, pairs: Sequence[tuple[str, str]],
                 aliases: Mapping[str, list[str]]) -> str:
    if word == ALL_ENVIRONMENTS:
        return word
    wanted = next((canonical for canonical, names in aliases.items()
                   if word.casefold() in {n.casefold() for n in names}), word)
    try:
        return pick_name("environment", wanted, sorted({e for p, e in pairs if p == project}),
                         where=f" in {project}")
    except CostCommandError as exc:
        raise CostCommandError(f"{exc} Or give * for every environment of {project}.") from None
