"""The ``spendwatch`` command (also ``python -m bot``).

Every command loads the config once (``--config`` or ``$SPENDWATCH_CONFIG``, else the built-in
defaults), builds the services, and brings the database schema up to date. Errors a user can
cause are printed as one clear message and exit with status 2; no traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from bot import reports
from bot.demodata import write_demo_data
from bot.ingest import IngestReport, ingest_path
from bot.pipeline import detect_from_store
from bot.replay import replay, write_alerts
from bot.settings import ConfigError, Settings, load_settings
from bot.sources.focus import FocusFileError
from bot.wiring import Services, build_services
from storage import repositories as repo
from storage.db import current_revision, make_engine, session_scope, upgrade

__all__ = ["app", "main"]

app = typer.Typer(
    help="spendwatch: hourly anomaly management of AI and cloud spend, in chat.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
console = Console()
errors = Console(stderr=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML config file (default: $SPENDWATCH_CONFIG)."),
]


class UserError(Exception):
    """Something the user can fix; printed without a traceback."""


def _settings(config: Path | None) -> Settings:
    return load_settings(config)


def _services(config: Path | None) -> Services:
    return build_services(_settings(config))


@app.command()
def ingest(
    path: Annotated[Path, typer.Argument(help="A FOCUS file (.csv, .csv.gz, .parquet) or folder.")],
    config: ConfigOption = None,
    currency: Annotated[
        str | None, typer.Option(help="Currency of files that have no BillingCurrency column.")
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Re-read files whose content was seen before.")
    ] = False,
) -> None:
    """Ingest FOCUS exports: a re-delivered billing period replaces the earlier one."""
    services = _services(config)
    try:
        report = _ingest_with_progress(services, path, currency=currency, force=force)
    finally:
        services.close()
    _print_ingest(report)
    if report.failed:
        raise typer.Exit(1)


def _ingest_with_progress(
    services: Services, path: Path, *, currency: str | None, force: bool
) -> IngestReport:
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
        TimeRemainingColumn(), console=errors, transient=True, disable=not errors.is_terminal,
    )
    tasks: dict[str, int] = {}

    def update(name: str, done: int, total: int) -> None:
        if name not in tasks:
            tasks[name] = progress.add_task(name, total=total)
        progress.update(tasks[name], completed=done)

    with progress:
        return ingest_path(
            engine=services.engine, settings=services.settings, path=path,
            default_currency=currency, force=force, progress=update,
        )


def _print_ingest(report: IngestReport) -> None:
    table = Table(title="Ingest", title_justify="left")
    for column in ("file", "status", "rows kept", "rejected", "points", "billing periods"):
        table.add_column(column, justify="right" if column in ("rows kept", "rejected",
                                                               "points") else "left")
    for f in report.files:
        style = {"failed": "red", "unchanged": "dim"}.get(f.status, "")
        table.add_row(Path(f.path).name, f.status, f"{f.rows_kept:,}", f"{f.rows_rejected:,}",
                      f"{f.points_written:,}", ", ".join(f.billing_periods), style=style)
    console.print(table)
    console.print(
        f"{len(report.files)} file(s): {report.rows_kept:,} rows kept, "
        f"{report.rows_rejected:,} rejected"
    )
    for f in report.files:
        name = Path(f.path).name
        if f.message and f.status == "failed":
            console.print(f"[red]{name}: {f.message}[/red]")
        for reason, count in f.rejected_reasons.items():
            console.print(f"[yellow]{name}: {count:,} row(s) rejected: {reason}[/yellow]")
        for warning, count in f.warnings.items():
            console.print(f"[yellow]{name}: {count:,} row(s) kept as unallocated: {warning}"
                          "[/yellow]")
        if f.quarantine_path:
            console.print(f"  rejected rows, with row numbers and reasons: {f.quarantine_path}")


@app.command()
def costs(
    config: ConfigOption = None,
    project: Annotated[str | None, typer.Option(help="Only this project.")] = None,
    environment: Annotated[str | None, typer.Option(help="Only this environment.")] = None,
    by: Annotated[str, typer.Option(help="service, environment, owner, region, project, "
                                          "category or account.")] = "service",
    last: Annotated[str, typer.Option(help="7d, 30d, 24h or mtd.")] = "7d",
    unallocated: Annotated[bool, typer.Option(
        "--unallocated", help="Share of spend with no project, and where it comes from.")] = False,
    metric: Annotated[str, typer.Option(help="effective (amortised) or billed.")] = "effective",
    as_of: Annotated[datetime | None, typer.Option(
        help="End of the period (UTC); default: the newest hour with data.")] = None,
) -> None:
    """Spend for a period, broken down, with the change against the period before."""
    services = _services(config)
    try:
        with services.engine.connect() as connection:
            first, newest = repo.data_range(connection=connection)
            if newest is None:
                raise UserError("no cost data yet; run `spendwatch ingest PATH` first")
            end = (as_of.replace(tzinfo=as_of.tzinfo or UTC) if as_of
                   else newest + timedelta(hours=1))
            period = reports.period_for(last, as_of=end)
            points = repo.load_points(
                connection=connection, start=period.previous_start, end=period.end,
                project=project, environment=environment,
            )
    finally:
        services.close()
    if unallocated:
        _print_unallocated(points, period)
        return
    summary = reports.summarise(points, period=period, by=by, metric=metric)
    _print_summary(summary, project=project, environment=environment)


def _money(value: float) -> str:
    return f"-${-value:,.2f}" if value < 0 else f"${value:,.2f}"


def _pct(value: float | None) -> str:
    if value is None:
        return "new"
    return f"{value:+.1f}%"


def _print_summary(summary: reports.CostSummary, *, project: str | None,
                   environment: str | None) -> None:
    p = summary.period
    scope = " / ".join(x for x in (project, environment) if x) or "all projects"
    title = (f"{scope}: {p.label} ({p.start:%Y-%m-%d %H:%M} to {p.end:%Y-%m-%d %H:%M} UTC) "
             f"by {summary.by}")
    table = Table(title=title, title_justify="left")
    table.add_column(summary.by)
    for column in ("cost", "previous", "change", "%", "share"):
        table.add_column(column, justify="right")
    for row in summary.rows.itertuples(index=False):
        table.add_row(str(row.key), _money(row.cost), _money(row.previous), _money(row.change),
                      _pct(row.change_pct), f"{row.share:.1f}%")
    table.add_section()
    table.add_row("total", _money(summary.total), _money(summary.previous_total),
                  _money(summary.total - summary.previous_total), _pct(summary.change_pct),
                  "100.0%" if summary.rows.size else "", style="bold")
    console.print(table)
    if summary.rows.empty:
        console.print("no spend in this period for this selection")


def _print_unallocated(points: pd.DataFrame, period: reports.Period) -> None:
    loose, total, detail = reports.unallocated_share(points, period=period)
    share = loose / total * 100 if total else 0.0
    console.print(
        f"[bold]Unallocated spend, {period.label}:[/bold] {_money(loose)} of {_money(total)} "
        f"({share:.1f}%) has no project tag."
    )
    if detail.empty:
        console.print("Every dollar is allocated to a project.")
        return
    table = Table(title="Where the unallocated spend comes from", title_justify="left")
    for column in ("service", "account", "cost"):
        table.add_column(column, justify="right" if column == "cost" else "left")
    for row in detail.head(15).itertuples(index=False):
        table.add_row(row.service_name, row.sub_account_name, _money(row.cost))
    console.print(table)
    console.print("Tag these resources (project, environment, owner) or add an allocation rule "
                  "(allocation.rules in the config) to give the spend an owner.")


@app.command()
def detect(
    config: ConfigOption = None,
    days: Annotated[int, typer.Option(min=3, max=120, help="History to judge against.")] = 28,
) -> None:
    """Anomalies going on now in the stored spend, with their evidence."""
    services = _services(config)
    try:
        events = detect_from_store(engine=services.engine, settings=services.settings, days=days)
    finally:
        services.close()
    _print_anomalies([e.incident for e in events if e.alert])


def _print_anomalies(incidents: list) -> None:  # type: ignore[type-arg]
    if not incidents:
        console.print("No anomalies going on: spend is within what is normal for each workload.")
        return
    for incident in incidents:
        alert = incident.to_alert()
        over = alert["actual_cost"] - alert["expected_cost"]
        pct = over / alert["expected_cost"] * 100 if alert["expected_cost"] else None
        console.rule(f"[bold red]Anomaly {alert['alert_id']}[/bold red]: {escape(incident.project)}"
                     f" / {escape(incident.environment)} ({alert['kind']})")
        console.print(
            f"{_money(alert['impact_usd'])} over expected so far, "
            f"{_money(alert['projected_daily_usd'])} per day if it continues "
            f"({_pct(pct)} over expected this hour: {_money(alert['actual_cost'])} vs "
            f"{_money(alert['expected_cost'])}); since {alert['started_at']}; "
            f"owner {escape(incident.owner)}, phase {incident.phase}."
        )
        table = Table(title="Top contributors", title_justify="left")
        for column in ("service", "delta this hour", "expected", "actual"):
            table.add_column(column, justify="left" if column == "service" else "right")
        for c in alert["top_contributors"]:
            table.add_row(escape(c["service"]), _money(c["impact_usd"]),
                          _money(c["expected_cost"]), _money(c["actual_cost"]))
        console.print(table)
        console.print(f"[dim]Baseline: {alert['baseline']}.[/dim]")


@app.command("replay")
def replay_command(
    source: Annotated[Path, typer.Option("--source", help="FOCUS file or folder to replay.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write alerts (JSON lines).")],
    config: ConfigOption = None,
    from_: Annotated[datetime | None, typer.Option(
        "--from", help="First poll time (UTC, ISO 8601).")] = None,
    to: Annotated[datetime | None, typer.Option("--to", help="Last poll time (UTC).")] = None,
) -> None:
    """Poll the data hour by hour as the scheduler would; write one JSON line per alert."""
    settings = _settings(config)
    result = replay(source, settings, start=_utc(from_), end=_utc(to))
    write_alerts(result.alerts, out)
    console.print(
        f"{result.polls:,} hourly polls over {result.lines} lines: {len(result.alerts)} "
        f"alert(s) written to {out}"
    )


def _utc(value: datetime | None) -> pd.Timestamp | None:
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


@app.command("demo-data")
def demo_data(
    out: Annotated[Path, typer.Argument(help="Folder to write FOCUS files into.")],
    days: Annotated[int, typer.Option(min=2, max=400)] = 28,
    seed: int = 42,
) -> None:
    """Write generated FOCUS demo exports (AI and cloud spend with a seeded incident)."""
    for path in write_demo_data(out, days=days, seed=seed):
        console.print(f"wrote {path}")


@app.command()
def demo(
    workdir: Annotated[Path, typer.Option(help="Where the demo database and data go.")] = Path(
        "."),
) -> None:
    """The main job on embedded defaults: generated FOCUS data, SQLite, console output."""
    data = workdir / "demo-data"
    settings = Settings(
        database_url=f"sqlite:///{(workdir / 'spendwatch-demo.db').resolve()}",
        quarantine_dir=workdir / "quarantine",
    )
    console.rule("spendwatch demo")
    console.print("Generating four weeks of FOCUS exports of AI and cloud spend ...")
    for path in write_demo_data(data, days=28):
        console.print(f"  {path}")
    services = build_services(settings)
    try:
        report = _ingest_with_progress(services, data, currency=None, force=False)
        _print_ingest(report)
        with services.engine.connect() as connection:
            _, newest = repo.data_range(connection=connection)
            assert newest is not None
            period = reports.period_for("7d", as_of=newest + timedelta(hours=1))
            points = repo.load_points(connection=connection, start=period.previous_start,
                                      end=period.end)
    finally:
        services.close()
    _print_summary(reports.summarise(points, period=period, by="project"), project=None,
                   environment=None)
    _print_summary(reports.summarise(points, period=period, by="service"), project=None,
                   environment=None)
    _print_unallocated(points, period)
    console.rule("Anomalies going on now")
    services = build_services(settings)
    try:
        events = detect_from_store(engine=services.engine, settings=settings)
    finally:
        services.close()
    _print_anomalies([e.incident for e in events if e.alert])
    console.rule("done")
    if sys.stdin.isatty():
        console.print("Try: .venv/bin/spendwatch costs --config <your config>  "
                      "(or SPENDWATCH_CONFIG) on your own exports.")


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Apply every pending migration (also done automatically on start)."""
    settings = _settings(config)
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        console.print(f"database at revision {current_revision(engine)}")
    finally:
        engine.dispose()


@db_app.command("current")
def db_current(config: ConfigOption = None) -> None:
    """Show the database's schema revision."""
    settings = _settings(config)
    engine = make_engine(settings.database_url)
    try:
        console.print(current_revision(engine) or "empty (no migrations applied)")
    finally:
        engine.dispose()


@app.command()
def runs(config: ConfigOption = None, limit: int = 20) -> None:
    """Recent ingest runs: file, status, rows kept and rejected."""
    services = _services(config)
    try:
        with session_scope(services.engine) as session:
            rows = repo.list_ingest_runs(db_session=session, limit=limit)
            table = Table(title="Ingest runs", title_justify="left")
            for column in ("id", "file", "status", "kept", "rejected", "points", "finished"):
                table.add_column(column)
            for r in rows:
                table.add_row(str(r.id), Path(r.file_path).name, r.status, f"{r.rows_kept:,}",
                              f"{r.rows_rejected:,}", f"{r.points_written:,}",
                              f"{r.finished_at:%Y-%m-%d %H:%M}" if r.finished_at else "")
    finally:
        services.close()
    console.print(table)


def main() -> None:
    """Entry point: run the app, turning user errors into one clear line and status 2."""
    logging.basicConfig(
        level=os.environ.get("SPENDWATCH_LOG_LEVEL", "WARNING").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        app(standalone_mode=False)
    except (ConfigError, UserError, FocusFileError, reports.ReportError) as exc:
        errors.print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        errors.print("aborted")
        sys.exit(130)
    except Exception as exc:  # click usage errors carry their own message
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise

