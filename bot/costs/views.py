"""``/cost`` answers as text: Slack mrkdwn for the chat side to wrap in blocks, or plain text.

Pure functions of the answer objects of ``bot.costs.command`` (and of ``bot.finance.chat``,
whose lines ``bot.finance.views`` builds). Both renderings share one set of builders and differ
only in markup, so they never drift apart. Names in answers come from tags
and user input: in mrkdwn, ``&``, ``<`` and ``>`` are escaped, so a project called
``<!channel>`` prints as text and cannot notify anyone; long names are clipped so an answer
stays well inside Slack's 3,000 characters per section.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.anomaly.feedback_chat import (
    FeedbackAnswer,
    FeedbackListAnswer,
    FeedbackUndoneAnswer,
    feedback_lines,
)
from bot.anomaly.plans_chat import PlanAddedAnswer, PlanAnswer, PlansAnswer
from bot.anomaly.plans_views import help_lines as plan_help_lines
from bot.anomaly.plans_views import plan_lines
from bot.chat.text import escape_mrkdwn, money, signed, span, when
from bot.costs.command import (
    PERIODS,
    TOP_MAX,
    AnomaliesAnswer,
    AnomalyLine,
    CostAnswer,
    HelpAnswer,
    ProjectCostAnswer,
    RunbookAnswer,
    SpendLine,
    TopAnswer,
)
from bot.costs.periods import Period
from bot.finance.chat import BudgetAnswer, BudgetListAnswer, BudgetSetAnswer
from bot.finance.views import budget_lines, help_lines

__all__ = ["format_mrkdwn", "format_plain", "sparkline"]

BLOCKS = "▁▂▃▄▅▆▇█"
NAME_CHARS = 80
NOTE_CHARS = 200


@dataclass(frozen=True)
class _Markup:
    text: Callable[[str], str]  # for text that came from a user or a cost file
    bold: Callable[[str], str]
    code: Callable[[str], str]


def _clipped(limit: int, escape: Callable[[str], str]) -> Callable[[str], str]:
    return lambda s: escape(s if len(s) <= limit else s[: limit - 1] + "…")


# our own text is escaped too where it holds angle brackets (``<project>`` in the usage)
_MRKDWN = _Markup(escape_mrkdwn, lambda s: f"*{s}*", lambda s: f"`{escape_mrkdwn(s)}`")
_PLAIN = _Markup(lambda s: s, lambda s: s, lambda s: s)


def _pct(line: SpendLine) -> str:
    pct = line.change_pct
    return "new" if pct is None else f"{pct:+.1f}%"


def _period(period: Period) -> str:
    return f"{period.label} ({span(period.start, period.end)})"


def sparkline(values: Sequence[float]) -> str:
    """One block character per value, from the lowest (▁) to the highest (█)."""
    if not values:
        return ""
    low, high = min(values), max(values)
    if high - low < 1e-9:
        return (BLOCKS[3] if abs(high) >= 0.005 else BLOCKS[0]) * len(values)
    scale = (len(BLOCKS) - 1) / (high - low)
    return "".join(BLOCKS[round((v - low) * scale)] for v in values)


def format_mrkdwn(answer: CostAnswer | BudgetAnswer | PlanAnswer | FeedbackAnswer) -> str:
    """Slack mrkdwn; every name from a user or a tag is escaped."""
    return _render(answer, _MRKDWN)


def format_plain(answer: CostAnswer | BudgetAnswer | PlanAnswer | FeedbackAnswer) -> str:
    """Plain text (console, logs, notification fallbacks); nothing escaped."""
    return _render(answer, _PLAIN)


def _render(answer: CostAnswer | BudgetAnswer | PlanAnswer | FeedbackAnswer, m: _Markup) -> str:
    if isinstance(answer, BudgetListAnswer | BudgetSetAnswer):
        lines = budget_lines(answer, m)
    elif isinstance(answer, PlanAddedAnswer | PlansAnswer):
        lines = plan_lines(answer, m)
    elif isinstance(answer, FeedbackListAnswer | FeedbackUndoneAnswer):
        lines = feedback_lines(answer, m)
    elif isinstance(answer, ProjectCostAnswer):
        lines = _project(answer, m)
    elif isinstance(answer, TopAnswer):
        lines = _top(answer, m)
    elif isinstance(answer, AnomaliesAnswer):
        lines = _anomalies(answer, m)
    elif isinstance(answer, RunbookAnswer):
        lines = _runbook(answer, m)
    else:
        lines = _help(answer, m)
    return "\n".join(lines)


def _project(a: ProjectCostAnswer, m: _Markup) -> list[str]:
    name = _clipped(NAME_CHARS, m.text)
    title = " / ".join(name(x) for x in (a.project, a.environment) if x)
    lines = [f"{m.bold(title)} · {_period(a.period)}"]
    total = a.total
    if abs(total.cost) < 0.005 and abs(total.previous) < 0.005:
        return [*lines, "No spend in this period or in the one before."]
    lines.append(f"{m.bold(money(total.cost))} spent, {_pct(total)} ({signed(total.change)}) "
                 f"vs. the period before ({money(total.previous)})")
    rates = [d.cost / ((d.end - d.start).total_seconds() / 86400) for d in a.days]
    if rates:
        lines.append(f"Daily: {m.code(sparkline(rates))} from {money(min(rates))} to "
                     f"{money(max(rates))} a day")
    lines.append(m.bold("Top services"))
    lines += [f"• {name(s.name)}: {money(s.cost)} ({_pct(s)})" for s in a.services]
    if a.more_services:
        lines.append(f"• …and {a.more_services} more")
    return [*lines, *_other(a.other)]


def _other(line: SpendLine | None) -> list[str]:
    """Credits, purchases, tax and adjustments: in the total, never in a service or project."""
    if line is None:
        return []
    return [f"Credits and other charges (in the total): {money(line.cost)} "
            f"({money(line.previous)} the period before)"]


def _top(a: TopAnswer, m: _Markup) -> list[str]:
    head = (f"{m.bold(f'Top {a.n} projects')} · {_period(a.period)}: {money(a.total.cost)} "
            f"across {a.project_count} project{'s' if a.project_count != 1 else ''}")
    if not a.projects:
        return [f"{m.bold(f'Top {a.n} projects')} · {_period(a.period)}",
                "No spend in this period in the projects you can see."]
    lines = [f"{head}, {_pct(a.total)} vs. the period before"]
    name = _clipped(NAME_CHARS, m.text)
    lines += [f"{rank}. {m.bold(name(p.name))} {money(p.cost)} ({_pct(p)}, {signed(p.change)})"
              for rank, p in enumerate(a.projects, start=1)]
    return [*lines, *_other(a.other)]


def _anomalies(a: AnomaliesAnswer, m: _Markup) -> list[str]:
    if not a.anomalies:
        return ["No open anomalies in the projects you can see: spend is within what is "
                "normal for each workload."]
    name = _clipped(NAME_CHARS, m.text)
    lines = [f"{m.bold('Open anomalies')} ({a.total}, newest first)"]
    for x in a.anomalies:
        lines.append(
            f"• {m.bold(f'#{x.id} {name(x.project)} / {name(x.environment)}')} · "
            f"{name(x.kind)} · {name(x.status)}: {money(x.impact_usd)} over expected since "
            f"{when(x.started_at)} (peak {money(x.peak_hourly_usd)}/h) · owner "
            f"{name(x.owner)}{_planned(x)}"
        )
    if a.total > len(a.anomalies):
        lines.append(f"…and {a.total - len(a.anomalies)} more")
    return lines


def _planned(x: AnomalyLine) -> str:
    if x.plan_id is None:
        return ""
    if x.plan_exceeded_usd > 0:
        return f" · past plan #{x.plan_id} by {money(x.plan_exceeded_usd)}"
    return f" · inside plan #{x.plan_id}: not alerted"


def _runbook(a: RunbookAnswer, m: _Markup) -> list[str]:
    name, note = _clipped(NAME_CHARS, m.text), _clipped(NOTE_CHARS, m.text)
    if not a.entries:
        return [f"No runbook entries for {m.bold(name(a.project))} yet: one is written when "
                "an anomaly on it is resolved."]
    lines = [f"{m.bold(f'Runbook for {name(a.project)}')} ({a.total} "
             f"entr{'ies' if a.total != 1 else 'y'}, newest first)"]
    for e in a.entries:
        about = f" · anomaly #{e.anomaly_id}" if e.anomaly_id is not None else ""
        lines += [
            f"• {m.bold(f'{e.created_at:%Y-%m-%d}')} · {name(e.environment)} / "
            f"{name(e.service_name)}{about} · by {name(e.author)}",
            f"   Cause: {note(e.root_cause)}",
            f"   Fix: {note(e.fix)}",
            f"   Prevention: {note(e.prevention)}",
        ]
    if a.total > len(a.entries):
        lines.append(f"…and {a.total - len(a.entries)} older")
    return lines


def _help(a: HelpAnswer, m: _Markup) -> list[str]:
    periods = "|".join(PERIODS)
    lines = [m.text(a.problem)] if a.problem else []
    return [
        *lines,
        m.bold("Ask about spend with /cost:"),
        f"{m.code(f'/cost <project> [environment] [{periods}]')} spend (default 7d), change "
        "against the period before, top services and a daily sparkline",
        f"{m.code(f'/cost top [n] [{periods}]')} the n projects with the most spend "
        f"(default 5, at most {TOP_MAX})",
        f"{m.code('/cost anomalies')} open anomalies, newest first, with their impact",
        f"{m.code('/cost runbook <project>')} what was learned from the project's incidents",
        *help_lines(m),
        *plan_help_lines(m),
        f"{m.code('/cost feedback [undo ID]')} what \"not an anomaly\" made normal, and "
        "undoing it",
        f"{m.code('/cost help')} this help",
    ]
