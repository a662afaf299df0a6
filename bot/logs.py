"""How log lines are written: plain text for people, or one JSON object a line for collectors.

``spendwatch --log-format json`` (or ``SPENDWATCH_LOG_FORMAT=json``) turns every line into an
object with ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message`` and, when there was
one, ``exception`` (the traceback as text), so a log pipeline needs no parsing rules. Text
stays the default. Set up once, by the command's entry point (``bot.cli.main``), never at
import. What is logged is the same in both formats: no secret reaches a log line either way.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from pythonjsonlogger.json import JsonFormatter

__all__ = ["LogFormat", "configure_logging", "current_format"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


def configure_logging(*, level: str = "WARNING", fmt: LogFormat | str = LogFormat.TEXT) -> None:
    """Send log lines to standard error at ``level`` in ``fmt`` (replacing any set-up before).
    An unknown level or format raises ValueError naming the choices."""
    try:
        chosen = LogFormat(str(fmt).lower())
    except ValueError:
        raise ValueError(f"log format {fmt!r} is not one of: "
                         f"{', '.join(f.value for f in LogFormat)}") from None
    names = logging.getLevelNamesMapping()
    if level.upper() not in names:
        raise ValueError(f"log level {level!r} is not one of: DEBUG, INFO, WARNING, ERROR")
    handler = logging.StreamHandler()
    handler.setFormatter(_json_formatter() if chosen == LogFormat.JSON
                         else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


def current_format() -> LogFormat:
    """JSON when the root logger writes JSON objects, else text: how the command's own error
    line must be written so a log pipeline can read every line of standard error."""
    if any(isinstance(handler.formatter, JsonFormatter)
           for handler in logging.getLogger().handlers):
        return LogFormat.JSON
    return LogFormat.TEXT


def _json_formatter() -> logging.Formatter:
    return JsonFormatter(
        "%(levelname)s %(name)s %(message)s",
        rename_fields={"levelname": "level", "name": "logger", "exc_info": "exception"},
        timestamp="time")
