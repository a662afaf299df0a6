"""`spendwatch db upgrade|current` (the schema), `spendwatch db prune` (retention: hourly
points rolled up to daily, ``bot.retention``) and `spendwatch runs` (recent ingest runs)."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bot.chat.console.render import console
from bot.cli_options import ConfigOption
from bot.errors import UserError
from bot.retention.prune import prune
from bot.settings import load_settings
from bot.wiring import build_services
from storage import queries
from storage.db import current_revision, make_engine, session_scope, upgrade

__all__ = ["db_app", "runs_command"]

db_app = typer.Typer(help="Database schema and retention.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Apply every pending migration (also done automatically on start)."""
    settings = load_settings(config)
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        console.print(f"database at revision {current_revision(engine)}")
    finally:
        engine.dispose()


@db_app.command("current")
def db_current(config: ConfigOption = None) -> None:
    """Show the database's schema revision."""
    settings = load_settings(config)
    engine = make_engine(settings.database_url)
    try:
        console.print(current_revision(engine) or "empty (no migrations applied)")
    finally:
        engine.dispose()


@db_app.command("prune")
def db_prune(
    config: ConfigOption = None,
    older_than: Annotated[int | None, typer.Option(
        "--older-than", help="Roll up hourly points older than this many days (default: "
                             "retention.hourly_days from the config).")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Count what would be rolled up; change nothing.")] = False,
) -> None:
    """Roll hourly points older than the retention age up to one point per day."""
    settings = load_settings(config)
    days = older_than if older_than is not None else settings.retention.hourly_days
    if days is None:
        raise UserError("retention is off: set retention.hourly_days in the config, or pass "
                        "--older-than DAYS")
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        try:
            result = prune(engine=engine, older_than_days=days, actor=_actor(),
                           dry_run=dry_run, overlaps_hours=settings.window_overlaps_hours())
        except ValueError as exc:
            raise UserError(f"--older-than {days}: {exc}") from None
    finally:
        engine.dispose()
    console.print(result.summary())
    if result.skipped:
        raise typer.Exit(1)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return "cli"


def runs_command(config: ConfigOption = None, limit: int = 20) -> None:
    """Recent ingest runs: file, status, rows kept and rejected."""
    services = build_services(load_settings(config))
    try:
        with session_scope(services.engine) as session:
            rows = queries.runs.list_ingest_runs(db_session=session, limit=limit)
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
