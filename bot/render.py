"""Terminal rendering (rich) of ingest reports, cost summaries and anomalies.

Shared by the CLI and the console chat; every value that came from a user or a cost file is
escaped, so a tag value such as ``[bold]`` prints as text.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bot import reports
from bot.anomalies import Incident
from bot.ingest import FileReport, IngestReport

__all__ = ["console", "errors", "money", "pct", "print_anomalies", "print_ingest",
           "print_summary", "print_unallocated"]

console = Console()
errors = Console(stderr=True)


def print_ingest(report: IngestReport) -> None:
    table = Table(title="Ingest", title_justify="left")
    for column in ("file", "status", "rows kept", "rejected", "points", "billing periods"):
        table.add_column(column, justify="right" if column in ("rows kept", "rejected",
                                                               "points") else "left")
    for f in report.files:
        style = {"failed": "red", "unchanged": "dim", "duplicate": "yellow",
                 "held": "red"}.get(f.status, "")
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
    duplicates = sum(f.status == "duplicate" for f in report.files)
    if duplicates:
        line += f"; {duplicates} byte-identical file(s) counted once"
    if report.held:
        line += f"; {len(report.held)} billing period(s) held back, nothing of them replaced"
    return line


def _print_file_lines(f: FileReport, *, cost_basis: bool) -> None:
    name = escape(Path(f.path).name)
    if f.message and f.status in ("failed", "duplicate"):
        colour = "red" if f.status == "failed" else "yellow"
        console.print(f"[{colour}]{name}: {escape(f.message)}[/{colour}]")
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


def money(value: float) -> str:
    return f"-${-value:,.2f}" if value < 0 else f"${value:,.2f}"


def pct(value: float | None) -> str:
    if value is None:
        return "new"
    return f"{value:+.1f}%"


def print_summary(summary: reports.CostSummary, *, project: str | None,
                   environment: str | None) -> None:
    p = summary.period
    scope = escape(" / ".join(x for x in (project, environment) if x) or "all projects")
    title = (f"{scope}: {p.label} ({p.start:%Y-%m-%d %H:%M} to {p.end:%Y-%m-%d %H:%M} UTC) "
             f"by {summary.by}")
    table = Table(title=title, title_justify="left")
    table.add_column(summary.by)
    for column in ("cost", "previous", "change", "%", "share"):
        table.add_column(column, justify="right")
    for row in summary.rows.itertuples(index=False):
        table.add_row(escape(str(row.key)), money(row.cost), money(row.previous), money(row.change),
                      pct(row.change_pct), f"{row.share:.1f}%")
    table.add_section()
    table.add_row("total", money(summary.total), money(summary.previous_total),
                  money(summary.total - summary.previous_total), pct(summary.change_pct),
                  "100.0%" if summary.rows.size else "", style="bold")
    console.print(table)
    if summary.rows.empty:
        console.print("no spend in this period for this selection")


def print_unallocated(points: pd.DataFrame, period: reports.Period) -> None:
    loose, total, detail = reports.unallocated_share(points, period=period)
    share = loose / total * 100 if total else 0.0
    console.print(
        f"[bold]Unallocated spend, {period.label}:[/bold] {money(loose)} of {money(total)} "
        f"({share:.1f}%) has no project tag."
    )
    if detail.empty:
        console.print("Every dollar is allocated to a project.")
        return
    table = Table(title="Where the unallocated spend comes from", title_justify="left")
    for column in ("service", "account", "cost"):
        table.add_column(column, justify="right" if column == "cost" else "left")
    for row in detail.head(15).itertuples(index=False):
        table.add_row(escape(row.service_name), escape(row.sub_account_name), money(row.cost))
    console.print(table)
    console.print("Tag these resources (project, environment, owner) or add an allocation rule "
                  "(allocation.rules in the config) to give the spend an owner.")


def print_anomalies(incidents: list[Incident]) -> None:
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


def print_replay(alerts: list[dict], labels: dict | None) -> None:  # type: ignore[type-arg]
    """Alerts an hourly replay opened; with labels, which seeded incidents they caught."""
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
