"""What a person reads when something goes wrong: one place, for the chat adapters and the CLI.

The errors a person can cause or fix are typed (:data:`USER_ERRORS`) and carry their own words:
a refusal that says who may act, what the state already is, a form's limit, a config key and
its bad value. :func:`user_message` returns those words, the wait for a request over the rate
limit, and for anything else (a bug, which the caller logs with its traceback) a short apology
that never shows a stack trace.
"""

from __future__ import annotations

from bot.anomaly.access import ResponseError
from bot.chat.ids import BadPayload
from bot.chat.port import ChatUnavailable
from bot.chat.ratelimit import RateLimited
from bot.costs.command import CostCommandError
from bot.costs.periods import ReportError
from bot.ingest.sources.focus_parse import FocusFileError
from bot.playbook import PlaybookError, StepError
from bot.settings import ConfigError

__all__ = [
    "ACTION_FAILED",
    "COMMAND_FAILED",
    "FORM_FAILED",
    "QUESTION_FAILED",
    "USER_ERRORS",
    "UserError",
    "user_message",
]

# the apologies for a failure that is not the person's (the caller logs it)
ACTION_FAILED = "that did not work; it is logged. Please try again."
FORM_FAILED = "the form could not be opened; it is logged. Try again."
QUESTION_FAILED = "that question could not be answered; it is logged. Try again."
COMMAND_FAILED = "That could not be done; the error is logged. Try again."


class UserError(Exception):
    """Something the user can fix (a command-line option...); its message says what."""


USER_ERRORS: tuple[type[Exception], ...] = (
    ResponseError,  # and NotAllowed, NothingChanged: the domain's refusals and no-ops
    StepError, BadPayload, RateLimited, CostCommandError, ReportError, PlaybookError,
    ConfigError, FocusFileError, ChatUnavailable, UserError,
)


def user_message(exc: BaseException, *, otherwise: str = ACTION_FAILED) -> str:
    """The text to show for ``exc``: its own words when it is one of :data:`USER_ERRORS`,
    else ``otherwise``."""
    if isinstance(exc, RateLimited):
        return (f"You are going a little fast: please try again in {exc.seconds} s "
                f"(a limit per person keeps the bot responsive for everyone).")
    if isinstance(exc, USER_ERRORS):
        return str(exc)
    return otherwise
