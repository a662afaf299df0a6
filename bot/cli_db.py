"""`spendwatch db upgrade|current` (the schema) and `spendwatch runs` (recent ingest runs)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from bot.chat.console.render import console
from bot.cli_options import ConfigOption
from bot.settings import load_settings
from bot.wiring import build_services
from storage import queries
from storage.db import current_revision, make_engine, session_scope, upgrade

__all__ = ["db_app", "runs_command"]

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


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
