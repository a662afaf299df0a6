"""How a command tells the person at the terminal what went wrong: one line on standard error.

Every command writes its refusals and warnings through :func:`say` (and stops with
:func:`fail`), so they look the same everywhere and follow ``--log-format``: a red ``error:``
or yellow ``warning:`` line for people (never wrapped, so a pipe or a log keeps it whole), or,
with ``--log-format json``, a JSON log record of logger ``bot.cli`` whose message starts with
``error:`` or ``warning:``, so that a log pipeline can read every line a command writes to
standard error.
"""

from __future__ import annotations

import logging

import typer
from rich.markup import escape

from bot.chat.console.render import errors
from bot.logs import LogFormat, current_format

__all__ = ["fail", "say"]

log = logging.getLogger("bot.cli")

_STYLES = {logging.ERROR: ("error", "red"), logging.WARNING: ("warning", "yellow")}


def say(message: str, *, level: int = logging.ERROR, label: bool = True) -> None:
    """Write ``message`` (plain text; markup in it is shown as typed) as an error or a warning.
    ``label=False`` leaves out the ``error:`` or ``warning:`` in front (a line of a list)."""
    word, colour = _STYLES[level]
    if current_format() == LogFormat.JSON:
        if label:
            log.log(level, "%s: %s", word, message)
        else:
            log.log(level, "%s", message)
        return
    text = f"[{colour}]{word}:[/{colour}] {escape(message)}" if label else escape(message)
    errors.print(text, highlight=False, soft_wrap=True)


def fail(message: str) -> typer.Exit:
    """Say ``message`` as an error; raise what this returns to stop with status 2."""
    say(message)
    return typer.Exit(2)
