"""The console chat: alerts, thread replies and the playbook walk in a terminal, without Slack.

Why: ``make demo`` and anyone trying the bot without a workspace should see the same loop a
team sees in Slack: the alert posted to the owner's channel and updated in place as people act,
a thread reply per action, the playbook answered step by step, and the resolution filed in the
workload's runbook. :class:`ConsoleSender` is a :class:`~bot.chat.port.ChatSender`, so the
messages go through the same outbox (``bot.outbox``) and the same domain actions
(``bot.responses``) as Slack's; only the drawing differs.

Everything that came from tags, YAML or people is escaped with rich's ``escape``, so a project
called ``[bold red]x[/]`` prints as those characters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.panel import Panel
from rich.prompt import Confirm, Prompt
from rich.text import Text
from sqlmodel import Session

from bot import responses
from bot.alert_chart import alert_chart
from bot.alerts import AlertView, main_service
from bot.chat.console_panel import alert_panel, when
from bot.chat.port import Notice
from bot.outbox import Deliverer
from bot.playbook import (
    AnyField,
    ChecklistField,
    Option,
    Playbook,
    PlaybookState,
    SelectField,
    StepError,
)
from bot.responses import ResponseError, StepStarted, default_playbook
from bot.wiring import Services
from storage import chatops
from storage.db import session_scope
from storage.models import Alert

__all__ = ["DEMO_ANSWERS", "ConsoleSender", "PreferOption", "alert_panel", "run_console_loop",
           "walk_playbook"]


@dataclass(frozen=True)
class PreferOption:
    """A scripted select answer: the first offered option whose value starts with ``prefix``.

    Lever options depend on the anomaly's contributors, so a script cannot name one for sure.
    """

    prefix: str
    otherwise: str

    def choose(self, offered: list[Option]) -> str:
        return next((o.value for o in offered if o.value.startswith(self.prefix)), self.otherwise)


# The classic incident of the demo data: an agent release switched on verbose logging on a
# high-volume workload. A user field left out of a script is answered with the acting user.
DEMO_ANSWERS: Mapping[str, Mapping[str, object]] = {
    "owner": {"note": "Taking this one; the agent team is on call this week."},
    "what_changed": {
        "change": "logging",
        "note": "Log ingestion jumped right after the agent release; DEBUG is on in production.",
    },
    "stabilise": {
        "lever": PreferOption(prefix="logging.", otherwise="other"),
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
    """

    platform = "console"

    def __init__(self, console: Console, *, chart_dir: Path | None = None) -> None:
        self.console = console
        self.chart_dir = chart_dir
        self._count = 0
        self._sent: dict[tuple[str, str], str] = {}

    def post_alert(self, channel: str, view: AlertView, *, key: str) -> str:
        ref = self._remember(channel, key)
        self.console.print(alert_panel(view, channel=channel, ref=ref))
        return ref

    def update_alert(self, channel: str, ref: str, view: AlertView) -> None:
        self.console.print(alert_panel(view, channel=channel, ref=ref, updated=True))

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


# -- the playbook walk ------------------------------------------------------------------------


def walk_playbook(*, services: Services, anomaly_id: int, user: str,
                  answers: Mapping[str, Mapping[str, object]] | None, console: Console,
                  deliver: Callable[[], None]) -> None:
    """Answer every step still open, through the same domain actions a Slack modal calls.

    With ``answers`` (step id -> field id -> raw value, see ``bot.playbook.submit``) the
    answers are printed as a form would show them; without, each field is asked at the
    terminal and asked again with the error under it when the step is refused. Opening and
    saving a step are separate short transactions, so no transaction stays open while a
    person types. ``deliver`` runs after each step, so the updated alert and the thread reply
    print before the next step.
    """
    playbook = default_playbook(services.settings)
    while True:
        with session_scope(services.engine) as session:
            started = responses.open_step(
                db_session=session, settings=services.settings, playbook=playbook,
                anomaly_id=anomaly_id, user=user, now=datetime.now(UTC))
        k, n = started.position
        console.rule(f"Playbook step {k} of {n}: {escape(started.step.title)}", align="left")
        if started.step.description:
            console.print(f"[dim]{escape(started.step.description)}[/dim]", highlight=False)
        if answers is None:
            state = _ask_until_saved(services, playbook, started, user, console)
        else:
            values = _scripted(started, answers.get(started.step.id, {}), user)
            for field in started.step.fields:
                console.print(f"  [bold]{escape(field.label)}[/bold]", highlight=False)
                for line in _answer_lines(field, values.get(field.id), started.options):
                    console.print(Padding(Text.from_markup(line), (0, 0, 0, 4), expand=False))
            state = _save(services, playbook, started, values, user)
        deliver()
        if state.completed is not None:
            return


def _save(services: Services, playbook: Playbook, started: StepStarted,
          values: dict[str, object], user: str) -> PlaybookState:
    with session_scope(services.engine) as session:
        return responses.submit_step(
            db_session=session, settings=services.settings, playbook=playbook,
            anomaly_id=int(started.anomaly.id or 0), step_id=started.step.id, values=values,
            user=user, now=datetime.now(UTC))


def _scripted(started: StepStarted, script: Mapping[str, object], user: str
              ) -> dict[str, object]:
    values = dict(script)  # a key naming no field is refused by submit, by name
    for field in started.step.fields:
        raw = values.get(field.id)
        if isinstance(raw, PreferOption) and isinstance(field, SelectField):
            values[field.id] = raw.choose(field.offered(started.options))
        elif raw is None and field.kind == "user":
            values[field.id] = user
    return values


def _answer_lines(field: AnyField, raw: object, options: Mapping[str, list[Option]]
                  ) -> list[str]:
    """A submitted value as the form shows it: option labels, ticked boxes, plain text."""
    if isinstance(field, ChecklistField):
        checked, reason = (raw.get("checked"), raw.get("reason")) if isinstance(
            raw, Mapping) else (raw, None)
        ticked = set(checked) if isinstance(checked, list | tuple) else set()
        lines = [f"{'☑' if item.value in ticked else '☐'} {escape(item.label)}"
                 for item in field.items]
        return lines + ([f"{escape(field.reason_label or 'Reason')}: {escape(str(reason))}"]
                        if reason else [])
    if raw is None or raw == "":
        return ["[dim]—[/dim]"]
    if isinstance(field, SelectField):
        raw = next((o.label for o in field.offered(options) if o.value == raw), raw)
    return [escape(str(raw))]


def _ask_until_saved(services: Services, playbook: Playbook, started: StepStarted, user: str,
                     console: Console) -> PlaybookState:
    """Ask every field, then only the refused ones, until the step is saved."""
    values: dict[str, object] = {}
    errors: dict[str, str] = {}
    while True:
        for field in started.step.fields:
            if not errors or field.id in errors:
                console.print(f"  [bold]{escape(field.label)}[/bold]"
                              + (" [dim](optional)[/dim]" if field.required is False else "")
                              + (f"\n  [dim]{escape(field.hint)}[/dim]" if field.hint else "")
                              + (f"\n  [red]{escape(errors[field.id])}[/red]"
                                 if field.id in errors else ""), highlight=False)
                values[field.id] = _ask_field(console, field, started.options, user,
                                              values.get(field.id))
        try:
            return _save(services, playbook, started, values, user)
        except StepError as exc:
            errors = exc.errors or {started.step.fields[0].id: str(exc)}


def _ask_field(console: Console, field: AnyField, options: Mapping[str, list[Option]],
               user: str, before: object) -> object:
    """One field at the prompt; a refused checklist keeps its ticks and asks the reason again."""
    if isinstance(field, SelectField):
        offered = field.offered(options)
        for number, option in enumerate(offered, start=1):
            console.print(f"    {number}. {escape(option.label)}", highlight=False)
        typed = Prompt.ask("  number", console=console, default="", show_default=False).strip()
        index = int(typed) - 1 if typed.isdigit() else -1
        return offered[index].value if 0 <= index < len(offered) else typed
    if isinstance(field, ChecklistField):
        checked = before.get("checked") if isinstance(before, dict) else None
        if checked is None or len(checked) == len(field.items) or not field.reason_label:
            checked = [item.value for item in field.items
                       if Confirm.ask(f"    {escape(item.label)}?", console=console)]
        reason = None
        if len(checked) < len(field.items) and field.reason_label:
            reason = Prompt.ask(f"  {escape(field.reason_label)}", console=console, default="",
                                show_default=False)
        return {"checked": checked, "reason": reason}
    default = user if field.kind == "user" else ""
    return Prompt.ask("  >", console=console, default=default, show_default=bool(default))


# -- the whole loop ---------------------------------------------------------------------------


def run_console_loop(*, services: Services, anomaly_id: int, console: Console,
                     user: str = "demo-user", interactive: bool = False,
                     chart_dir: Path | None = None) -> None:
    """Post the anomaly's alert, acknowledge it, walk the playbook, print the runbook entry.

    The messages go through the outbox like Slack's (stored, then delivered), so what prints
    is what the store says at each moment. Scripted with :data:`DEMO_ANSWERS` unless
    ``interactive``.
    """
    playbook = default_playbook(services.settings)

    def render(session: Session, alert: Alert) -> AlertView:
        return responses.load_alert_view(db_session=session, anomaly_id=alert.anomaly_id,
                                         playbook=playbook)

    deliverer = Deliverer(engine=services.engine, render=render, chart=alert_chart,
                          sender=ConsoleSender(console, chart_dir=chart_dir), min_interval=0)

    def deliver() -> None:
        deliverer.drain()

    with session_scope(services.engine) as session:
        responses.announce(db_session=session, settings=services.settings,
                           anomaly_id=anomaly_id, platform="console", now=datetime.now(UTC))
    deliver()
    console.print(f"[bold]{escape(user)}[/bold] acknowledges the alert", highlight=False)
    try:
        with session_scope(services.engine) as session:
            responses.acknowledge(db_session=session, settings=services.settings,
                                  anomaly_id=anomaly_id, user=user, now=datetime.now(UTC))
    except ResponseError as exc:  # already acknowledged: carry on with the playbook
        console.print(f"[yellow]{escape(str(exc))}[/yellow]", highlight=False)
    deliver()
    walk_playbook(services=services, anomaly_id=anomaly_id, user=user, console=console,
                  answers=None if interactive else DEMO_ANSWERS, deliver=deliver)
    deliver()
    _print_runbook(services, anomaly_id, console)


def _print_runbook(services: Services, anomaly_id: int, console: Console) -> None:
    """The entry this anomaly's playbook filed, as the workload's runbook stores it."""
    with session_scope(services.engine) as session:
        anomaly = chatops.get_anomaly(db_session=session, anomaly_id=anomaly_id)
        assert anomaly is not None
        service = main_service(anomaly)
        entries = list(chatops.runbook_for(db_session=session, project=anomaly.project,
                                           environment=anomaly.environment,
                                           service_name=service or None))
    where = " · ".join(escape(p) for p in (anomaly.project, anomaly.environment, service) if p)
    entry = next((e for e in entries if e.anomaly_id == anomaly_id), None)
    if entry is None:
        console.print(f"No runbook entry for {where} from this anomaly.", highlight=False)
        return
    count = f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}"
    body = (f"[bold]Root cause:[/bold] {escape(entry.root_cause)}\n"
            f"[bold]Fix:[/bold] {escape(entry.fix)}\n"
            f"[bold]Prevention:[/bold] {escape(entry.prevention)}\n"
            f"[dim]by {escape(entry.author)}, {when(entry.created_at)} · {count} in this "
            f"workload's runbook[/dim]")
    console.print(Panel(body, title=f"[bold]Runbook entry: {where}[/bold]", title_align="left",
                        border_style="blue", highlight=False))
