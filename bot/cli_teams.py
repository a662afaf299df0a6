"""``spendwatch teams``: the Teams app package, and every card the bot can send, as files.

``teams package`` builds the zip a Teams admin uploads (the manifest checked against
Microsoft's schema first). ``teams cards`` writes each card of a real walk of a sample anomaly
(``bot.teams_samples``) as one JSON file, checking each against the Adaptive Cards 1.5 schema
before it is written: a card that fails stops the command with the file name and the schema's
complaint, so what lands in the folder can be pasted into the designer as it is.
"""

from __future__ import annotations

import json
import os
from importlib import metadata
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from bot.chat.console.render import console
from bot.chat.teams.package import PackageError, build_package, check_bot_id
from bot.chat.teams.schema import validate_card
from bot.cli_errors import fail
from bot.teams_samples import SampleError, sample_cards

__all__ = ["teams_app"]

teams_app = typer.Typer(help="Microsoft Teams: the app package and the cards the bot sends.",
                        no_args_is_help=True)

INDEX = "index.json"


@teams_app.command("package")
def package(
    out: Annotated[Path, typer.Option(help="Where to write the zip.")] = Path(
        "spendwatch-teams.zip"),
    app_id: Annotated[str | None, typer.Option(
        "--app-id", help="The Azure Bot registration's Microsoft App ID (a GUID); default: "
                         "$TEAMS_CLIENT_ID.")] = None,
    domain: Annotated[list[str] | None, typer.Option(
        "--domain", help="The bot's public host name, e.g. spendwatch.example.com "
                         "(repeat for more); listed as a valid domain.")] = None,
    website_url: Annotated[str | None, typer.Option(
        help="The publisher's https link shown in Teams (default: https://<first domain>).")
    ] = None,
) -> None:
    """Build the Teams app package: manifest.json (schema 1.19, checked) and the two icons."""
    source = "--app-id" if app_id is not None else "TEAMS_CLIENT_ID"
    try:
        bot_id = check_bot_id(app_id if app_id is not None else os.environ.get("TEAMS_CLIENT_ID"),
                              source=source)
        manifest = build_package(out, bot_id=bot_id, version=metadata.version("spendwatch"),
                                 domains=domain or (), website_url=website_url)
    except PackageError as exc:
        raise fail(str(exc)) from None
    console.print(f"Wrote {escape(str(out))}: manifest {manifest['manifestVersion']} for bot "
                  f"{bot_id}, app version {manifest['version']}, app id {manifest['id']}.",
                  highlight=False)
    console.print("Upload it in Teams: Apps → Manage your apps → Upload an app.", highlight=False)


@teams_app.command("cards")
def cards(
    out: Annotated[Path, typer.Option(help="The folder to write the cards to (created).")],
) -> None:
    """Write every card the bot can send for a sample anomaly, one JSON file each, plus
    index.json. Takes a few seconds: the demo data is ingested and the anomaly walked."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise fail(f"cannot create {out}: {exc.strerror or exc}") from None
    try:
        drawn = sample_cards()
    except SampleError as exc:
        raise fail(str(exc)) from None
    index = []
    for sample in drawn:
        name = f"{sample.name}.json"
        problems = validate_card(sample.card)
        if problems:
            raise fail(f"{name} does not pass the Adaptive Cards 1.5 schema: {problems[0]}"
                        + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
        text = json.dumps(sample.card, indent=2, ensure_ascii=False) + "\n"
        (out / name).write_text(text, encoding="utf-8")
        index.append({"file": name, "shows": sample.about, "bytes": len(text.encode())})
    (out / INDEX).write_text(json.dumps({"cards": index}, indent=2, ensure_ascii=False) + "\n",
                             encoding="utf-8")
    console.print(f"Wrote {len(index)} cards and {INDEX} to {escape(str(out))}; each passes the "
                  "Adaptive Cards 1.5 schema (card-level msteams set aside).", highlight=False)


@teams_app.command("conversations")
def conversations(
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", help="YAML config file (default: $SPENDWATCH_CONFIG).")] = None,
) -> None:
    """The Teams conversations the bot was added to or heard from: the ids routing.teams
    takes, and what each is routed as now."""
    from rich.table import Table

    from bot.chat.enums import Platform
    from bot.outbox.conversations import ConversationBook
    from bot.settings import load_settings
    from bot.wiring import build_services

    services = build_services(load_settings(config))
    try:
        rows = ConversationBook(services.engine, platform=Platform.TEAMS).conversations()
    finally:
        services.close()
    if not rows:
        console.print("The bot has not been added to any Teams conversation yet (or has not "
                      "run with Teams since): add the app to a team, channel or chat.",
                      highlight=False)
        return
    routing = services.settings.routing.teams
    table = Table("conversation id", "kind", "name", "bot in it", "routed as")
    for row in rows:
        roles = [f"owner {owner}" for owner, mapped in routing.owners.items()
                 if mapped == row.conversation_id]
        roles += [role for role, mapped in (("default", routing.default),
                                            ("escalation", routing.escalation))
                  if mapped == row.conversation_id]
        table.add_row(escape(row.conversation_id), escape(row.kind or "?"),
                      escape(row.name or ""), "yes" if row.installed else "no",
                      escape(", ".join(roles) or "-"))
    console.print(table)
