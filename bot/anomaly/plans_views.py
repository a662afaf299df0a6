"""``/cost plan`` and ``/cost plans`` answers as lines, in whichever markup ``bot.costs.views``
passes (Slack mrkdwn or plain text), so names people typed are escaped like every other answer.

A plan reads as its id, scope, envelope used and left, until when, who made it and why.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.anomaly.plans import ALL_ENVIRONMENTS
from bot.anomaly.plans_chat import (
    ADD_USAGE,
    LIST_USAGE,
    PlanAddedAnswer,
    PlanAnswer,
    PlansAnswer,
)
from bot.chat.text import money, when
from bot.finance.views import Markup
from storage.models import Plan
from storage.timeutil import as_utc

__all__ = ["help_lines", "plan_lines"]

NAME_CHARS = 80
REASON_CHARS = 200


def _clip(m: Markup, limit: int) -> Callable[[str], str]:
    return lambda s: m.text(s if len(s) <= limit else s[: limit - 1] + "…")


def help_lines(m: Markup) -> list[str]:
    """The plan forms, for the ``/cost`` help."""
    return [
        f"{m.code(ADD_USAGE)} planned spend: no alert while the workload stays inside the "
        f"envelope, e.g. {m.code('/cost plan search prod 5k until 2026-12-05 backfill')}",
        f"{m.code(LIST_USAGE)} plans in force (all: expired and removed too), with the "
        "envelope used and left",
    ]


def plan_lines(answer: PlanAnswer, m: Markup) -> list[str]:
    if isinstance(answer, PlanAddedAnswer):
        return _added(answer.plan, m)
    return _listed(answer, m)


def _scope(plan: Plan, m: Markup) -> str:
    name = _clip(m, NAME_CHARS)
    environment = ("every environment" if plan.environment == ALL_ENVIRONMENTS
                   else name(plan.environment))
    service = f" / {name(plan.service_name)}" if plan.service_name else ""
    return f"{name(plan.project)} / {environment}{service}"


def _added(plan: Plan, m: Markup) -> list[str]:
    reason = _clip(m, REASON_CHARS)(plan.reason) if plan.reason else "no reason given"
    return [
        f"{m.bold(f'Plan #{plan.id} added')}: {_scope(plan, m)}, "
        f"{money(plan.amount_usd, decimals=0)} above normal from {when(plan.starts_at)} until "
        f"{when(plan.ends_at)} ({reason}).",
        "No alert fires for this workload while its unusual spend stays inside the envelope; "
        "beyond it the alert says by how much the plan was exceeded. "
        f"{m.code('/cost plans')} lists it.",
    ]


def _state(plan: Plan, now: datetime) -> str:
    if plan.removed_at is not None:
        return f"removed by {plan.removed_by} {when(plan.removed_at)}"
    if as_utc(plan.ends_at) <= as_utc(now):
        return f"expired {when(plan.ends_at)}"
    return f"until {when(plan.ends_at)}"


def _listed(a: PlansAnswer, m: Markup) -> list[str]:
    if not a.plans:
        which = "No plans" if a.everything else "No plans in force"
        return [f"{which} in the projects you can see. Declare one with {m.code(ADD_USAGE)}."]
    title = "Plans" if a.everything else "Plans in force"
    lines = [f"{m.bold(title)} ({a.total}, newest first)"]
    reason = _clip(m, REASON_CHARS)
    for use in a.plans:
        plan = use.plan
        over = use.used_usd - plan.amount_usd
        envelope = (f"{money(use.used_usd)} of {money(plan.amount_usd, decimals=0)} used, "
                    + (f"exceeded by {money(over)}" if over > 0.005
                       else f"{money(use.left_usd)} left"))
        lines.append(f"• {m.bold(f'#{plan.id}')} {_scope(plan, m)} · {envelope} · "
                     f"{_state(plan, a.now)} · by {_clip(m, NAME_CHARS)(plan.created_by)}"
                     + (f" · {reason(plan.reason)}" if plan.reason else ""))
    if a.total > len(a.plans):
        lines.append(f"…and {a.total - len(a.plans)} more")
    return lines

