"""The console chat: alerts, thread replies and the playbook walk in a terminal, without Slack.

Why: ``make demo`` and anyone trying the bot without a workspace should see the same loop a
team sees in Slack: the alert posted to the owner's channel and updated in place as people act,
a thread reply per action, the playbook answered step by step, and the resolution filed in the
workload's runbook. :class:`ConsoleSender` is a :class:`~bot.chat.port.ChatSender`, so the
messages go through the same outbox (``bot.outbox.deliverer``) and the same desk
(``bot.anomaly.desk``) as Slack's; only the drawing differs.

Everything that came from tags, YAML or people is escaped with rich's ``escape``, so a project
called ``[bold red]x[/]`` prints as those characters.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from bot.anomaly.desk import AnomalyDesk
from bot.anomaly.views import AlertView
from bot.chat.console.panel import alert_panel, runbook_panel
from bot.chat.console.walk import PreferOption, walk_playbook
from bot.chat.enums import Platform
from bot.chat.port import Notice
from bot.errors import USER_ERRORS, user_message
from bot.wiring import Services

__all__ = ["DEMO_ANSWERS", "ConsoleSender", "PreferOption", "alert_panel", "run_console_loop",
           "walk_playbook"]


# The classic incident of the demo data: an agent release switched on verbose logging on a
# high-volume workload. A user field left out of a script is answered with the acting user.
DEMO_ANSWERS: Mapping[str, Mapping[str, object]] = {
    "owner": {"owner": "priya", "note": "Priya is on call for the agent team this week."},
    "what_changed": {
        "change": "logging",
        "note": "Log ingestion jumped right after the agent release; DEBUG is on in production.",
    },
    "stabilise": {
        "lever": PreferOption(prefix=("logging.", "verbosity"), otherwise="other"),
        "action": "Set LOG_LEVEL=INFO on the agent workers and sampled request logs at 5%.",
    },
    "review": {
        "checks": ["guardrail", "limits", "logging", "owner_budget", "second_review", "rollback"],
    },
    "document": {
        "root_cause": "Agent release 2.14 shipped with DEBUG logging enabled, logging every "
                      "prompt and response of a high-volume workload.",
        "fix": "Log level back to INFO, request logs sampled at 5%.",
        "prevention": "A release check refuses DEBUG in production, and a log ingestion budget "
                      "alert covers the workload.",
    },
}


# -- the sender -------------------------------------------------------------------------------


class ConsoleSender:
    """Prints alerts as rich panels and replies as indented thread lines.

    References are ``console-1``, ``console-2`` ... in the order messages were printed; the keys
    are kept in memory so the outbox's ``find_sent`` check works as it does with Slack.
    ``last_anomaly`` is the anomaly of the card printed last: the one a key typed alone acts on.
    """

    platform = Platform.CONSOLE

    def __init__(self, console: Console, *, chart_dir: Path | None = None) -> None:
        self.console = console
        self.chart_dir = chart_dir
        self._count = 0
        self._sent: dict[tuple[str, str], str] = {}
        self.last_anomaly: int | None = None

    def post_alert(self, channel: str, view: AlertView, *, key: str) -> str:
        ref = self._remember(channel, key)
        self.console.print(alert_panel(view, channel=channel, ref=ref))
        self.last_anomaly = view.anomaly_id
        return ref

    def update_alert(self, channel: str, ref: str, view: AlertView) -> None:
        self.console.print(alert_panel(view, channel=channel, ref=ref, updated=True))
        self.last_anomaly = view.anomaly_id

    def reply(self, channel: str, ref: str, notice: Notice, *, key: str) -> str:
        own = self._remember(channel, key)
        who = escape(notice.actor or "spendwatch")
        self.console.print(f"    ↳ [bold]{who}[/bold]: {escape(notice.text)}", highlight=False)
        return own

    def post_notice(self, channel: str, notice: Notice, *, key: str,
                    link: tuple[str, str] | None = None) -> str:
        own = self._remember(channel, key)
        about = f" (alert {escape(link[1])} in #{escape(link[0])})" if link else ""
        self.console.print(f"[bold]#{escape(channel)}[/bold]: {escape(notice.text)}{about}",
                           highlight=False)
        return own

    def upload_chart(self, channel: str, ref: str, png: bytes, *, title: str,
                     key: str) -> None:
        self._sent[(channel, key)] = ref
        if self.chart_dir is None:
            self.console.print(f"    ↳ chart: {len(png):,} bytes ({escape(title)})",
                               highlight=False)
            return
        self.chart_dir.mkdir(parents=True, exist_ok=True)
        path = self.chart_dir / f"{ref}-chart.png"
        path.write_bytes(png)
        self.console.print(f"    ↳ chart: {escape(title)} → {escape(str(path))}", highlight=False)

    def find_sent(self, channel: str, key: str, *, since: datetime,
                  thread: str | None = None) -> str | None:
        return self._sent.get((channel, key))

    def _remember(self, channel: str, key: str) -> str:
        self._count += 1
        ref = f"console-{self._count}"
        self._sent[(channel, key)] = ref
        return ref


# -- the whole loop ---------------------------------------------------------------------------


def run_console_loop(*, services: Services, anomaly_id: int, console: Console,
                     user: str = "demo-user", interactive: bool = False,
                     chart_dir: Path | None = None) -> None:
    """Post the anomaly's alert, acknowledge it, walk the playbook, print the runbook entry.

    The messages go through the outbox like Slack's (stored, then delivered), so what prints
    is what the store says at each moment. Scripted with :data:`DEMO_ANSWERS` unless
    ``interactive``.
    """
    desk = services.desk()
    deliverer = services.deliverer(ConsoleSender(console, chart_dir=chart_dir),
                                   playbook=desk.playbooks, min_interval=0)

    def deliver() -> None:
        deliverer.drain()

    desk.announce(anomaly_id, platform=Platform.CONSOLE)
    deliver()
    console.print(f"[bold]{escape(user)}[/bold] acknowledges the alert", highlight=False)
    try:
        desk.acknowledge(anomaly_id, user=user)
    except USER_ERRORS as exc:  # already acknowledged: carry on with the playbook
        console.print(f"[yellow]{escape(user_message(exc))}[/yellow]", highlight=False)
    deliver()
    walk_playbook(desk=desk, anomaly_id=anomaly_id, user=user, console=console,
                  answers=None if interactive else DEMO_ANSWERS, deliver=deliver)
    deliver()
    _print_runbook(desk, anomaly_id, user, console)


def _print_runbook(desk: AnomalyDesk, anomaly_id: int, user: str, console: Console) -> None:
    """The entry this anomaly's playbook filed, as the workload's runbook stores it."""
    runbook = desk.workload_runbook(anomaly_id, user=user)
    if runbook.filed is None:
        where = " · ".join(escape(part) for part in runbook.workload if part)
        console.print(f"No runbook entry for {where} from this anomaly.", highlight=False)
        return
    console.print(runbook_panel(runbook.filed, workload=runbook.workload,
                                count=len(runbook.entries)))
