"""Fuzzing every inbound Slack request the bot handles, signed, over real HTTP.

The real bot runs in HTTP mode (``tests.support.slack_runtime``) against the local Web API
stub; each example is one correctly signed request: a ``/cost`` command with garbage text, a
``block_actions`` click with a fuzzed action id, value, user and channel, a
``view_submission`` with fuzzed metadata and state, a shortcut, an event, or a ``payload``
that is not JSON at all. The properties:

* the answer is 200, or 400 for a body Slack never sends (``bot.chat.slack.http``); never a
  500, and nothing logged with a traceback;
* a click or a submission on nothing valid changes no row of the store;
* text a user typed comes back escaped: no ``<!channel>``, ``<!here>`` or injected
  ``<@U...>`` mention reaches a message or a response.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote_plus, urlencode

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlmodel import SQLModel

from bot.chat.ids import ActionId, CallbackId
from bot.runner import Runtime
from bot.settings import LimitSettings, Settings
from tests.support.anomalies import add_anomaly, with_routing
from tests.support.fuzzing import fuzz_settings, texts
from tests.support.slack_requests import (
    block_actions_body,
    post,
    sign,
    slash_command_body,
    view_submission_body,
)
from tests.support.slack_runtime import http_runtime
from tests.support.slack_stub import SlackApiStub
from tests.support.slack_stub_state import APP_ID, TEAM_ID

ANOMALY = 1  # the open anomaly the store holds
SECRET = "fuzz-signing-secret-0123456789abcdef"
TOKEN = "xoxb-fuzz-token"
INJECTIONS = ["<!channel>", "<!here>", "<!everyone>", "<@UINJECTED>", "<#C0INJECT|x>",
              "<https://evil.example|click>", "&lt;!channel&gt;"]
# stands in for the stub's response URL, made when the request is sent
RESPONSE_URL = "https://response.invalid/fuzz"
ALARMS = ("<!channel>", "<!here>", "<!everyone>", "<@UINJECTED>")

words = st.sampled_from(["plan", "budget", "feedback", "undo", "help", "add", "list", "7d",
                         "30d", "--by", "service", "project", "prod", "-1", "0", "1e99",
                         "2025-02-30", "NaN", "$1,000", *INJECTIONS])
garbage = st.text(st.characters(exclude_categories=("Cs",)), max_size=60)
phrases = st.lists(st.one_of(words, garbage), max_size=6).map(" ".join)
ids = st.one_of(st.sampled_from(["U1", "C1", "", "UNKNOWN", "U" + "9" * 40, "<@U1>"]),
                st.text(st.characters(codec="ascii"), max_size=12))
refs = st.one_of(
    garbage,
    st.fixed_dictionaries({"v": st.sampled_from([1, 2, "1", None]),
                           "anomaly_id": st.one_of(st.integers(), st.floats(), st.text()),
                           "hours": st.one_of(st.none(), st.integers())},
                          optional={"extra": st.text(max_size=5)}).map(json.dumps),
    st.just('{"v":1,"anomaly_id":999999}'),
    st.sampled_from([None, 1, 4, 24, -1, 10**9]).map(
        lambda hours: json.dumps({"v": 1, "anomaly_id": ANOMALY, "hours": hours})),
)
action_ids = st.one_of(st.sampled_from([a.value for a in ActionId]), garbage)
callback_ids = st.one_of(st.sampled_from([c.value for c in CallbackId]), garbage)


@dataclass
class SlackRequest:
    kind: str
    body: bytes
    content_type: str = "application/x-www-form-urlencoded"
    changes_nothing: bool = True
    typed: list[str] = field(default_factory=list)  # what the user typed, to look for

    def __repr__(self) -> str:
        return f"SlackRequest(kind={self.kind!r}, body={self.body[:400]!r})"


@st.composite
def slash_commands(draw: st.DrawFn) -> SlackRequest:
    text = draw(phrases)
    body = slash_command_body(text=text, user_id=draw(ids), channel_id=draw(ids),
                              response_url=RESPONSE_URL)
    # a command may do what it says (add a plan, say): rows may change
    return SlackRequest("command", body, changes_nothing=False, typed=[text])


@st.composite
def clicks(draw: st.DrawFn) -> SlackRequest:
    body = block_actions_body(action_id=draw(action_ids), value=draw(refs), user_id=draw(ids),
                              response_url=RESPONSE_URL,
                              channel_id=draw(ids), message_ts=draw(st.sampled_from(
                                  ["1700000000.000100", "", "not-a-ts"])),
                              block_id=draw(st.sampled_from(["actions", "", "x" * 300])),
                              button_text=draw(garbage))
    return SlackRequest("block_actions", body)


@st.composite
def submissions(draw: st.DrawFn) -> SlackRequest:
    state = draw(st.dictionaries(
        st.text(max_size=10),
        st.dictionaries(st.text(max_size=10), st.one_of(
            st.fixed_dictionaries({"type": st.just("plain_text_input"),
                                   "value": st.one_of(st.none(), phrases)}),
            st.fixed_dictionaries({"type": st.just("static_select"),
                                   "selected_option": st.one_of(st.none(), st.fixed_dictionaries(
                                       {"value": garbage}))}),
            st.fixed_dictionaries({"type": st.just("users_select"),
                                   "selected_user": st.one_of(st.none(), ids)}),
            st.fixed_dictionaries({"type": st.sampled_from(["checkboxes", "nonsense"]),
                                   "selected_options": st.lists(st.fixed_dictionaries(
                                       {"value": garbage}), max_size=3)}),
        ), max_size=3), max_size=3))
    metadata = draw(st.one_of(refs, st.fixed_dictionaries({
        "v": st.just(1), "anomaly_id": st.one_of(st.just(ANOMALY), st.integers(-5, 10**12)),
        "step_id": st.one_of(st.sampled_from(["owner", "what_changed", "stabilise"]), garbage),
        "channel": ids}).map(json.dumps)))
    body = view_submission_body(callback_id=draw(callback_ids), private_metadata=metadata,
                                values=state, user_id=draw(ids))
    return SlackRequest("view_submission", body)


@st.composite
def odd_payloads(draw: st.DrawFn) -> SlackRequest:
    kind = draw(st.sampled_from(["not_json", "json_array", "shortcut", "event", "form",
                                 "url_verification", "unknown_type"]))
    if kind == "not_json":
        return SlackRequest(kind, urlencode({"payload": draw(garbage) + "{"}).encode())
    if kind == "json_array":
        return SlackRequest(kind, urlencode({"payload": "[1, 2]"}).encode())
    if kind == "shortcut":
        payload = {"type": draw(st.sampled_from(["shortcut", "message_action"])),
                   "callback_id": draw(callback_ids), "trigger_id": "1.2.3",
                   "user": {"id": draw(ids)}, "team": {"id": TEAM_ID}, "api_app_id": APP_ID}
        return SlackRequest(kind, urlencode({"payload": json.dumps(payload)}).encode())
    if kind == "unknown_type":
        payload = {"type": draw(garbage), "user": {"id": draw(ids)}, "team": {"id": TEAM_ID}}
        return SlackRequest(kind, urlencode({"payload": json.dumps(payload)}).encode())
    if kind == "form":
        fields = draw(st.dictionaries(st.text(max_size=10), garbage, max_size=4))
        return SlackRequest(kind, urlencode(fields).encode())
    if kind == "url_verification":
        body = json.dumps({"type": "url_verification", "challenge": draw(garbage),
                           "token": "x"}).encode()
        return SlackRequest(kind, body, content_type="application/json")
    event = {"type": draw(st.sampled_from(["app_home_opened", "message", "app_mention",
                                           "nonsense"])),
             "user": draw(ids), "channel": draw(ids), "tab": draw(st.sampled_from(
                 ["home", "messages", ""])), "text": draw(phrases)}
    body = json.dumps({"type": "event_callback", "team_id": TEAM_ID, "api_app_id": APP_ID,
                       "event": event, "event_id": "Ev" + str(time.time_ns()),
                       "event_time": int(time.time())}).encode()
    return SlackRequest(kind, body, content_type="application/json", changes_nothing=False)


slack_requests = st.one_of(slash_commands(), clicks(), submissions(), odd_payloads())


class _Tracebacks(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Bot:
    runtime: Runtime
    stub: SlackApiStub
    errors: _Tracebacks

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.runtime.http_port}/slack/events"

    def rows(self) -> dict[str, int]:
        with self.runtime.services.engine.connect() as connection:
            return {table.name: connection.execute(select(func.count()).select_from(table))
                    .scalar_one() for table in SQLModel.metadata.sorted_tables}


@contextmanager
def running_bot() -> Iterator[Bot]:
    with tempfile.TemporaryDirectory(prefix="slack-fuzz-") as folder, \
            SlackApiStub(ts_base=int(time.time())) as stub:
        settings = with_routing(Settings(
            database_url=f"sqlite:///{Path(folder) / 'fuzz.db'}",
            quarantine_dir=Path(folder) / "quarantine",
            # thousands of requests by a few people: past a per-person limit they would only
            # ever meet the "you are going a little fast" answer
            limits=LimitSettings(actions_per_minute=10_000, commands_per_minute=10_000)))
        errors = _Tracebacks()
        logging.getLogger().addHandler(errors)
        try:
            with http_runtime(settings, stub, token=TOKEN, secret=SECRET) as runtime:
                # open, owned by a team whose responders no fuzzed user is: every click and
                # submission on it must be refused
                anomaly = add_anomaly(runtime.services.engine, owner="team-data",
                                      project="etl")
                assert anomaly == ANOMALY
                yield Bot(runtime, stub, errors)
        finally:
            logging.getLogger().removeHandler(errors)


@pytest.fixture(scope="module")
def bot() -> Iterator[Bot]:
    with running_bot() as running:
        yield running


def check_request(bot: Bot, request: SlackRequest) -> None:
    before = bot.rows() if request.changes_nothing else None
    calls = len(bot.stub.calls)
    bot.errors.records.clear()
    body = request.body.replace(quote_plus(RESPONSE_URL).encode(),
                                quote_plus(bot.stub.new_response_url()).encode())
    headers = sign(body, SECRET, content_type=request.content_type)
    status, _, answer = post(bot.url, body, headers)
    assert status in (200, 400, 404), f"answered {status}: {answer[:200]}"
    if status == 400:
        assert "invalid request" in answer, answer[:200]
    bot.runtime.deliverer.drain(timeout=5)
    new_calls = bot.stub.calls[calls:]
    tracebacks = [r for r in bot.errors.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not tracebacks, f"logged {tracebacks[0].levelname}: {tracebacks[0].getMessage()}"
    if before is not None:
        after = bot.rows()
        assert after == before, f"rows changed: {before} -> {after}"
    said = [answer, *(t for call in new_calls for t in texts(call.params))]
    for alarm in ALARMS:
        if any(alarm in typed for typed in request.typed):
            leaked = [s for s in said if alarm in s]
            assert not leaked, f"{alarm} typed by a user came back unescaped: {leaked[0][:200]}"


# found by fuzzing: App Home opened by "" made views.publish fail with a traceback
EMPTY_HOME_USER = SlackRequest("event", json.dumps({
    "type": "event_callback", "team_id": TEAM_ID, "api_app_id": APP_ID,
    "event": {"type": "app_home_opened", "user": "", "channel": "", "tab": "messages",
              "text": "feedback"}, "event_id": "Ev1", "event_time": 1}).encode(),
    content_type="application/json", changes_nothing=False)


@fuzz_settings(15)
@given(request=slack_requests)
@example(request=EMPTY_HOME_USER)
def test_a_fuzzed_slack_request_is_answered_and_changes_nothing_it_should_not(
        bot: Bot, request: SlackRequest) -> None:
    check_request(bot, request)


TARGETS = {"slack": (slack_requests, running_bot, check_request)}
