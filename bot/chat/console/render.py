"""Terminal rendering (rich) of ingest reports, cost summaries and anomalies.

Shared by the CLI and the console chat; every value that came from a user or a cost file is
escaped, so a tag value such as ``[bold]`` prints as text.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bot.anomaly.lifecycle import Incident
from bot.chat.text import money, signed
from bot.costs import service as reports
from bot.finance.showback import Showback
from bot.ingest.allocation import UNALLOCATED
from bot.ingest.enums import FileStatus
from bot.ingest.service import FileReport, IngestReport

__all__ = ["TOP_ROWS", "console", "errors", "pct", "print_anomalies", "print_ingest",
           "print_showback", "print_summary", "print_unallocated"]

console = Console()
errors = Console(stderr=True)


def print_ingest(report: IngestReport) -> None:
    table = Table(title="Ingest", title_justify="left")
    for column in ("file", "status", "rows kept", "rejected", "points", "billing periods"):
        table.add_column(column, justify="right" if column in ("rows kept", "rejected",
                                                               "points") else "left")
    for f in report.files:
        style = {FileStatus.FAILED: "red", FileStatus.UNCHANGED: "dim",
                 FileStatus.DUPLICATE: "yellow", FileStatus.HELD: "red"}.get(f.status, "")
        table.add_row(escape(Path(f.path).name), f.status, f"{f.rows_kept:,}",
                      f"{f.rows_rejected:,}", f"{f.points_written:,}",
                      ", ".join(f.billing_periods), style=style)
    console.print(table)
    console.print(_ingest_totals(report))
    bases = {f.cost_basis for f in report.files if f.cost_basis}
    for f in report.files:
        _print_file_lines(f, cost_basis=len(bases) > 1)
    if len(bases) == 1:
        console.print(f"Costs read from {escape(bases.pop())}.")
    for held in report.held:
        console.print(f"[red]{escape(held.message)}[/red]")


def _ingest_totals(report: IngestReport) -> str:
    line = (f"{len(report.files)} file(s): {report.rows_kept:,} rows kept, "
            f"{report.rows_rejected:,} rejected")
    duplicates = sum(f.status == FileStatus.DUPLICATE for f in report.files)
    if duplicates:
        line += f"; {duplicates} byte-identical file(s) counted once"
    if report.held:
        line += f"; {len(report.held)} billing period(s) held back, nothing of them replaced"
    return line


def _print_file_lines(f: FileReport, *, cost_basis: bool) -> None:
    name = escape(Path(f.path).name)
    if f.message and f.status in (FileStatus.FAILED, FileStatus.DUPLICATE):
        colour = "red" if f.status == FileStatus.FAILED else "yellow"
        raw = Path(f.path).name
        named = f.message.split(": ", 1)[0].endswith(raw)  # errors that name their file
        text = f.message if named else f"{raw}: {f.message}"
        console.print(f"[{colour}]{escape(text)}[/{colour}]")
    if cost_basis and f.cost_basis:
        console.print(f"{name}: costs read from {escape(f.cost_basis)}")
    for reason, count in f.rejected_reasons.items():
        console.print(f"[yellow]{name}: {count:,} row(s) rejected: {escape(reason)}[/yellow]")
    for warning, count in f.warnings.items():
        console.print(f"[yellow]{name}: {count:,} row(s) kept as unallocated: {escape(warning)}"
                      "[/yellow]")
    for note, count in f.notes.items():
        console.print(f"[yellow]{name}: {count:,} row(s) {escape(note)}[/yellow]")
    if f.quarantine_path:
        console.print(
            f"  rejected rows, with row numbers and reasons: {escape(f.quarantine_path)}")


def pct(value: float | None) -> str:
    if value is None:
        return "new"
    return f"{value:+.1f}%"


TOP_ROWS = 20  # rows of a cost table before the rest are summed in one line


def print_summary(summary: reports.CostSummary, *, project: str | None,
                  environment: str | None, top: int = TOP_ROWS) -> None:
    """Usage per key, the rows left out summed, other charges apart, the total of all points."""
    p = summary.period
    scope = escape(" / ".join(x for x in (project, environment) if x) or "all projects")
    title = (f"{scope}: {p.label} ({p.start:%Y-%m-%d %H:%M} to {p.end:%Y-%m-%d %H:%M} UTC) "
             f"by {summary.by}, {summary.metric} cost")
    console.print(title, style="italic", highlight=False)  # a line of its own: never squeezed
    table = Table()
    table.add_column(summary.by)
    for column in (f"{summary.metric} cost", "previous", "change", "%", "share of usage"):
        table.add_column(column, justify="right")
    usage = summary.usage_total

    def share(cost: float) -> str:
        return f"{cost / usage * 100:.1f}%" if abs(usage) > 1e-9 else ""

    rows = reports.cut(summary.rows, limit=top)
    for key, cost, previous in _columns(rows.shown, "key", "cost", "previous"):
        table.add_row(escape(key), *_amounts(cost, previous), share(cost))
    if rows.hidden:
        table.add_row(f"{rows.hidden} more", *_amounts(rows.hidden_cost, rows.hidden_previous),
                      share(rows.hidden_cost), style="dim")
    if not summary.other.empty:
        table.add_section()
        if summary.by != "category":  # by category, the Usage row is this subtotal
            table.add_row("usage", *_amounts(usage, summary.usage_previous), share(usage))
        _other_rows(table, summary, top)
    table.add_section()
    table.add_row("total", *_amounts(summary.total, summary.previous_total),
                  share(usage) if summary.other.empty else "", style="bold")
    console.print(table)
    _summary_notes(summary)


def _columns(frame: pd.DataFrame, *names: str) -> Iterator[tuple[Any, ...]]:
    """The values of these columns, row by row (as ``itertuples`` gives them)."""
    return frame[list(names)].itertuples(index=False, name=None)


def _amounts(cost: float, previous: float) -> tuple[str, str, str, str]:
    """Cost, previous, change and percent as printed (a change of dust is $0.00, no percent)."""
    cents = [round(v, 2) + 0.0 for v in (cost, previous, cost - previous)]  # never "-$0.00"
    dust = abs(cost) < reports.DUST and abs(previous) < reports.DUST
    now, before, change = (money(v) for v in cents)
    return now, before, change, "" if dust else pct(reports.percent_change(cost, previous))


def _other_rows(table: Table, summary: reports.CostSummary, top: int) -> None:
    """Credits, purchases, tax and adjustments: never mixed into the usage of a key."""
    other = reports.cut(summary.other, limit=top)
    shown = _columns(other.shown, "key", "charge_category", "cost", "previous")
    for key, category, cost, previous in shown:
        label = key if summary.by == "category" else f"{category}: {key}"
        table.add_row(escape(label), *_amounts(cost, previous), "")
    if other.hidden:
        table.add_row(f"{other.hidden} more other charges",
                      *_amounts(other.hidden_cost, other.hidden_previous), "", style="dim")


def _summary_notes(summary: reports.CostSummary) -> None:
    if summary.rows.empty and summary.other.empty:
        console.print("no spend in this period for this selection")
        return
    mover = summary.biggest_mover
    if mover is not None:
        change = float(mover["change"])
        console.print(f"Largest change in usage: {escape(str(mover['key']))} "
                      f"{signed(change)} "
                      f"({pct(mover['change_pct'])}).")


def print_unallocated(loose: reports.CostSummary, total: float, *,
                      environment: str | None = None, top: int = TOP_ROWS) -> None:
    """The share of spend with no project (``loose``) in all spend (``total``), and where it
    comes from, credits included."""
    share = f" ({loose.total / total * 100:.1f}%)" if total >= reports.DUST else ""
    console.print(
        f"[bold]Unallocated spend ({loose.metric} cost), {loose.period.label}:[/bold] "
        f"{money(loose.total)} of {money(total)}{share} has no project tag."
    )
    if loose.rows.empty and loose.other.empty:
        console.print("Every dollar is allocated to a project.")
        return
    print_summary(loose, project=UNALLOCATED, environment=environment, top=top)
    console.print("Tag these resources (project, environment, owner) or add an allocation rule "
                  "(allocation.rules in the config) to give the spend an owner; "
                  "--by account shows which accounts it comes from.")


def print_anomalies(incidents: list[Incident]) -> None:
    """The incidents going on now, each with its kind as it stands (see :func:`print_replay`)."""
    if not incidents:
        console.print("No anomalies going on: spend is within what is normal for each workload.")
        return
    for incident in incidents:
        alert = incident.to_alert()
        over = alert["actual_cost"] - alert["expected_cost"]
        over_pct = over / alert["expected_cost"] * 100 if alert["expected_cost"] else None
        console.rule(f"[bold red]Anomaly {alert['alert_id']}[/bold red]: "
                     f"{escape(incident.project)} / {escape(incident.environment)} "
                     f"({alert['kind']})")
        console.print(
            f"{money(alert['impact_usd'])} over expected so far, "
            f"{money(alert['projected_daily_usd'])} per day if it continues "
            f"({pct(over_pct)} over expected this hour: {money(alert['actual_cost'])} vs "
            f"{money(alert['expected_cost'])}); since {alert['started_at']}; "
            f"owner {escape(incident.owner)}, phase {incident.phase}."
        )
        table = Table(title="Top contributors", title_justify="left")
        for column in ("service", "delta this hour", "expected", "actual"):
            table.add_column(column, justify="left" if column == "service" else "right")
        for c in alert["top_contributors"]:
            where = f" ({c['region']})" if c.get("region") else ""
            table.add_row(escape(c["service"] + where), money(c["impact_usd"]),
                          money(c["expected_cost"]), money(c["actual_cost"]))
        console.print(table)
        console.print(f"[dim]Baseline: {alert['baseline']}.[/dim]")


def print_replay(alerts: list[dict[str, Any]], labels: dict[str, Any] | None) -> None:
    """Alerts an hourly replay opened; with labels, which seeded incidents they caught.

    The kind column is the incident's kind when the replay ended (``bot.anomaly.replay.replay``), so
    an incident still going on reads the same here as in :func:`print_anomalies` and on its
    chat message: one incident, one kind label.
    """
    table = Table(title="Alerts, as the hourly polls raised them", title_justify="left")
    for column in ("detected", "workload", "kind", "top contributor", "over expected"):
        table.add_column(column, justify="right" if column == "over expected" else "left")
    for alert in alerts:
        top = alert["top_contributors"][0]["service"] if alert["top_contributors"] else ""
        table.add_row(str(alert["detected_at"]), escape(f"{alert['project']} / "
                                                        f"{alert['environment']}"),
                      str(alert["kind"]), escape(str(top)),
                      money(float(alert["actual_cost"]) - float(alert["expected_cost"])) + "/h")
    console.print(table)
    if not labels:
        return
    caught, delays = 0, []
    for event in labels.get("events", []):
        start = pd.Timestamp(event["start"])
        low, high = start - pd.Timedelta(hours=3), pd.Timestamp(event["end"]) + pd.Timedelta(
            hours=6)
        hits = [pd.Timestamp(a["detected_at"]) for a in alerts
                if (a["project"], a["environment"]) == (event["project"], event["environment"])
                and low <= pd.Timestamp(a["detected_at"]) <= high]
        if hits:
            caught += 1
            delays.append((min(hits) - start) / pd.Timedelta(hours=1))
    total = len(labels.get("events", []))
    median = f"{float(pd.Series(delays).median()):.0f} h" if delays else "n/a"
    console.print(f"{caught} of {total} seeded incidents caught, a median of {median} after "
                  f"they began; {len(alerts) - caught} alert(s) on other spend.")


def print_showback(result: Showback, *, heading: str, pools_configured: bool) -> None:
    """Direct spend, each pool's share, shared and total per project, with a totals row
    (``spendwatch showback``, and ``costs --by project`` when pools are configured)."""
    console.print(heading, style="italic", highlight=False)
    table = Table()
    table.add_column("project")
    table.add_column("direct", justify="right")
    for pool in result.pools:
        table.add_column(escape(f"{pool.name} ({pool.split})"), justify="right")
    for title in ("shared", "total"):
        table.add_column(title, justify="right")
    for p in result.projects:
        table.add_row(escape(p.project), money(p.direct_cents / 100),
                      *(money(p.shared_cents.get(pool.name, 0) / 100) for pool in result.pools),
                      money(p.shared_total_cents / 100), money(p.total_cents / 100))
    table.add_section()
    table.add_row("total", money(result.direct_cents / 100),
                  *(money(pool.total_cents / 100) for pool in result.pools),
                  money(result.shared_cents / 100), money(result.total_cents / 100),
                  style="bold")
    console.print(table)
    for note in result.notes:
        console.print(f"note: {escape(note)}", highlight=False)
    if not pools_configured:
        console.print("no shared pools are configured: every line is direct spend (see "
                      "showback.shared in the README)", highlight=False)
