"""The console chat's commands: the keys a card offers, ``help`` and ``/cost …``.

Each key is the button of the same name in Slack and makes the same desk call
(``bot.anomaly.desk``); ``/cost`` is answered by the same desk call as Slack's
(``AnomalyDesk.cost``), budgets included. Whoever sits at the console runs the bot, so the
desk treats them as FinOps (``AnomalyDesk.with_operator``): they may act on every anomaly,
set budgets, and ``/cost`` sees every project. A key alone acts on the card printed last;
followed by a number it acts on that anomaly (``a 8``), whose card is posted here first if it
was not yet.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from bot.anomaly.desk import EXPECTED_MIN_CHARS, ResponseError
from bot.anomaly.plans import ExpectedPlan
from bot.anomaly.plans_chat import expected_plan_from
from bot.chat.console.panel import runbook_panel
from bot.chat.console.walk import Lines, ask, walk_playbook
from bot.chat.enums import Platform
from bot.chat.ids import SNOOZE_HOURS
from bot.costs.views import format_plain
from bot.errors import USER_ERRORS, user_message
from bot.wiring import Services

__all__ = ["HELP", "KEYS", "ConsoleChat"]

RUNBOOK_SHOWN = 3
KEYS = {
    "a": "acknowledge", "acknowledge": "acknowledge", "ack": "acknowledge",
    "p": "playbook", "playbook": "playbook",
    "s": "snooze", "snooze": "snooze",
    "e": "expected", "expected": "expected",
    "n": "not_an_anomaly", "normal": "not_an_anomaly",
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
  n [note]      not an anomaly: this spend is normal for its lines (note optional)
  x             escalate to the FinOps channel
  r             the workload's runbook
/cost …         cost questions, as in Slack: /cost help (/cost feedback [undo ID])
help            this list"""


class ConsoleChat:
    """One line typed at the console in, what Slack would show out (printed)."""

    def __init__(self, *, services: Services, console: Console, user: str,
                 deliver: Callable[[], object], lines: Lines,
                 newest: Callable[[], int | None]) -> None:
        self.services = services
        self.desk = services.desk().with_operator(user)
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
        except USER_ERRORS as exc:
            self._say(user_message(exc))

    # -- the keys ------------------------------------------------------------------------------

    def _acknowledge(self, anomaly_id: int, _: str) -> None:
        self._act(anomaly_id, lambda: self.desk.acknowledge(anomaly_id, user=self.user))

    def _snooze(self, anomaly_id: int, rest: str) -> None:
        allowed = ", ".join(map(str, SNOOZE_HOURS))
        typed = rest or ask(self.console, f"Snooze reminders for how many hours ({allowed})? ",
                            self.lines)
        if not typed.strip().isdigit():
            raise ResponseError(f"snooze for {allowed} hours: type s and one of them (s 4)")
        self._act(anomaly_id, lambda: self.desk.snooze(anomaly_id, user=self.user,
                                                       hours=int(typed)))

    def _expected(self, anomaly_id: int, rest: str) -> None:
        reason = rest or ask(self.console, "Why is this spend expected? ", self.lines)
        plan = None
        if len(reason.strip()) >= EXPECTED_MIN_CHARS:  # else the desk says what is missing
            plan = self._expected_plan(anomaly_id)
        self._act(anomaly_id, lambda: self.desk.mark_expected(anomaly_id, user=self.user,
                                                              reason=reason, plan=plan))

    def _expected_plan(self, anomaly_id: int) -> ExpectedPlan | None:
        """The plan marking expected makes: each answer left blank takes the default shown."""
        self._known(anomaly_id)
        offered = self.desk.expected_defaults(anomaly_id)
        envelope = ask(self.console, "Keep the same spend quiet up to how much above normal, "
                       f"in all? (none: no plan) {escape(f'[{offered.envelope_usd:.0f}]')} ",
                       self.lines)
        if envelope.casefold() == "none":
            return None
        until = ask(self.console, "Until which day (UTC)? "
                    f"{escape(f'[{offered.ends_at:%Y-%m-%d}]')} ", self.lines)
        scope = ""
        if offered.service:
            scope = ask(self.console, f"For the whole workload, or only {escape(offered.service)}"
                        f"? (workload/service) {escape('[workload]')} ", self.lines)
        return expected_plan_from(scope or offered.scope, envelope or f"{offered.envelope_usd}",
                                  until or f"{offered.ends_at:%Y-%m-%d}",
                                  currency=self.desk.settings.currency.base)

    def _not_an_anomaly(self, anomaly_id: int, note: str) -> None:
        self._act(anomaly_id, lambda: self.desk.not_an_anomaly(anomaly_id, user=self.user,
                                                               note=note))

    def _escalate(self, anomaly_id: int, _: str) -> None:
        self._act(anomaly_id, lambda: self.desk.escalate(anomaly_id, user=self.user))

    def _playbook(self, anomaly_id: int, _: str) -> None:
        self._post_card(anomaly_id)
        walk_playbook(desk=self.desk, anomaly_id=anomaly_id, user=self.user, answers=None,
                      console=self.console, deliver=self.deliver, lines=self.lines)

    def _runbook(self, anomaly_id: int, _: str) -> None:
        self._known(anomaly_id)
        runbook = self.desk.workload_runbook(anomaly_id, user=self.user)
        if not runbook.entries:
            where = " · ".join(escape(part) for part in runbook.workload if part)
            self._say(f"No runbook entries for {where} yet: finishing the playbook (p) "
                      f"writes one.")
        for entry in runbook.entries[:RUNBOOK_SHOWN]:
            self.console.print(runbook_panel(entry, workload=runbook.workload,
                                             count=len(runbook.entries)))

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

    def _act(self, anomaly_id: int, action: Callable[[], object]) -> None:
        self._post_card(anomaly_id)
        action()
        self.deliver()

    def _known(self, anomaly_id: int) -> None:
        if not self.desk.exists(anomaly_id):
            raise ResponseError(f"anomaly {anomaly_id} does not exist; type /cost "
                                f"anomalies for the open ones")

    def _post_card(self, anomaly_id: int) -> None:
        """An anomaly picked by number gets its card here first (once), as Slack posts it."""
        self._known(anomaly_id)
        self.desk.announce(anomaly_id, platform=Platform.CONSOLE)
        self.deliver()

    def _cost(self, text: str) -> None:
        try:
            answer = self.desk.cost(text, user=self.user, channel=None)
        except USER_ERRORS as exc:
            self._say(user_message(exc))
            return
        self.console.print(Text(format_plain(answer)))

    def _say(self, text: str) -> None:
        self.console.print(f"[yellow]{escape(text)}[/yellow]", highlight=False)
