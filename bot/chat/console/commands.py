"""The console chat's commands: the keys a card offers, ``help`` and ``/cost …``.

Each key is the button of the same name in Slack and calls the same domain action
(``bot.anomaly.service``); ``/cost`` is answered by the same code as Slack's
(``bot.costs.command``).
Whoever sits at the console is treated as FinOps: they may act on every anomaly and ``/cost``
sees every project. A key alone acts on the card printed last; followed by a number it acts
on that anomaly (``a 8``), whose card is posted here first if it was not yet.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from bot.anomaly import service as responses
from bot.anomaly.service import ResponseError
from bot.anomaly.views import main_service, runbook_view
from bot.chat.console.panel import runbook_panel
from bot.chat.console.walk import Lines, ask, walk_playbook
from bot.chat.enums import Platform
from bot.chat.ids import SNOOZE_HOURS
from bot.costs.command import Scope
from bot.costs.command import respond as answer_cost
from bot.costs.views import format_plain
from bot.wiring import Services
from storage import chatops
from storage.db import session_scope

__all__ = ["HELP", "KEYS", "ConsoleChat"]

RUNBOOK_SHOWN = 3
KEYS = {
    "a": "acknowledge", "acknowledge": "acknowledge", "ack": "acknowledge",
    "p": "playbook", "playbook": "playbook",
    "s": "snooze", "snooze": "snooze",
    "e": "expected", "expected": "expected",
    "x": "escalate", "escalate": "escalate",
    "r": "runbook", "runbook": "runbook",
}
HOURS = "|".join(map(str, SNOOZE_HOURS))
HELP = f"""\
Keys, as the cards offer them. A key acts on the card printed last; add an anomaly's number
to act on another one (a 8, s 8 4).
  a             acknowledge
  p             the playbook, step by step; each step is saved as it is answered
  s [{HOURS}]    snooze reminders for that many hours
  e [reason]    the spend is expected, and why
  x             escalate to the FinOps channel
  r             the workload's runbook
/cost …         cost questions, as in Slack: /cost help
help            this list"""


class ConsoleChat:
    """One line typed at the console in, what Slack would show out (printed)."""

    def __init__(self, *, services: Services, console: Console, user: str,
                 deliver: Callable[[], object], lines: Lines,
                 newest: Callable[[], int | None]) -> None:
        routing = services.settings.routing
        finops = routing.model_copy(update={"finops": [*routing.finops, user]})
        self.services = Services(settings=services.settings.model_copy(
            update={"routing": finops}), engine=services.engine)
        self.console = console
        self.user = user
        self.deliver = deliver
        self.lines = lines
        self.newest = newest

    def handle(self, text: str) -> None:
        """Answer one typed line; mistakes are explained in one line, never raised."""
        if not text:
            return
        if text.split()[0].casefold() == "/cost":
            self._cost(text.split(maxsplit=1)[1] if " " in text else "")
            return
        word, _, rest = text.partition(" ")
        if word.casefold() in ("help", "?", "h"):
            self.console.print(Text(HELP))
            return
        action = KEYS.get(word.casefold())
        if action is None:
            self._say(f"“{word}” is not a key here; type help for the keys and /cost help for "
                      f"cost questions.")
            return
        anomaly_id, rest = self._target(rest, numbers_after=action == "snooze")
        if anomaly_id is None:
            self._say("No alert has been printed yet; type /cost anomalies for the open ones, "
                      "then the key and a number (e.g. a 8).")
            return
        try:
            getattr(self, f"_{action}")(anomaly_id, rest)
        except ResponseError as exc:
            self._say(str(exc))

    # -- the keys ------------------------------------------------------------------------------

    def _acknowledge(self, anomaly_id: int, _: str) -> None:
        self._act(anomaly_id, lambda session, now: responses.acknowledge(
            db_session=session, settings=self.services.settings, anomaly_id=anomaly_id,
            user=self.user, now=now))

    def _snooze(self, anomaly_id: int, rest: str) -> None:
        allowed = ", ".join(map(str, SNOOZE_HOURS))
        typed = rest or ask(self.console, f"Snooze reminders for how many hours ({allowed})? ",
                            self.lines)
        if not typed.strip().isdigit():
            raise ResponseError(f"snooze for {allowed} hours: type s and one of them (s 4)")
        self._act(anomaly_id, lambda session, now: responses.snooze(
            db_session=session, settings=self.services.settings, anomaly_id=anomaly_id,
            user=self.user, hours=int(typed), now=now))

    def _expected(self, anomaly_id: int, rest: str) -> None:
        reason = rest or ask(self.console, "Why is this spend expected? ", self.lines)
        self._act(anomaly_id, lambda session, now: responses.mark_expected(
            db_session=session, settings=self.services.settings, anomaly_id=anomaly_id,
            user=self.user, reason=reason, now=now))

    def _escalate(self, anomaly_id: int, _: str) -> None:
        self._act(anomaly_id, lambda session, now: responses.escalate(
            db_session=session, settings=self.services.settings, anomaly_id=anomaly_id,
            user=self.user, now=now))

    def _playbook(self, anomaly_id: int, _: str) -> None:
        self._post_card(anomaly_id)
        walk_playbook(services=self.services, anomaly_id=anomaly_id, user=self.user,
                      answers=None, console=self.console, deliver=self.deliver,
                      lines=self.lines)

    def _runbook(self, anomaly_id: int, _: str) -> None:
        with session_scope(self.services.engine) as session:
            anomaly = chatops.get_anomaly(db_session=session, anomaly_id=anomaly_id)
            if anomaly is None:
                raise ResponseError(f"anomaly {anomaly_id} does not exist; type /cost "
                                    f"anomalies for the open ones")
            workload = (anomaly.project, anomaly.environment, main_service(anomaly))
            entries = list(chatops.runbook_for(
                db_session=session, project=anomaly.project, environment=anomaly.environment,
                service_name=workload[2] or None))
        if not entries:
            where = " · ".join(escape(part) for part in workload if part)
            self._say(f"No runbook entries for {where} yet: finishing the playbook (p) "
                      f"writes one.")
        for entry in entries[:RUNBOOK_SHOWN]:
            self.console.print(runbook_panel(runbook_view(entry), workload=workload,
                                             count=len(entries)))

    # -- helpers -------------------------------------------------------------------------------

    def _target(self, rest: str, *, numbers_after: bool) -> tuple[int | None, str]:
        """The anomaly a key names (a leading number), else the newest card's; and the rest.

        ``numbers_after``: the key takes a number of its own (``s 4``), so a leading number
        names an anomaly only when another number follows (``s 8 4``).
        """
        first, _, remainder = rest.strip().partition(" ")
        if first.isdigit() and (not numbers_after or remainder.strip()):
            return int(first), remainder.strip()
        return self.newest(), rest.strip()

    def _act(self, anomaly_id: int, action: Callable[..., object]) -> None:
        self._post_card(anomaly_id)
        with session_scope(self.services.engine) as session:
            action(session, datetime.now(UTC))
        self.deliver()

    def _post_card(self, anomaly_id: int) -> None:
        """An anomaly picked by number gets its card here first (once), as Slack posts it."""
        with session_scope(self.services.engine) as session:
            if chatops.get_anomaly(db_session=session, anomaly_id=anomaly_id) is None:
                raise ResponseError(f"anomaly {anomaly_id} does not exist; type /cost "
                                    f"anomalies for the open ones")
            responses.announce(db_session=session, settings=self.services.settings,
                               anomaly_id=anomaly_id, platform=Platform.CONSOLE,
                               now=datetime.now(UTC))
        self.deliver()

    def _cost(self, text: str) -> None:
        answer = answer_cost(
            text, connection_or_engine=self.services.engine, scope=Scope.everything(),
            environment_aliases=self.services.settings.allocation.environment_aliases)
        self.console.print(Text(format_plain(answer)))

    def _say(self, text: str) -> None:
        self.console.print(f"[yellow]{escape(text)}[/yellow]", highlight=False)
