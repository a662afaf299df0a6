"""The month's story in plain words, generated from the report's figures.

A board reads the story before any table, so it must say only what the figures say: how much
was spent and how that compares with the month before, which projects moved most, which
anomalies happened and what the people who handled them recorded as the cause and the fix,
how spend stands against budgets, and where the money went (each project's share, its main
services and environments). Nothing is inferred beyond that: a cause nobody recorded is
reported as not recorded, not guessed.

Paragraphs are plain text with user-provided strings left as they are; each writer escapes
them for its medium.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.chat.text import money
from bot.costs.service import percent_change

if TYPE_CHECKING:
    from bot.finance.report import BoardReport, ProjectSpend

__all__ = ["TOP_ANOMALIES", "TOP_CHANGES", "TOP_PROJECTS", "month_name", "month_story"]

TOP_CHANGES = 3
TOP_ANOMALIES = 3
TOP_PROJECTS = 5


def month_name(period: str) -> str:
    """``2026-10`` as ``October 2026``."""
    year, month = period.split("-")
    names = ("January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December")
    return f"{names[int(month) - 1]} {year}"


def month_story(report: BoardReport) -> list[str]:
    """Paragraphs: the total, the biggest changes, the anomalies, budgets, where it went."""
    paragraphs = [_total(report)]
    changes = _changes(report)
    if changes:
        paragraphs.append(changes)
    paragraphs.append(_anomalies(report))
    paragraphs.append(_budgets(report))
    spent_on = _where(report)
    if spent_on:
        paragraphs.append(spent_on)
    return paragraphs


def _m(report: BoardReport, amount: float) -> str:
    return money(amount, currency=report.currency)


def _signed(report: BoardReport, amount: float) -> str:
    return _m(report, amount) if amount < 0 else "+" + _m(report, amount)


def _total(report: BoardReport) -> str:
    name, before = month_name(report.period), month_name(report.previous_period)
    so_far = "" if report.complete else " so far (the month is not over)"
    text = (f"Spend in {name}{so_far} was {_m(report, report.total)}: "
            f"{_m(report, report.direct)} direct and {_m(report, report.shared)} of shared "
            f"costs split across projects.")
    pct = percent_change(report.total, report.previous)
    if report.previous == 0:
        return text + f" {before} had no recorded spend to compare with."
    direction = "up" if report.total >= report.previous else "down"
    size = f" {abs(pct):.1f}%" if pct is not None else ""
    return (text + f" That is {direction}{size} ({_signed(report, report.total - report.previous)})"
            f" on {before} ({_m(report, report.previous)}).")


def _changes(report: BoardReport) -> str:
    moved = sorted((p for p in report.projects if round(p.change, 2) != 0),
                   key=lambda p: (-abs(p.change), p.project))[:TOP_CHANGES]
    if not moved:
        return ""
    parts = []
    for p in moved:
        pct = percent_change(p.total, p.previous)
        if p.previous == 0:
            parts.append(f"{p.project} is new at {_m(report, p.total)}")
        elif p.total == 0:
            parts.append(f"{p.project} stopped spending (was {_m(report, p.previous)})")
        else:
            share = f", {pct:+.1f}%" if pct is not None else ""
            parts.append(f"{p.project} {_signed(report, p.change)}{share} "
                         f"({_m(report, p.previous)} to {_m(report, p.total)})")
    before = month_name(report.previous_period)
    return f"The biggest changes against {before}: " + "; ".join(parts) + "."


def _anomalies(report: BoardReport) -> str:
    rows = report.register
    if not rows:
        return "No spend anomalies were detected this month."
    still_open = sum(1 for r in rows if r.open)
    counted = "1 spend anomaly was" if len(rows) == 1 else f"{len(rows)} spend anomalies were"
    text = (f"{counted} detected, {_m(report, report.impact)} over expected spend in all; "
            f"{len(rows) - still_open} closed, {still_open} still open.")
    biggest = sorted(rows, key=lambda r: (-r.impact, r.id))[:TOP_ANOMALIES]
    details = []
    for r in biggest:
        said = []
        if r.what_changed or r.open:
            said.append(f"what changed: {r.what_changed or 'not recorded yet'}")
        if r.root_cause:
            said.append(f"why: {r.root_cause}")
        said.append(f"outcome: {r.resolution}")
        details.append(f"#{r.id} on {r.workload} ({_m(report, r.impact)} over expected): "
                       + "; ".join(said))
    lead = "The largest: " if len(rows) > 1 else ""
    return text + " " + lead + " ".join(d if d.endswith(".") else d + "." for d in details)


def _budgets(report: BoardReport) -> str:
    if not report.budgets:
        return ("No budgets apply to this month, so spend is not measured against a ceiling; "
                "set them under budgets: in the config or with /cost budget set.")
    over = [b for b in report.budgets if b.spent > b.budget.amount]
    heading = f"{len(report.budgets)} budget{'s' if len(report.budgets) != 1 else ''} applied"
    if not over:
        text = f"{heading}; spend stayed within every one of them."
    else:
        named = "; ".join(f"{b.budget.label} spent {_m(report, b.spent)} of "
                          f"{_m(report, b.budget.amount)} "
                          f"({b.percent_spent:.0f}%)" for b in over)
        text = f"{heading}; {len(over)} went over: {named}."
    if not report.complete:
        ahead = [b for b in report.budgets if b.spent <= b.budget.amount
                 and b.forecast is not None and b.forecast > b.budget.amount]
        if ahead:
            named = "; ".join(f"{b.budget.label} (forecast {_m(report, b.forecast or 0.0)} "
                              f"of {_m(report, b.budget.amount)})" for b in ahead)
            text += f" Forecast to go over by month end: {named}."
    return text


def _where(report: BoardReport) -> str:
    spending = sorted((p for p in report.projects if p.total > 0),
                      key=lambda p: (-p.total, p.project))
    if not spending or report.total <= 0:
        return ""
    parts = [_project_line(report, p) for p in spending[:TOP_PROJECTS]]
    rest = spending[TOP_PROJECTS:]
    if rest:
        parts.append(f"{len(rest)} other project{'s' if len(rest) != 1 else ''} "
                     f"{_m(report, sum(p.total for p in rest))}")
    return "Where the money went: " + "; ".join(parts) + "."


def _project_line(report: BoardReport, p: ProjectSpend) -> str:
    share = 100 * p.total / report.total
    line = f"{p.project} {_m(report, p.total)} ({share:.0f}% of the total)"
    details = []
    if p.services:
        details.append(f"largest service {p.services[0][0]}" if len(p.services) == 1
                       else f"largest services {p.services[0][0]} and {p.services[1][0]}")
    if p.environments:
        details.append("in " + ", ".join(p.environments))
    return line + (", " + ", ".join(details) if details else "")
