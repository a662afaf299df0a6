"""The playbook walk in a terminal: each step asked at the prompt, or answered from a script.

The same desk calls a Slack modal makes (``AnomalyDesk.open_step`` / ``save_step``) save each
step, so the store, the alert and the runbook read as they would after a walk in Slack.
A choice is checked the moment it is typed: a number out of range or an unknown option is
refused at once, with what is allowed, and asked again. Text fields are checked by the
playbook engine when the step is saved; only the refused fields are asked again. A step with
an earlier incident's answers (``StepStarted.prefill``) says so and offers each as the answer
Enter keeps.

Input comes from ``lines`` (anything with ``readline()``, e.g. the console chat of
``spendwatch run``), else from :func:`input`. The end of the input raises :class:`EOFError`,
so a closed stream stops the walk instead of asking forever.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.text import Text

from bot.anomaly.desk import AnomalyDesk, StepStarted
from bot.playbook import (
    AnyField,
    ChecklistAnswer,
    ChecklistField,
    Option,
    PlaybookState,
    SelectAnswer,
    SelectField,
    StepError,
)

__all__ = ["Lines", "PreferOption", "ask", "confirm", "pick_option", "walk_playbook"]

YES, NO = {"y", "yes"}, {"n", "no"}


class Lines(Protocol):
    # print what was read after the prompt (input that is not a terminal shows nothing)
    echo: bool

    def readline(self) -> str:
        """The next line with its newline; ``""`` at the end of the input."""
        ...


@dataclass(frozen=True)
class PreferOption:
    """A scripted select answer: the first offered option whose value starts with ``prefix``
    (or with one of several).

    Lever options depend on the anomaly's contributors, so a script cannot name one for sure.
    """

    prefix: str | tuple[str, ...]
    otherwise: str

    def choose(self, offered: list[Option]) -> str:
        return next((o.value for o in offered if o.value.startswith(self.prefix)), self.otherwise)


def walk_playbook(*, desk: AnomalyDesk, anomaly_id: int, user: str,
                  answers: Mapping[str, Mapping[str, object]] | None, console: Console,
                  deliver: Callable[[], object], lines: Lines | None = None) -> None:
    """Answer every step still open, through the same desk calls a Slack modal makes.

    With ``answers`` (step id -> field id -> raw value, see ``bot.playbook.submit``) the
    answers are printed as a form would show them; without, each field is asked at the
    terminal and asked again with the error under it when the step is refused. Opening and
    saving a step are separate short transactions, so no transaction stays open while a
    person types. ``deliver`` runs after each step, so the updated alert and the thread reply
    print before the next step.
    """
    while True:
        started = desk.open_step(anomaly_id, user=user)
        k, n = started.position
        console.rule(f"Playbook step {k} of {n}: {escape(started.step.title)}", align="left")
        if started.step.description:
            console.print(f"[dim]{escape(started.step.description)}[/dim]", highlight=False)
        if started.prefill is not None:
            console.print(f"[cyan]{escape(started.prefill.note)}[/cyan]", highlight=False)
        if answers is None:
            state = _ask_until_saved(desk, started, user, console, lines)
        else:
            values = _scripted(started, answers.get(started.step.id, {}), user)
            for field in started.step.fields:
                console.print(f"  [bold]{escape(field.label)}[/bold]", highlight=False)
                for line in _answer_lines(field, values.get(field.id), started.options):
                    console.print(Padding(Text.from_markup(line), (0, 0, 0, 4), expand=False))
            state = _save(desk, started, values, user)
        deliver()
        if state.completed is not None:
            return


def _save(desk: AnomalyDesk, started: StepStarted, values: dict[str, object],
          user: str) -> PlaybookState:
    return desk.save_step(int(started.anomaly.id or 0), step_id=started.step.id,
                          values=values, user=user).state


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


def _ask_until_saved(desk: AnomalyDesk, started: StepStarted, user: str, console: Console,
                     lines: Lines | None) -> PlaybookState:
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
                last = started.prefill.values.get(field.id) if started.prefill else None
                values[field.id] = _ask_field(console, field, started.options, user,
                                              values.get(field.id), lines, last)
        try:
            return _save(desk, started, values, user)
        except StepError as exc:
            errors = exc.errors or {started.step.fields[0].id: str(exc)}


def _ask_field(console: Console, field: AnyField, options: Mapping[str, list[Option]],
               user: str, before: object, lines: Lines | None, last: object = None) -> object:
    """One field at the prompt; a refused checklist keeps its ticks and asks the reason again.
    ``last`` (a pre-filled answer) is what Enter keeps."""
    if isinstance(field, SelectField):
        offered = field.offered(options)
        for number, option in enumerate(offered, start=1):
            console.print(f"    {number}. {escape(option.label)}", highlight=False)
        kept = last if isinstance(last, SelectAnswer) else None
        prompt = f"  number (Enter: {escape(kept.label)}): " if kept else "  number: "
        while True:
            typed = ask(console, prompt, lines)
            if kept is not None and not typed:
                return kept.value
            chosen = pick_option(offered, typed, required=field.required is not False)
            if isinstance(chosen, Option):
                return chosen.value
            if not chosen:
                return None
            console.print(f"  [red]{escape(chosen)}[/red]", highlight=False)
    if isinstance(field, ChecklistField):
        checked = before.get("checked") if isinstance(before, dict) else None
        ticked = set(last.checked) if isinstance(last, ChecklistAnswer) else None
        if checked is None or len(checked) == len(field.items) or not field.reason_label:
            checked = [item.value for item in field.items
                       if _tick(console, item, ticked, lines)]
        reason = None
        if len(checked) < len(field.items) and field.reason_label:
            said = last.reason if isinstance(last, ChecklistAnswer) else None
            reason = ask(console, f"  {escape(field.reason_label)}"
                         + (f" (Enter: {escape(said)})" if said else "") + ": ", lines) or said
        return {"checked": checked, "reason": reason}
    default = last if isinstance(last, str) else user if field.kind == "user" else ""
    typed = ask(console, f"  > ({escape(default)}) " if default else "  > ", lines)
    return typed or default


def _tick(console: Console, item: Option, ticked: set[str] | None, lines: Lines | None) -> bool:
    """y or n for one checklist item; with a pre-filled answer, Enter keeps it."""
    if ticked is None:
        return confirm(console, f"    {escape(item.label)}? [y/n]: ", lines)
    kept = item.value in ticked
    while True:
        answer = ask(console, f"    {escape(item.label)}? [{'Y/n' if kept else 'y/N'}]: ",
                     lines).casefold()
        if not answer:
            return kept
        if answer in YES | NO:
            return answer in YES
        console.print("  [red]Type y or n, or Enter to keep.[/red]", highlight=False)


def pick_option(offered: list[Option], typed: str, *, required: bool = True) -> Option | str:
    """The option a person typed (its number, value or label), or what to type instead.

    Returns ``""`` for an empty answer to an optional choice; any other string is the message
    to show before asking again, naming the numbers allowed.
    """
    typed = typed.strip()
    allowed = f"type a number from 1 to {len(offered)}"
    if not typed:
        return f"Choose one: {allowed}." if required else ""
    if typed.isdigit():
        number = int(typed)
        if 1 <= number <= len(offered):
            return offered[number - 1]
        return f"{number} is not one of the choices; {allowed}."
    wanted = typed.casefold()
    found = next((o for o in offered
                  if wanted in (o.value.casefold(), o.label.casefold())), None)
    return found or f"“{typed}” is not one of the choices; {allowed}."


def ask(console: Console, prompt: str, lines: Lines | None) -> str:
    """One line typed at ``prompt`` (markup), without its newline; EOFError at the end."""
    console.print(prompt, end="", highlight=False)
    if lines is None:
        return input().strip()
    line = lines.readline()
    if not line:
        console.print()
        raise EOFError("the input ended")
    if lines.echo:
        console.print(escape(line.strip()), highlight=False)
    return line.strip()


def confirm(console: Console, prompt: str, lines: Lines | None) -> bool:
    """y or n, asked again until it is one of them."""
    while True:
        answer = ask(console, prompt, lines).casefold()
        if answer in YES | NO:
            return answer in YES
        console.print("  [red]Type y or n.[/red]", highlight=False)
