"""The ``spendwatch`` command (also ``python -m bot``).

Every command loads the config once (``--config`` or ``$SPENDWATCH_CONFIG``, else the built-in
defaults), builds the services, and brings the database schema up to date. Errors a user can
cause are printed as one clear message and exit with status 2; no traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

import bot
from bot.anomaly.enums import EventKind
from bot.anomaly.lifecycle import Incident
from bot.anomaly.plans import apply_plans
from bot.anomaly.poll import poll_store
from bot.anomaly.replay import OutputError, check_output, replay, write_alerts
from bot.chat.console import render
from bot.chat.console.render import console, errors
from bot.cli_db import db_app, runs_command
from bot.cli_digest import digest_command
from bot.cli_errors import say
from bot.cli_feedback import feedback_app
from bot.cli_finance import budgets_command, showback_command
from bot.cli_options import ConfigOption
from bot.cli_plans import plans_app, stored_plans
from bot.cli_playbooks import playbooks_app
from bot.cli_report import report_command
from bot.cli_run import demo_command, run_command
from bot.cli_runbook import runbook_app
from bot.cli_teams import teams_app
from bot.costs import report as cost_report
from bot.demodata import write_demo_data
from bot.errors import USER_ERRORS, UserError, user_message
from bot.ingest.poll import read_sources
from bot.ingest.service import IngestReport, ingest_path, ingest_source
from bot.ingest.sources.config import FocusSourceSettings
from bot.ingest.status import print_outcomes, print_status, source_status, status_json
from bot.logs import LogFormat, configure_logging
from bot.secret_files import load_secret_files
from bot.settings import Settings, load_settings
from bot.wiring import Services, build_services
from storage import queries
from storage.db import session_scope
from storage.timeutil import as_utc

__all__ = ["app", "main"]

app = typer.Typer(
    help="spendwatch: hourly anomaly management of AI and cloud spend, in chat.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # -h as well as --help, on every command; plain help lists flags as flags (rich help
    # would print a <bool> type beside each of them)
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)
app.add_typer(db_app, name="db")
app.command("runs")(runs_command)
app.add_typer(teams_app, name="teams")
app.add_typer(playbooks_app, name="playbooks")
app.add_typer(plans_app, name="plans")
app.add_typer(runbook_app, name="runbook")
app.add_typer(feedback_app, name="feedback")
app.command("showback")(showback_command)
app.command("budgets")(budgets_command)
app.command("report")(report_command)
app.command("digest")(digest_command)
app.command("demo")(demo_command)
app.command("run")(run_command)


def _print_version(value: bool) -> None:
    if value:
        try:
            version = metadata.version("spendwatch")
        except metadata.PackageNotFoundError:  # run from a source tree that was not installed
            version = bot.__version__
        console.print(f"spendwatch {version}", highlight=False)
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True, help="Print the version and exit.",
    )] = False,
    log_format: Annotated[LogFormat, typer.Option(
        "--log-format", envvar="SPENDWATCH_LOG_FORMAT", case_sensitive=False,
        help="Log lines as text, or as one JSON object a line (time, level, logger, message, "
             "exception).",
    )] = LogFormat.TEXT,
) -> None:
    configure_logging(level=_log_level(), fmt=log_format)


def _log_level() -> str:
    return os.environ.get("SPENDWATCH_LOG_LEVEL", "WARNING")



def _settings(config: Path | None) -> Settings:
    return load_settings(config)


def _services(config: Path | None) -> Services:
    return build_services(_settings(config))


@app.command()
def ingest(
    path: Annotated[str | None, typer.Argument(
        help="A FOCUS file (.csv, .csv.gz, .parquet) or folder, or an object-store prefix "
             "(s3://, gs://, az://). Without it, every source under sources: in the config is "
             "read once, from where it stands.")] = None,
    config: ConfigOption = None,
    currency: Annotated[
        str | None, typer.Option(help="Currency of files that have no BillingCurrency column.")
    ] = None,
    billing_account: Annotated[
        str | None, typer.Option(help="Billing account of files that have no BillingAccountId "
                                      "column (it scopes what a re-delivery replaces).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Re-read files seen before, and accept a "
                           "re-delivery much smaller than the one it replaces.")
    ] = False,
) -> None:
    """Ingest FOCUS exports, or read every configured source once.

    A re-delivered billing period replaces the earlier one; a source read by window (an API,
    a warehouse) replaces its hours from the window's start. Exits 1 when a file or a source
    failed or a re-delivery was held back.
    """
    if path is None:
        _ingest_sources(config, currency=currency, billing_account=billing_account)
        return
    services = _services(config)
    try:
        report = _ingest_with_progress(services, path, currency=currency, force=force,
                                       billing_account=billing_account)
    finally:
        services.close()
    render.print_ingest(report)
    if not report.ok:
        raise typer.Exit(1)


def _ingest_sources(config: Path | None, *, currency: str | None,
                    billing_account: str | None) -> None:
    if currency or billing_account:
        raise UserError("--currency and --billing-account apply to a PATH given on the command "
                        "line; for configured sources set sources[].currency in the config")
    services = _services(config)
    try:
        if not services.settings.sources:
            raise UserError("no sources are configured: add them under sources: in the config "
                            "(see README, Sources), or give a PATH to ingest")
        outcomes = read_sources(engine=services.engine, settings=services.settings,
                                respect_backoff=False)
    finally:
        services.close()
    print_outcomes(console, outcomes)
    if not all(o.ok for o in outcomes):
        raise typer.Exit(1)


@app.command()
def sources(
    config: ConfigOption = None,
    output_format: Annotated[str, typer.Option(
        "--format", help="table or json (to stdout).")] = "table",
) -> None:
    """Each source's status: last success, rows, newest data and lag, last error."""
    if output_format not in ("table", "json"):
        raise UserError(f"--format {output_format!r}: use table or json")
    services = _services(config)
    try:
        with session_scope(services.engine) as session:
            statuses = source_status(db_session=session, settings=services.settings)
    finally:
        services.close()
    if output_format == "json":
        typer.echo(status_json(statuses))
    else:
        print_status(console, statuses)


def _ingest_with_progress(
    services: Services, path: str, *, currency: str | None, force: bool,
    billing_account: str | None = None,
) -> IngestReport:
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
        TimeRemainingColumn(), console=errors, transient=True, disable=not errors.is_terminal,
    )
    tasks: dict[str, TaskID] = {}

    def update(name: str, done: int, total: int) -> None:
        if name not in tasks:
            tasks[name] = progress.add_task(name, total=total)
        progress.update(tasks[name], completed=done)

    source = FocusSourceSettings(path=path, currency=currency)
    if source.is_remote and billing_account:
        raise UserError("--billing-account applies to local files; an object-store export "
                        "carries BillingAccountId in its rows")
    with progress:
        if source.is_remote:
            return ingest_source(engine=services.engine, settings=services.settings,
                                 source=source, force=force, progress=update)
        return ingest_path(
            engine=services.engine, settings=services.settings, path=Path(path),
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
    last: Annotated[str | None, typer.Option(
        help="7d, 30d, 24h or mtd, ending at the newest hour with data (default 7d).")] = None,
    start: Annotated[str | None, typer.Option(
        help="First hour, ISO 8601 (UTC unless an offset is given), e.g. 2024-09-01.")] = None,
    end: Annotated[str | None, typer.Option(
        help="End, exclusive: --start 2024-09-01 --end 2024-10-01 is September "
             "(default: after the newest hour with data).")] = None,
    unallocated: Annotated[bool, typer.Option(
        "--unallocated", help="Share of spend with no project, and where it comes from.")] = False,
    metric: Annotated[str, typer.Option(help="effective (amortised) or billed.")] = "effective",
    as_of: Annotated[datetime | None, typer.Option(
        help="End of the --last period (UTC); default: the newest hour with data.")] = None,
    top: Annotated[int, typer.Option(
        help="Rows a table shows; the rest are summed in one line.")] = render.TOP_ROWS,
    output_format: Annotated[str, typer.Option(
        "--format", help="table, json or csv (every row, no total; to stdout).")] = "table",
) -> None:
    """Spend for a period, broken down, with the change against the period before.

    The total counts every dollar of the period whatever the breakdown; credits, purchases,
    tax and adjustments are listed apart from usage. The previous period has the same length.
    """
    cost_report.check_options(fmt=output_format, top=top, unallocated=unallocated,
                              project=project)
    services = _services(config)
    try:
        with services.engine.connect() as connection:
            report = cost_report.load(
                connection=connection, by=by, metric=metric, unallocated=unallocated,
                project=project, environment=environment, last=last, start=start, end=end,
                as_of=as_of, pools=services.settings.showback.shared)
    finally:
        services.close()
    cost_report.show(report, fmt=output_format, project=project, environment=environment,
                     top=top)


@app.command()
def detect(
    config: ConfigOption = None,
    days: Annotated[int, typer.Option(min=3, max=120, help="History to judge against.")] = 28,
) -> None:
    """Judge the hours that arrived since the last run; show the anomalies going on now."""
    services = _services(config)
    try:
        result = poll_store(engine=services.engine, settings=services.settings, days=days)
        with session_scope(services.engine) as session:  # as `run` judges them before posting
            planned = apply_plans(db_session=session, anomaly_ids=[i.id for i in result.open],
                                  now=datetime.now(UTC))
        posted = _posted_to(services, result.open)
    finally:
        services.close()
    news = {e.incident.id for e in result.events
            if e.alert and e.kind in (EventKind.OPENED, EventKind.REOPENED)}
    console.print(f"Judged {result.judged_hours} new hour(s); {len(news)} new or re-opened "
                  f"anomaly(ies); {len(result.open)} going on now.")
    render.print_anomalies(result.open)
    _print_posted([i for i in result.open if i.id not in planned], posted)
    if planned:
        held = ", ".join(f"swa-{i}" for i in sorted(planned))
        console.print(f"Inside a plan, so not posted: {held} (`spendwatch plans list`).")


def _posted_to(services: Services, incidents: list[Incident]) -> dict[int, list[str]]:
    """The chat platforms each incident's alert was queued for (``spendwatch run`` does it)."""
    with session_scope(services.engine) as session:
        return {i.id: sorted(a.platform for a in queries.outbox.alerts_of(db_session=session,
                                                                          anomaly_id=i.id))
                for i in incidents}


def _print_posted(incidents: list[Incident], posted: dict[int, list[str]]) -> None:
    waiting = [f"swa-{i.id}" for i in incidents if not posted.get(i.id)]
    sent = [f"swa-{i.id} ({', '.join(posted[i.id])})" for i in incidents if posted.get(i.id)]
    if sent:
        console.print(f"Posted to chat: {', '.join(sent)}.")
    if waiting:
        them = "it to the owner's channel" if len(waiting) == 1 else "them to the owners' channels"
        console.print(f"Not posted to chat yet: {', '.join(waiting)}; `spendwatch run` posts "
                      f"{them}.")


@app.command("replay")
def replay_command(
    source: Annotated[Path, typer.Option("--source", help="FOCUS file or folder to replay.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write alerts (JSON lines).")],
    config: ConfigOption = None,
    from_: Annotated[datetime | None, typer.Option(
        "--from", help="First poll time (UTC, ISO 8601).")] = None,
    to: Annotated[datetime | None, typer.Option("--to", help="Last poll time (UTC).")] = None,
) -> None:
    """Poll the data hour by hour as the scheduler would; write one JSON line per alert and
    per budget threshold crossed (budgets: from the config). With a config, the plans in its
    database are honoured: an incident inside one is a "suppressed" line, not an alert."""
    start, end = _utc(from_), _utc(to)
    if start is not None and end is not None and start > end:
        raise UserError(f"--from {start.isoformat()} is later than --to {end.isoformat()}; "
                        f"give the earlier time to --from")
    try:
        check_output(out)  # before the long part, not after it
        settings = _settings(config)
        plans = stored_plans(settings) if config or os.environ.get("SPENDWATCH_CONFIG") else []
        result = replay(source, settings, start=start, end=end, plans=plans)
        write_alerts(result.records(), out)
    except OutputError as exc:
        raise UserError(f"--out {exc}") from None
    console.print(
        f"{result.polls:,} hourly polls over {result.lines} lines: {len(result.alerts)} "
        f"alert(s) and {len(result.budget_alerts)} budget threshold(s) crossed written to {out}"
    )
    if plans:
        exceeded = sum(1 for a in result.alerts if "plan_exceeded_usd" in a)
        console.print(f"{len(result.suppressed)} incident(s) inside plans (not alerted), "
                      f"{exceeded} alert(s) past a plan's envelope; {len(plans)} plan(s) "
                      f"honoured", highlight=False)
    if result.rejected_rows:
        say(f"{result.rejected_rows:,} row(s) could not be used and were left out; "
            f"`spendwatch ingest {source}` lists them with reasons.", level=logging.WARNING)


def _utc(value: datetime | None) -> pd.Timestamp | None:
    return None if value is None else pd.Timestamp(as_utc(value))


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


def main() -> None:
    """Entry point: run the app, turning user errors into one clear line and status 2."""
    try:
        configure_logging(level=_log_level(),
                          fmt=os.environ.get("SPENDWATCH_LOG_FORMAT") or LogFormat.TEXT)
    except ValueError as exc:
        errors.print(f"[red]error:[/red] {escape(str(exc))} (SPENDWATCH_LOG_LEVEL, "
                     "SPENDWATCH_LOG_FORMAT)", highlight=False, soft_wrap=True)
        sys.exit(2)
    try:
        load_secret_files()  # NAME_FILE -> NAME, before anything reads the environment
        app()  # typer reports usage errors itself (exit status 2)
    except USER_ERRORS as exc:
        say(user_message(exc))
        sys.exit(2)

