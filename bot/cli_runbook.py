"""``spendwatch runbook``: the runbooks the team wrote, as files to keep beside the code; and
corrections of an entry (``edit``), which keep every earlier version (``history``).

``edit`` runs as the person named by ``--by``, held to the same rule as a click in chat: they
must be allowed to act on the workload the entry was filed for (``routing.responders``,
``routing.finops``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from bot.anomaly.access import NothingChanged, ResponseError
from bot.anomaly.runbook_export import export_runbooks
from bot.anomaly.runbooks import edit_entry, entry_history
from bot.chat.console.render import console
from bot.chat.text import when
from bot.cli_errors import fail
from bot.cli_options import ConfigOption
from bot.settings import load_settings
from bot.wiring import build_services
from storage.db import session_scope

__all__ = ["runbook_app"]

runbook_app = typer.Typer(help="Runbooks: what the team learned from each incident.",
                          no_args_is_help=True)

EntryArgument = Annotated[int, typer.Argument(
    help="The entry's number (shown by `runbook export` and `runbook history`).", min=1)]


@runbook_app.command("export")
def export(
    out: Annotated[Path, typer.Option("--out", help="Folder for the Markdown files.")],
    project: Annotated[str | None, typer.Option(help="Only this project's workloads.")] = None,
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", help="YAML config file (default: $SPENDWATCH_CONFIG).")] = None,
) -> None:
    """One Markdown file per workload (project, environment, service), newest entry first."""
    if out.exists() and not out.is_dir():
        raise fail(f"--out {out} is a file; give a folder")
    services = build_services(load_settings(config))
    try:
        with session_scope(services.engine) as session:
            written = export_runbooks(db_session=session, out=out, project=project,
                                      exported=datetime.now(UTC))
    except OSError as exc:
        raise fail(f"{out}: cannot be written ({exc.strerror or exc}); choose a folder you "
                   "can write to") from None
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


@runbook_app.command("edit")
def edit(
    entry_id: EntryArgument,
    by: Annotated[str, typer.Option("--by", help="Who is editing (a chat user id or name).")],
    root_cause: Annotated[str | None, typer.Option("--root-cause", help="The new root cause.")
                          ] = None,
    fix: Annotated[str | None, typer.Option("--fix", help="The new fix.")] = None,
    prevention: Annotated[str | None, typer.Option("--prevention",
                                                   help="The new prevention (\"\" clears it).")
                          ] = None,
    config: ConfigOption = None,
) -> None:
    """Correct a runbook entry; the text it replaces is kept as an earlier version."""
    services = build_services(load_settings(config))
    try:
        with session_scope(services.engine) as session:
            entry = edit_entry(db_session=session, settings=services.settings,
                               entry_id=entry_id, user=by, now=datetime.now(UTC),
                               root_cause=root_cause, fix=fix, prevention=prevention)
            version = entry.version
    except NothingChanged as exc:
        console.print(escape(str(exc)), highlight=False)
        return
    except ResponseError as exc:
        raise fail(str(exc)) from None
    finally:
        services.close()
    console.print(f"Runbook entry {entry_id} is now v{version}, edited by {escape(by.strip())}. "
                  f"Earlier versions: spendwatch runbook history {entry_id}", highlight=False)


@runbook_app.command("history")
def history(entry_id: EntryArgument, config: ConfigOption = None) -> None:
    """An entry as it reads now, then every earlier version, newest first."""
    services = build_services(load_settings(config))
    try:
        with session_scope(services.engine) as session:
            found = entry_history(db_session=session, entry_id=entry_id)
    except ResponseError as exc:
        raise fail(str(exc)) from None
    finally:
        services.close()
    view = found.view
    where = " · ".join(escape(part) for part in found.workload if part)
    incident = f" · incident #{found.anomaly_id}" if found.anomaly_id else ""
    console.print(f"[bold]Runbook entry {entry_id}[/bold]: {where}{incident}", highlight=False)
    edited = (f", edited by {escape(view.updated_by)} on {when(view.updated_at)}"
              if view.updated_by and view.updated_at else "")
    console.print(f"\n[bold]v{view.version}[/bold] (now{edited}; filed by "
                  f"{escape(view.author)} on {when(view.created_at)})", highlight=False)
    _texts(view.root_cause, view.fix, view.prevention)
    for old in view.earlier:
        console.print(f"\n[bold]v{old.version}[/bold] (by {escape(old.author)}, "
                      f"{when(old.written_at)})", highlight=False)
        _texts(old.root_cause, old.fix, old.prevention)
    if not view.earlier:
        console.print("\nNo earlier versions: the entry was never edited.", highlight=False)


def _texts(root_cause: str, fix: str, prevention: str) -> None:
    for label, text in (("Root cause", root_cause), ("Fix", fix), ("Prevention", prevention)):
        if text.strip():
            console.print(f"  {label}: {escape(text)}", highlight=False)
