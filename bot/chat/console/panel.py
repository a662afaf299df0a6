"""The alert and a runbook entry as rich panels: pure functions of the views, for the console.

Everything that came from tags, YAML or people is escaped with rich's ``escape``, so a project
called ``[bold red]x[/]`` prints as those characters.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from bot.anomaly.enums import AnomalyResponse, AnomalyStatus
from bot.anomaly.runbooks import earlier_text, version_text
from bot.anomaly.views import AlertView, ContributorView, RunbookView
from bot.chat.text import money, when

__all__ = ["alert_panel", "runbook_panel", "when"]

MAX_CONTRIBUTORS = 5
MAX_LEVERS = 4

# by the stored response (plain text; AnomalyResponse members compare equal to it)
_RESPONSES: dict[str, str] = {
    AnomalyResponse.NONE: "Not acknowledged yet",
    AnomalyResponse.ACKNOWLEDGED: "Acknowledged by {who}",
    AnomalyResponse.INVESTIGATING: "Investigating: {who}",
    AnomalyResponse.STABILISED: "Stabilised by {who}",
    AnomalyResponse.RESOLVED: "Resolved by {who}",
    AnomalyResponse.NOT_AN_ANOMALY: "Not an anomaly, said {who}",
}


def alert_panel(view: AlertView, *, channel: str, ref: str, updated: bool = False) -> Panel:
    """The alert as it reads now; closed alerts keep only the hints that still apply."""
    parts: list[RenderableType] = [*_figures(view), _status(view)]
    parts += _section("Top contributors", [("•", _contributor(c))
                                           for c in view.contributors[:MAX_CONTRIBUTORS]])
    parts += _section("Suggested levers", [
        ("•", f"{escape(lever.title)} — {escape(lever.detail)}")
        for lever in view.levers[:MAX_LEVERS]])
    parts += _last_fix(view)
    for note in view.notes:
        parts += _section(escape(note.heading), [("•", escape(line)) for line in note.lines])
    done = sum(step.done for step in view.playbook)
    parts += _section(f"Playbook ({done}/{len(view.playbook)} done)", [
        ("✓" if step.done else "◻",
         escape(step.title) + (f" — {escape(step.by)}" if step.done and step.by else ""))
        for step in view.playbook])
    hints = _hints(view)
    if hints:
        parts += ["", Text(hints, style="dim")]
    title = f"[bold]Spend anomaly: {escape(view.title)}[/bold]"
    return Panel(Group(*parts), title=title + (" (updated)" if updated else ""),
                 title_align="left",
                 subtitle=f"anomaly {view.anomaly_id} · #{escape(channel)} · {escape(ref)}",
                 subtitle_align="right", border_style="green" if view.closed else "red",
                 highlight=False)


def runbook_panel(entry: RunbookView, *, workload: tuple[str, ...], count: int) -> Panel:
    """One runbook entry: the summary, then every answer of the walk, step by step."""
    parts: list[RenderableType] = [
        f"[bold]Root cause:[/bold] {escape(entry.root_cause)}",
        f"[bold]Fix:[/bold] {escape(entry.fix)}",
        f"[bold]Prevention:[/bold] {escape(entry.prevention)}",
    ]
    for step in entry.answers:
        parts += _section(f"{escape(step.title)} [dim]({escape(step.by)}, {when(step.at)})[/dim]",
                          [("", f"{escape(f.label)}: {escape(f.text)}") for f in step.fields])
    parts += _section("Earlier versions", [("•", escape(earlier_text(old)))
                                           for old in entry.earlier])
    total = f"{count} entr{'y' if count == 1 else 'ies'}"
    version = version_text(entry)
    parts += ["", f"[dim]by {escape(entry.author)}, {when(entry.created_at)}"
                  + (f" · {escape(version)}" if version else "")
                  + f" · {total} in this workload's runbook[/dim]"]
    where = " · ".join(escape(part) for part in workload if part)
    return Panel(Group(*parts), title=f"[bold]Runbook entry: {where}[/bold]", title_align="left",
                 border_style="blue", highlight=False)


def _figures(view: AlertView) -> list[str]:
    percent = view.percent_over
    hourly = f"{money(view.actual_hourly)}/h vs {money(view.expected_hourly)}/h"
    over = f"{percent:+,.0f}% over ({hourly})" if percent is not None else f"new spend ({hourly})"
    lines = [
        f"[bold]{money(view.impact_usd)}[/bold] over expected so far · "
        f"[bold]{money(view.projected_daily_usd)}[/bold] per day if it continues · {over}",
        f"{escape(view.kind)} since {when(view.started_at)} · "
        f"owner {escape(view.owner or 'not set')}"
        + (f" · responsible [bold]{escape(view.responsible)}[/bold]" if view.responsible else "")
        + f" · phase {escape(view.phase or 'not set')} · peak {money(view.peak_hourly_usd)}/h",
    ]
    if view.baseline:
        lines.append(f"[dim]Expected = {escape(view.baseline)}[/dim]")
    if view.data_as_of:
        lines.append("[dim]Data as of " + ", ".join(
            f"{when(moment)} ({escape(source)})" for source, moment in view.data_as_of) + "[/dim]")
    return lines


def _status(view: AlertView) -> str:
    who, note = escape(view.response_by or "someone"), escape(view.response_note or "")
    if view.response == AnomalyResponse.EXPECTED:
        parts = [f"Expected: {note or 'no reason given'} (marked by {who})"]
    elif view.response in _RESPONSES:
        parts = [_RESPONSES[view.response].format(who=who)]
        # a resolution's note is its root cause
        if note and view.response != AnomalyResponse.RESOLVED:
            parts.append(f"“{note}”")
    else:
        parts = [f"Response: {escape(view.response)} ({who})"]
    if view.snoozed_until is not None and not view.closed:
        parts.append(f"snoozed until {when(view.snoozed_until)}")
    if view.escalated:
        parts.append("escalated")
    if view.burst_ended_at is not None and view.burst_cost_usd is not None:
        parts.append(f"a short burst, over {when(view.burst_ended_at)}: it cost "
                     f"{money(view.burst_cost_usd)} over expected")
    if view.status == AnomalyStatus.AUTO_RESOLVED:
        parts.append("back to normal (auto-resolved)")
    elif view.status != AnomalyStatus.OPEN:
        parts.append(f"status: {escape(view.status)}")
    return "[bold]Status:[/bold] " + " · ".join(parts)


def _section(heading: str, rows: list[tuple[str, str]]) -> list[RenderableType]:
    """A heading and its rows, each a marker and markup that wraps under itself."""
    if not rows:
        return []
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=3, justify="right", no_wrap=True)
    grid.add_column()
    for marker, text in rows:
        grid.add_row(marker, text)
    return ["", f"[bold]{heading}[/bold]", grid]


def _contributor(c: ContributorView) -> str:
    where = " · ".join(escape(part) for part in (c.service, c.region, c.sku) if part)
    sign = "+" if c.impact_usd >= 0 else ""
    return (f"{where or 'unnamed service'}: [bold]{sign}{money(c.impact_usd)}/h[/bold] "
            f"({money(c.actual)}/h vs {money(c.expected)}/h expected)")


def _last_fix(view: AlertView) -> list[RenderableType]:
    """The newest runbook entry; once resolved that is usually this alert's own resolution."""
    fix = view.last_fix
    if fix is None:
        return []
    count = view.runbook_entries
    heading = "Newest runbook entry" if view.response == AnomalyResponse.RESOLVED else \
        "What fixed it last time"
    parts = (("Root cause", fix.root_cause), ("Fix", fix.fix), ("Prevention", fix.prevention))
    return _section(
        f"{heading} ({when(fix.created_at)}, {escape(fix.author)}; {count} "
        f"{'entry' if count == 1 else 'entries'} in the runbook)",
        [("", f"{name}: {escape(text)}") for name, text in parts if text.strip()])


def _hints(view: AlertView) -> str:
    """The buttons, as keys; plain text (rich would read ``[a]`` as markup)."""
    hints: list[str] = []
    if not view.closed:
        if view.response == AnomalyResponse.NONE:
            hints.append("[a]cknowledge")
        hints += ["[p]laybook", "[s]nooze", "[e]xpected"]
        if not view.escalated:
            hints.append("[x] escalate")
        hints.append("[n]ot an anomaly")
    if view.runbook_entries > 0:
        hints.append("[r]unbook")
    return "  ".join(hints)
