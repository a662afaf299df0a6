"""``spendwatch runbook``: the runbooks the team wrote, as files to keep beside the code."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from bot.anomaly.runbook_export import export_runbooks
from bot.chat.console.render import console, errors
from bot.settings import load_settings
from bot.wiring import build_services
from storage.db import session_scope

__all__ = ["runbook_app"]

runbook_app = typer.Typer(help="Runbooks: what the team learned from each incident.",
                          no_args_is_help=True)


@runbook_app.command("export")
def export(
    out: Annotated[Path, typer.Option("--out", help="Folder for the Markdown files.")],
    project: Annotated[str | None, typer.Option(help="Only this project's workloads.")] = None,
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", help="YAML config file (default: $SPENDWATCH_CONFIG).")] = None,
) -> None:
    """One Markdown file per workload (project, environment, service), newest entry first."""
    if out.exists() and not out.is_dir():
        errors.print(f"[red]error:[/red] --out {escape(str(out))} is a file; give a folder",
                     highlight=False)
        raise typer.Exit(2)
    services = build_services(load_settings(config))
    try:
        with session_scope(services.engine) as session:
            written = export_runbooks(db_session=session, out=out, project=project,
                                      exported=datetime.now(UTC))
    except OSError as exc:
        errors.print(f"[red]error:[/red] {escape(str(out))}: cannot be written "
                     f"({escape(exc.strerror or str(exc))}); choose a folder you can write to",
                     highlight=False)
        raise typer.Exit(2) from None
    finally:
        services.close()
    if not written:
        scope = f" of project {project}" if project else ""
        console.print(f"No runbook entries{escape(scope)} yet: one is filed when a playbook "
                      f"walk ends.", highlight=False)
        return
    console.print(f"{len(written)} runbook file(s) in {escape(str(out))}:", highlight=False)
    for path in written:
        console.print(f"  {escape(path.name)}", highlight=False)
