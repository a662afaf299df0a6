"""``spendwatch digest``: the weekly finance digest in the terminal, or queued to chat.

Without ``--send`` it prints the digest of the week ending at ``--week-ending`` (default: the
newest configured digest hour, ``finance.digest.day`` at ``hour`` UTC) and writes its chart
to ``--chart``. With ``--send`` it queues it to the finance channel of each platform the bot
runs on (chosen from the environment as ``spendwatch run`` chooses), once per week: a week
already queued, by the scheduler or an earlier ``--send``, is not queued again. The running
bot's outbox sends it.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from bot.anomaly.service import default_playbook
from bot.chat.console.render import console
from bot.chat.enums import Platform
from bot.cli_errors import fail
from bot.costs.periods import ReportError, parse_moment
from bot.finance.digest import DigestError
from bot.finance.digest_send import last_digest_hour, queue_digest
from bot.finance.digest_view import show_digest
from bot.runner import Mode, choose_mode
from bot.settings import load_settings
from bot.wiring import build_services
from storage.db import session_scope

__all__ = ["digest_command", "platforms_of"]


def platforms_of(mode: Mode) -> tuple[str, ...]:
    """The chat platforms a ``spendwatch run`` in ``mode`` sends to."""
    slack = {"http": (Platform.SLACK,), "socket": (Platform.SLACK,),
             "console": (Platform.CONSOLE,)}.get(mode.name, ())
    return (*slack, *((Platform.TEAMS,) if mode.teams is not None else ()))


def digest_command(
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", help="YAML config file (default: $SPENDWATCH_CONFIG).")] = None,
    week_ending: Annotated[str | None, typer.Option(
        "--week-ending", help="The end of the week, ISO 8601 on the hour, UTC (default: the "
                              "newest finance.digest day and hour).")] = None,
    send: Annotated[bool, typer.Option(
        "--send", help="Queue it to the finance channel of each chat platform, once per "
                       "week, instead of printing it.")] = False,
    chart: Annotated[Path, typer.Option(
        help="Where the printed digest's chart (PNG) is written.")] = Path("digest-chart.png"),
) -> None:
    """The weekly finance digest: spend against budget, anomalies, time to act, savings."""
    now = datetime.now(UTC)
    settings = load_settings(config)
    try:
        ending = (parse_moment(week_ending, option="--week-ending") if week_ending
                  else last_digest_hour(settings, now))
    except ReportError as exc:
        raise fail(str(exc)) from None
    if ending > now:
        raise fail(f"--week-ending {ending:%Y-%m-%dT%H:%MZ} is in the future; give a moment "
                    f"at or before now ({now:%Y-%m-%dT%H:00Z})")
    platforms = platforms_of(choose_mode(os.environ)) if send else ()
    if send and not platforms:
        raise fail("no chat platform is configured (set SLACK_BOT_TOKEN or the Teams "
                    "credentials as for `spendwatch run`); nothing was queued")
    what_changed = default_playbook(settings).resolution.what_changed
    services = build_services(settings)
    try:
        if not send:
            show_digest(engine=services.engine, settings=settings, console=console,
                        week_ending=ending, chart_path=chart, what_changed=what_changed)
            return
        with session_scope(services.engine) as session:
            queued = queue_digest(db_session=session, settings=settings, week_ending=ending,
                                  platforms=platforms, now=now, what_changed=what_changed)
    except DigestError as exc:
        raise fail(str(exc)) from None
    finally:
        services.close()
    digest = queued.digest
    if queued.already_sent:
        console.print(f"The digest {digest.key} was queued before; not queued again.",
                      highlight=False)
    else:
        console.print(f"The digest {digest.key} is queued for {', '.join(queued.platforms)}; "
                      f"the running bot sends it.", highlight=False)
