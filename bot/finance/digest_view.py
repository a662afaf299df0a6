"""How the weekly digest reads: plain text for chat, a rich panel for the console, a PNG chart.

The text is plain (project names come from tags): each chat adapter escapes it as it escapes
any notice. It stays well under Slack's 3,000 characters of a section by listing the largest
projects only and summing the rest. The chart compares this week with the week before, day by
day, in the style of the alert chart (``bot.anomaly.chart_image``): wide and short for a
phone, large type, a dollar axis from zero, its own ``Figure`` on an Agg canvas (never pyplot,
which keeps global state and the outbox draws from worker threads).
"""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.anomaly.chart_image import HEIGHT_PX, WIDTH_PX
from bot.chat.text import money, signed, span, when
from bot.finance.digest import (
    Digest,
    Durations,
    ProjectLine,
    compute_digest,
    daily_spend,
    week_bounds,
)
from bot.settings import Settings
from storage.db import session_scope
from storage.models import OutboxMessage
from storage.timeutil import as_utc

__all__ = ["TOP_PROJECTS", "digest_chart", "digest_chart_png", "digest_panel", "digest_text",
           "print_digest", "show_digest"]

TOP_PROJECTS = 8
_DPI = 100
_THIS_WEEK = "#1f4e79"
_LAST_WEEK = "#b0b0b0"
_TEXT = "#222222"
_TITLE_SIZE = 20
_LABEL_SIZE = 15


def digest_text(digest: Digest) -> str:
    """The digest as plain text, one figure per line (what chat shows)."""
    lines = [f"Weekly spend digest, {span(digest.week_start, digest.week_ending)}",
             f"Spend: {money(digest.total)} ({_against(digest.total, digest.previous_total)})",
             *_late(digest), "",
             "By project (this week, against last week; budget as of the week's end):"]
    shown = [p for p in digest.projects if p.spend or p.previous or p.budgets][:TOP_PROJECTS]
    lines += [f"• {_project(p)}" for p in shown]
    rest = digest.projects[len(shown):]
    if rest:
        lines.append(f"• {len(rest)} more project{'s' * (len(rest) != 1)}: "
                     f"{money(sum(p.spend for p in rest))}")
    if not shown:
        lines.append("• no spend in either week")
    lines += ["", *_anomaly_lines(digest), *_unallocated_lines(digest)]
    return "\n".join(lines)


def _late(digest: Digest) -> list[str]:
    if not digest.late_data or digest.data_end is None:
        return []
    return [f"Spend data reaches {when(digest.data_end)} only: later hours are not counted "
            f"yet, so the last day reads low."]


def _against(now: float, before: float) -> str:
    if abs(before) < 0.005:
        return "nothing the week before" if abs(now) >= 0.005 else "no change"
    return f"{signed(now - before)}, {(now - before) / abs(before) * 100:+.1f}% on " \
           f"{money(before)} the week before"


def _project(line: ProjectLine) -> str:
    text = f"{line.project}: {money(line.spend)} ({_against(line.spend, line.previous)})"
    for status in line.budgets:
        budget = status.budget
        text += (f"; budget {budget.label}, {budget.period_label}: {money(status.spent)} of "
                 f"{money(budget.amount)} ({status.percent_spent:.0f}%)")
        if status.forecast is not None and status.percent_forecast is not None:
            text += f", forecast {money(status.forecast)} ({status.percent_forecast:.0f}%)"
    return text


def _anomaly_lines(digest: Digest) -> list[str]:
    early = digest.early
    saved = sum(c.hours_saved for c in early) / len(early) if early else 0.0
    lines = [
        f"Anomalies: {len(digest.opened)} opened ({money(digest.opened_impact)} over "
        f"expected), {len(digest.resolved)} resolved ({money(digest.resolved_impact)})",
        f"Time to acknowledge: {_durations(digest.acknowledge)}",
        f"Time to resolve: {_durations(digest.resolve)}",
        f"Spend caught early: {money(digest.caught_early_usd)}"
        + (f" ({len(early)} anomal{'ies' if len(early) != 1 else 'y'} seen {saved:.0f} h on "
           f"average before a daily detector would have: the day's end plus a day for its "
           f"data)" if early else ""),
    ]
    if digest.what_changed:
        lines.append("What changed, most often: " + "; ".join(
            f"{answer} ({times})" for answer, times in digest.what_changed))
    else:
        lines.append("What changed: no playbook answers this week")
    return lines


def _durations(figures: Durations) -> str:
    if figures.count == 0 or figures.median_hours is None or figures.mean_hours is None:
        return "none this week"
    return (f"median {_hours(figures.median_hours)}, mean {_hours(figures.mean_hours)} "
            f"({figures.count} anomal{'ies' if figures.count != 1 else 'y'})")


def _hours(value: float) -> str:
    if value < 1:
        return f"{value * 60:.0f} min"
    return f"{value:.1f} h" if value < 48 else f"{value / 24:.1f} days"


def _unallocated_lines(digest: Digest) -> list[str]:
    loose = digest.unallocated
    share = f", {loose.share:.1f}% of spend" if loose.share is not None else ""
    days = " · ".join(money(amount, decimals=0) for amount in loose.days)
    return [f"Unallocated spend: {money(loose.spend)}{share} "
            f"({_against(loose.spend, loose.previous)}); day by day: {days}"]


# -- the console --------------------------------------------------------------------------------


def digest_panel(digest: Digest) -> Panel:
    """The digest as a rich panel: the projects as a table, every other figure as a line."""
    table = Table(expand=False)
    for title, justify in (("project", "left"), ("this week", "right"),
                           ("last week", "right"), ("change", "right"), ("budget", "left")):
        table.add_column(title, justify=justify)  # type: ignore[arg-type]
    for line in digest.projects[:TOP_PROJECTS]:
        change = "new" if line.change_pct is None and line.spend else (
            f"{line.change_pct:+.1f}%" if line.change_pct is not None else "")
        budgets = "\n".join(
            f"{escape(b.budget.label)}: {money(b.spent)} of {money(b.budget.amount)} "
            f"({b.percent_spent:.0f}%)"
            + (f", forecast {b.percent_forecast:.0f}%" if b.percent_forecast is not None
               else "") for b in line.budgets) or "[dim]none[/dim]"
        table.add_row(escape(line.project), money(line.spend), money(line.previous), change,
                      budgets)
    parts: list[RenderableType] = [
        f"[bold]Spend:[/bold] {money(digest.total)} "
        f"({escape(_against(digest.total, digest.previous_total))})",
        *(escape(line) for line in _late(digest)), table]
    parts += [escape(text) for text in (*_anomaly_lines(digest), *_unallocated_lines(digest))]
    return Panel(Group(*parts), title=escape(
        f"Weekly spend digest · {span(digest.week_start, digest.week_ending)}"),
        title_align="left")


def print_digest(digest: Digest, *, console: Console, chart_path: Path | None = None) -> None:
    """Print the digest; with ``chart_path``, write its chart there and say where."""
    console.print(digest_panel(digest))
    if chart_path is not None:
        png = digest_chart_png(digest.days, digest.daily, digest.daily_previous)
        chart_path.parent.mkdir(parents=True, exist_ok=True)
        chart_path.write_bytes(png)
        console.print(f"chart: {escape(str(chart_path))}", highlight=False)


def show_digest(*, engine: Engine, settings: Settings, console: Console, week_ending: datetime,
                chart_path: Path | None = None, what_changed: str | None = "what_changed.change"
                ) -> Digest:
    """Compute the digest of the week ending at ``week_ending`` from the store and print it
    (``make demo``, ``spendwatch digest``); with ``chart_path``, its chart is written there."""
    with session_scope(engine) as session:
        digest = compute_digest(db_session=session, settings=settings, week_ending=week_ending,
                                what_changed=what_changed)
    print_digest(digest, console=console, chart_path=chart_path)
    return digest


# -- the chart ----------------------------------------------------------------------------------


def digest_chart(session: Session, message: OutboxMessage) -> tuple[bytes, str] | None:
    """The chart a digest's outbox message asks for (``payload.week_ending``), drawn from the
    store as it is now; None when the message is not a digest's."""
    ending = message.payload.get("week_ending")
    if not isinstance(ending, str):
        return None
    week_ending = as_utc(datetime.fromisoformat(ending))
    days, this_week, last_week = daily_spend(db_session=session, week_ending=week_ending)
    start, end = week_bounds(week_ending)
    return (digest_chart_png(days, this_week, last_week),
            f"Spend per day, {span(start, end)}, against the week before")


def digest_chart_png(days: tuple[datetime, ...], this_week: tuple[float, ...],
                     last_week: tuple[float, ...]) -> bytes:
    """Bars per day of this week beside the same day of the week before, as a PNG of
    ``WIDTH_PX`` x ``HEIGHT_PX``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    if not len(days) == len(this_week) == len(last_week):
        raise ValueError(f"the digest chart needs one amount per day for both weeks; got "
                         f"{len(days)} days, {len(this_week)} and {len(last_week)} amounts")
    figure = Figure(figsize=(WIDTH_PX / _DPI, HEIGHT_PX / _DPI), dpi=_DPI)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    x = list(range(len(days)))
    ax.bar([i - 0.2 for i in x], last_week, width=0.4, color=_LAST_WEEK, label="week before")
    ax.bar([i + 0.2 for i in x], this_week, width=0.4, color=_THIS_WEEK, label="this week")
    ax.set_xticks(x, [f"{as_utc(day):%a %d}" for day in days])
    if days and as_utc(days[0]).hour:
        ax.set_xlabel(f"each day from {as_utc(days[0]):%H:%M} UTC", fontsize=_LABEL_SIZE - 1,
                      color=_TEXT)
    top = max([*this_week, *last_week, 0.0])
    ax.set_ylim(min(0.0, *this_week, *last_week) * 1.1, top * 1.2 if top > 0 else 1.0)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 5, 10]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _pos: money(y, decimals=0)))
    ax.grid(axis="y", color="#e6e6e6", linewidth=1.0)
    ax.set_axisbelow(True)
    ax.tick_params(axis="both", labelsize=_LABEL_SIZE, colors=_TEXT, length=0, pad=6)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.spines["bottom"].set_color("#b0b0b0")
    ax.set_title("Spend per day: this week against the week before", loc="left",
                 fontsize=_TITLE_SIZE, fontweight="bold", color=_TEXT, pad=12,
                 parse_math=False)
    ax.legend(loc="upper left", fontsize=_LABEL_SIZE, frameon=False, ncols=2)
    figure.subplots_adjust(left=0.1, right=0.97, top=0.87, bottom=0.17)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None})
    return buffer.getvalue()
