"""The ``spendwatch`` command (also ``python -m bot``).

Every command loads the config once (``--config`` or ``$SPENDWATCH_CONFIG``, else the built-in
defaults), builds the services, and brings the database schema up to date. Errors a user can
cause are printed as one clear message and exit with status 2; no traceback.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from bot import render, reports
from bot.demodata import write_demo_data
from bot.ingest import IngestReport, ingest_path
from bot.pipeline import poll_store
from bot.playbook import PlaybookError
from bot.render import console, errors
from bot.replay import replay, write_alerts
from bot.responses import ResponseError
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
    billing_account: Annotated[
        str | None, typer.Option(help="Billing account of files that have no BillingAccountId "
                                      "column (it scopes what a re-delivery replaces).")
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Re-read files seen before, and accept a re-delivery much "
                                "smaller than the one it replaces.")
    ] = False,
) -> None:
    """Ingest FOCUS exports: a re-delivered billing period replaces the earlier one.

    Exits 1 when a file failed or a re-delivery was held back.
    """
    services = _services(config)
    try:
        report = _ingest_with_progress(services, path, currency=currency, force=force,
                                       billing_account=billing_account)
    finally:
        services.close()
    render.print_ingest(report)
    if not report.ok:
        raise typer.Exit(1)


def _ingest_with_progress(
    services: Services, path: Path, *, currency: str | None, force: bool,
    billing_account: str | None = None,
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
            default_currency=currency, default_account=billing_account, force=force,
            progress=update,
        )


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
        render.print_unallocated(points, period)
        return
    summary = reports.summarise(points, period=period, by=by, metric=metric)
    render.print_summary(summary, project=project, environment=environment)


@app.command()
def detect(
    config: ConfigOption = None,
    days: Annotated[int, typer.Option(min=3, max=120, help="History to judge against.")] = 28,
) -> None:
    """Judge the hours that arrived since the last run; show the anomalies going on now."""
    services = _services(config)
    try:
        result = poll_store(engine=services.engine, settings=services.settings, days=days)
    finally:
        services.close()
    news = {e.incident.id for e in result.events if e.alert and e.kind in ("opened", "reopened")}
    console.print(f"Judged {result.judged_hours} new hour(s); {len(news)} new or re-opened "
                  f"anomaly(ies).")
    render.print_anomalies(result.open)


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
    if result.rejected_rows:
        errors.print(
            f"[yellow]{result.rejected_rows:,} row(s) could not be used and were left out; "
            f"`spendwatch ingest {escape(str(source))}` lists them with reasons.[/yellow]"
        )


def _utc(value: datetime | None) -> pd.Timestamp | None:
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


@app.command("demo-data")
def demo_data(
    out: Annotated[Path, typer.Argument(help="Folder to write FOCUS files into.")],
    days: Annotated[int, typer.Option(min=14, max=400)] = 28,
    seed: Annotated[int, typer.Option(help="Picks the levels and places the incidents.")] = 42,
    start: Annotated[str | None, typer.Option(
        help="First hour of the data (UTC, ISO 8601); default: the data ends now.")] = None,
    kinds: Annotated[str | None, typer.Option(
        help="Comma-separated incident kinds (default: the seven classic ones).")] = None,
) -> None:
    """Write generated FOCUS demo exports and labels.json (AI and cloud spend, seeded incidents)."""
    first = None
    if start is not None:
        try:
            first = datetime.fromisoformat(start)
        except ValueError:
            raise UserError(f"--start: not an ISO 8601 time: {start!r}") from None
    chosen = [k.strip() for k in kinds.split(",")] if kinds else None
    try:
        paths = write_demo_data(out, days=days, seed=seed, start=first, kinds=chosen)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    for path in paths:
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
        render.print_ingest(report)
        with services.engine.connect() as connection:
            _, newest = repo.data_range(connection=connection)
            assert newest is not None
            period = reports.period_for("7d", as_of=newest + timedelta(hours=1))
            points = repo.load_points(connection=connection, start=period.previous_start,
                                      end=period.end)
    finally:
        services.close()
    render.print_summary(reports.summarise(points, period=period, by="project"), project=None,
                   environment=None)
    render.print_summary(reports.summarise(points, period=period, by="service"), project=None,
                   environment=None)
    render.print_unallocated(points, period)
    console.rule("What hourly detection caught over these four weeks")
    labels_path = data / "labels.json"
    labels = json.loads(labels_path.read_text()) if labels_path.exists() else None
    render.print_replay(replay(data, settings).alerts, labels)
    console.rule("Anomalies going on now")
    services = build_services(settings)
    try:
        result = poll_store(engine=services.engine, settings=settings)
    finally:
        services.close()
    render.print_anomalies(result.open)
    if result.open:
        _demo_chat_loop(settings, result.open, workdir)
    console.rule("done")
    if sys.stdin.isatty():
        console.print("Try: .venv/bin/spendwatch costs --config <your config>  "
                      "(or SPENDWATCH_CONFIG) on your own exports.")


def _demo_chat_loop(settings: Settings, incidents: list, workdir: Path) -> None:
    """The whole loop in the console chat: alert, acknowledge, the playbook, the runbook."""
    from bot.chat.console import run_console_loop
    from storage.chatops import get_anomaly

    live = max(incidents, key=lambda incident: incident.impact_usd)
    console.rule("The alert in the owner's channel, and the playbook walk (console chat)")
    services = build_services(settings)
    try:
        with session_scope(services.engine) as session:
            stored = get_anomaly(db_session=session, anomaly_id=live.id)
            response = stored.response if stored else "none"
        if response != "none":
            console.print(f"This anomaly was already {response} in an earlier demo run (see "
                          f"its runbook with --workdir pointing elsewhere for a fresh walk).")
            return
        run_console_loop(services=services, anomaly_id=live.id, console=console,
                         interactive=sys.stdin.isatty(), chart_dir=workdir)
    finally:
        services.close()


@app.command()
def run(
    config: ConfigOption = None,
    port: Annotated[int, typer.Option(help="HTTP mode: port for /slack/events and /healthz.")
                    ] = 3000,
    host: Annotated[str, typer.Option(help="HTTP mode: address to listen on.")] = "0.0.0.0",
) -> None:
    """Run the scheduler and the chat side: Slack (Socket Mode or HTTP) or the console."""
    import signal
    import threading

    from bot.runner import Runtime, choose_mode

    mode = choose_mode(os.environ)
    services = _services(config)
    runtime = Runtime(services, mode, port=port, host=host)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        runtime.start()
        where = f" on port {runtime.http_port}" if mode.name == "http" else ""
        console.print(f"spendwatch is running ({mode.name} mode{where}); polling every "
                      f"{services.settings.schedule.poll_minutes} min. Ctrl-C stops it.")
        stop.wait()
    finally:
        runtime.stop()
        services.close()


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
        app()  # typer reports usage errors itself (exit status 2)
    except (ConfigError, UserError, FocusFileError, reports.ReportError, PlaybookError,
            ResponseError) as exc:
        errors.print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(2)

