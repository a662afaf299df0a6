"""``/cost budget`` answers as lines of text, in whichever markup ``bot.costs.views`` passes.

Pure functions of the answer objects of ``bot.finance.chat``; ``bot.costs.views`` calls
:func:`budget_lines` with its Slack mrkdwn or plain markup, so budgets read like every other
``/cost`` answer and names from tags and from what people typed are escaped the same way.
A budget says its amount and period, what is spent (and the percent), the period-end forecast
with its 80 % interval, the thresholds crossed and when, and, only when it would happen before
the period ends, when it runs out at the last 24 hours' rate.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from bot.chat.text import money, when
from bot.finance.budgets import FORECAST_LEVEL, Basis, BudgetStatus
from bot.finance.chat import SET_USAGE, BudgetAnswer, BudgetListAnswer, BudgetSetAnswer

__all__ = ["Markup", "budget_lines", "help_lines"]

NAME_CHARS = 80
NOTE_CHARS = 200


class Markup(Protocol):
    """How a rendering marks text up: ``text`` for what came from a user or a cost file."""

    @property
    def text(self) -> Callable[[str], str]: ...

    @property
    def bold(self) -> Callable[[str], str]: ...

    @property
    def code(self) -> Callable[[str], str]: ...


def _clip(m: Markup, limit: int = NAME_CHARS) -> Callable[[str], str]:
    return lambda s: m.text(s if len(s) <= limit else s[: limit - 1] + "…")


def _pct(value: float) -> str:
    return f"{value:.1f} %"


def _levels(levels: tuple[float, ...]) -> str:
    return ", ".join(f"{t:g} %" for t in levels)


def help_lines(m: Markup) -> list[str]:
    """The budget forms, for the ``/cost`` help."""
    return [
        f"{m.code('/cost budget [project]')} budgets: spent, forecast, thresholds crossed, "
        "when each runs out, and pilots without one",
        f"{m.code(SET_USAGE)} (FinOps) set a monthly budget, e.g. "
        f"{m.code('/cost budget set search prod 25k')}",
    ]


def budget_lines(answer: BudgetAnswer, m: Markup) -> list[str]:
    if isinstance(answer, BudgetSetAnswer):
        return _set(answer, m)
    return _list(answer, m)


def _list(a: BudgetListAnswer, m: Markup) -> list[str]:
    name = _clip(m)
    title = "Budgets" if a.project is None else f"Budgets of {name(a.project)}"
    lines = [m.bold(title)]
    if not a.statuses:
        where = f" for {m.bold(name(a.project))}" if a.project else ""
        seen = "" if a.project or not a.any_budget else " on the projects you can see"
        lines.append(f"No budget{where}{seen} yet. FinOps sets one with "
                     f"{m.code(SET_USAGE)} (a monthly amount), or under budgets: in the config "
                     "(monthly, or an amount for a custom period).")
    else:
        lines[0] += f" · as of {when(a.statuses[0].as_of)}"
        for status in a.statuses:
            lines += _status(status, m)
        if a.total > len(a.statuses):
            lines.append(f"…and {a.total - len(a.statuses)} more, nearer to nothing spent; "
                         f"name a project: {m.code('/cost budget <project>')}")
    return [*lines, *_pilots(a, m)]


def _status(s: BudgetStatus, m: Markup) -> list[str]:
    name, note = _clip(m), _clip(m, NOTE_CHARS)
    budget = s.budget
    who = "" if budget.set_by is None else f" · set in chat by {name(budget.set_by)}"
    lines = [f"• {m.bold(name(budget.label))} · {budget.period_label}: "
             f"{m.bold(money(budget.amount))}{who}",
             f"   Spent {money(s.spent)} ({_pct(s.percent_spent)})" + _forecast(s, note)]
    crossed = _crossed(s)
    if crossed:
        lines.append(f"   Crossed: {crossed}")
    if s.burn is not None:
        if s.burn.hours_left <= 0:
            lines.append("   This budget is used up.")
        else:
            lines.append(f"   At the last 24 hours' rate this budget is gone in "
                         f"{_hours(s.burn.hours_left)} ({when(s.burn.runs_out_at)}), before "
                         f"the period ends.")
    return lines


def _crossed(s: BudgetStatus) -> str:
    """``50 %, 80 % by the forecast (Nov 11 00:00 UTC); 50 % by spend (Nov 16 09:00 UTC)``:
    thresholds reached in one check are said together."""
    said: dict[tuple[str, datetime], list[float]] = {}
    for c in s.crossings:
        if c.basis in (Basis.ACTUAL, Basis.FORECAST):
            said.setdefault((c.basis, c.crossed_at), []).append(c.threshold)
    return "; ".join(f"{_levels(tuple(levels))} by "
                     f"{'spend' if basis == Basis.ACTUAL else 'the forecast'} ({when(at)})"
                     for (basis, at), levels in said.items())


def _forecast(s: BudgetStatus, note: Callable[[str], str]) -> str:
    if s.forecast is None or s.percent_forecast is None:
        return f" · no forecast yet ({note(s.forecast_note)})" if s.forecast_note else ""
    interval = ""
    if (s.forecast_low is not None and s.forecast_high is not None
            and s.forecast_high - s.forecast_low >= 0.005):
        interval = (f", {FORECAST_LEVEL * 100:.0f} % likely {money(s.forecast_low)} to "
                    f"{money(s.forecast_high)}")
    return (f" · forecast {money(s.forecast)} ({_pct(s.percent_forecast)}) at the period's "
            f"end{interval}")


def _hours(hours: float) -> str:
    if hours < 1:
        return "less than an hour"
    whole = round(hours)
    return f"{whole} hour{'s' if whole != 1 else ''}"


def _pilots(a: BudgetListAnswer, m: Markup) -> list[str]:
    if not a.pilots:
        return []
    name = _clip(m)
    lines = [m.bold("Pilots without a ceiling") + " (a pilot phase or listed, spend in the last "
             "30 days, no budget)"]
    for p in a.pilots:
        environments = ", ".join(name(e) for e in p.environments)
        lines.append(f"• {m.bold(name(p.project))} ({name(p.phase)}; {environments}): "
                     f"{money(p.spend_30d)} in 30 days")
    if a.pilot_total > len(a.pilots):
        lines.append(f"…and {a.pilot_total - len(a.pilots)} more")
    lines.append(f"Give each a ceiling: {m.code(SET_USAGE)}")
    return lines


def _set(a: BudgetSetAnswer, m: Markup) -> list[str]:
    name = _clip(m)
    budget = a.budget
    was = ("none before" if a.previous is None
           else f"{money(a.previous)} → {money(budget.amount)}")
    lines = [f"{m.bold('Budget set')}: {m.bold(name(budget.label))}, "
             f"{m.bold(money(budget.amount))} a month ({was}); recorded in the audit log.",
             f"{budget.period_label}: {money(a.spent)} spent so far "
             f"({_pct(a.percent_spent)} of the new amount)."]
    if a.above:
        lines.append(f"Thresholds above that spend ({_levels(a.above)}) alert when spend or "
                     f"the forecast reaches them; the next check re-arms any that were "
                     f"crossed at the old amount.")
    if a.below:
        lines.append(f"Already past: {_levels(a.below)}.")
    return lines
