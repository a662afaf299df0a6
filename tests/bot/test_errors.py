"""One place turns what went wrong into what a person reads."""

from __future__ import annotations

import pytest

from bot.anomaly.access import NotAllowed, NothingChanged, ResponseError
from bot.chat.ids import BadPayload, parse_ref
from bot.chat.port import ChatUnavailable
from bot.chat.ratelimit import RateLimited, RateLimiter
from bot.costs.command import CostCommandError
from bot.errors import ACTION_FAILED, FORM_FAILED, USER_ERRORS, UserError, user_message
from bot.playbook import StepError
from bot.settings import ConfigError


@pytest.mark.parametrize("error", [
    ResponseError("the playbook is complete; see View runbook for what was recorded"),
    NotAllowed("Sorry, this anomaly belongs to team-a; act on it from its alert"),
    NothingChanged("This anomaly is already acknowledged by U1; nothing changed."),
    CostCommandError("unknown period 9q"),
    ConfigError("routing.owners: not a mapping"),
    ChatUnavailable("Slack refused SLACK_BOT_TOKEN (invalid_auth: not a valid token)"),
    UserError("--out /nowhere/x.jsonl: the folder does not exist"),
    StepError("owner", {"owner": "say who owns this spend"}),
])
def test_a_persons_mistake_is_said_in_its_own_words(error):
    assert isinstance(error, USER_ERRORS)
    assert user_message(error) == str(error)
    assert user_message(error, otherwise=FORM_FAILED) == str(error)


def test_a_tampered_button_says_what_to_do():
    with pytest.raises(BadPayload) as caught:
        parse_ref('{"v": 1, "anomaly_id": "x"}')
    assert "use /cost anomalies to find the current alert" in user_message(caught.value)


def test_a_request_over_the_limit_says_when_to_retry():
    limiter = RateLimiter(1, clock=lambda: 0.0)
    limiter.check("U1")
    with pytest.raises(RateLimited) as caught:
        limiter.check("U1")
    assert user_message(caught.value) == (
        "You are going a little fast: please try again in 60 s (a limit per person keeps the "
        "bot responsive for everyone).")
    limiter.check("U2")  # someone else is not held up


@pytest.mark.parametrize("bug", [KeyError("user"), TypeError("'int' is not subscriptable"),
                                 RuntimeError("database is locked")])
def test_a_bug_is_an_apology_that_shows_nothing_of_it(bug):
    assert not isinstance(bug, USER_ERRORS)
    assert user_message(bug) == ACTION_FAILED
    assert user_message(bug, otherwise=FORM_FAILED) == FORM_FAILED
    assert str(bug) not in user_message(bug)
