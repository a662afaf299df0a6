"""Signed inbound Slack traffic: accepted by slack_sdk's verifier, routed by a real Bolt app."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_bolt import App, BoltRequest
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from tests.support.slack_requests import (
    block_actions_body,
    checkboxes_value,
    option,
    plain_text_value,
    post,
    sign,
    slash_command_body,
    static_select_value,
    users_select_value,
    view_submission_body,
)
from tests.support.slack_stub import SlackApiStub

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.fixture
def stub() -> Iterator[SlackApiStub]:
    with SlackApiStub() as running:
        yield running


def _form(body: bytes) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(body.decode()).items()}


def _payload(body: bytes) -> dict[str, Any]:
    return json.loads(_form(body)["payload"])


def test_signature_is_accepted_by_slack_sdk_and_stale_or_tampered_ones_are_not() -> None:
    body = slash_command_body(text="last 7d", user_id="U1", channel_id="C1",
                              response_url="https://hooks.slack.com/commands/1/2")
    verifier = SignatureVerifier(SECRET)
    headers = sign(body, SECRET)

    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert headers["X-Slack-Signature"].startswith("v0=")
    assert verifier.is_valid_request(body, headers)
    assert not verifier.is_valid_request(body, sign(body, SECRET, int(time.time()) - 301))
    assert not verifier.is_valid_request(body + b"&x=1", headers)
    assert not verifier.is_valid_request(body, sign(body, "another-secret"))


def test_slash_command_body_has_every_field_slack_sends() -> None:
    fields = _form(slash_command_body(text="last 7d", user_id="U1", channel_id="C1",
                                      response_url="https://example.test/r", trigger_id="1.2.3"))
    assert set(fields) == {
        "token", "team_id", "team_domain", "channel_id", "channel_name", "user_id", "user_name",
        "command", "text", "api_app_id", "is_enterprise_install", "response_url", "trigger_id"}
    assert (fields["command"], fields["text"], fields["trigger_id"]) == (
        "/cost", "last 7d", "1.2.3")


def test_block_actions_body_for_a_button_and_a_static_select() -> None:
    button = _payload(block_actions_body(action_id="ack", value="alert-42", user_id="U1",
                                         channel_id="C1", message_ts="1700000000.000100"))
    choice = _payload(block_actions_body(action_id="period", selected_option=option("7d"),
                                         user_id="U1", channel_id="C1", message_ts="1.2"))

    assert button["type"] == "block_actions" and button["channel"]["id"] == "C1"
    assert button["container"] == {"type": "message", "message_ts": "1700000000.000100",
                                   "channel_id": "C1", "is_ephemeral": False}
    action = button["actions"][0]
    assert (action["type"], action["action_id"], action["value"]) == ("button", "ack", "alert-42")
    assert {"user", "api_app_id", "token", "trigger_id", "team", "message",
            "response_url"} <= set(button)
    assert choice["actions"][0]["type"] == "static_select"
    assert choice["actions"][0]["selected_option"]["value"] == "7d"


def test_view_submission_body_carries_state_values_in_slack_shapes() -> None:
    values = {
        "amount": {"amount_input": plain_text_value("1200")},
        "period": {"period_select": static_select_value("monthly", "Monthly")},
        "owner": {"owner_select": users_select_value("U7")},
        "notify": {"notify_boxes": checkboxes_value(["email"])},
    }
    payload = _payload(view_submission_body(callback_id="budget", private_metadata='{"v":1}',
                                            values=values, user_id="U1"))
    view = payload["view"]

    assert (payload["type"], payload["response_urls"]) == ("view_submission", [])
    assert (view["type"], view["callback_id"], view["private_metadata"]) == (
        "modal", "budget", '{"v":1}')
    state = view["state"]["values"]
    assert state["amount"]["amount_input"]["value"] == "1200"
    assert state["period"]["period_select"]["selected_option"]["value"] == "monthly"
    assert state["owner"]["owner_select"]["selected_user"] == "U7"
    assert state["notify"]["notify_boxes"]["selected_options"][0]["value"] == "email"


def test_post_returns_http_errors_instead_of_raising(stub: SlackApiStub) -> None:
    url = stub.new_response_url()
    ok = post(url, b'{"text": "hi"}', {"Content-Type": "application/json"})
    missing = post(f"{stub.root_url}/nowhere", b"", {})
    assert (ok[0], json.loads(ok[2])) == (200, {"ok": True})
    assert missing[0] == 404


def _bolt_app(stub: SlackApiStub, seen: dict[str, Any]) -> App:
    """A Bolt app on the stub whose listeners ack first and note what they were given."""
    app = App(client=WebClient(base_url=stub.base_url, token="xoxb-test"),
              signing_secret=SECRET, process_before_response=True)

    def on_cost(ack: Any, command: dict[str, Any], respond: Any) -> None:
        ack()
        seen["command"] = command["text"]
        respond(text=f"Cost for {command['text']}")

    def on_ack(ack: Any, body: dict[str, Any], client: WebClient) -> None:
        ack()
        client.chat_update(channel=body["channel"]["id"],
                           ts=body["container"]["message_ts"], text="Acknowledged")

    def on_budget(ack: Any, view: dict[str, Any]) -> None:
        ack()
        seen["amount"] = view["state"]["values"]["amount"]["amount_input"]["value"]

    app.command("/cost")(on_cost)
    app.action("ack")(on_ack)
    app.view("budget")(on_budget)
    return app


def _dispatch(app: App, body: bytes, timestamp: int | None = None) -> int:
    request = BoltRequest(body=body.decode(), headers=sign(body, SECRET, timestamp))
    return app.dispatch(request).status


def test_a_bolt_app_verifies_and_routes_every_kind_of_body(stub: SlackApiStub) -> None:
    seen: dict[str, Any] = {}
    app = _bolt_app(stub, seen)
    ts = WebClient(base_url=stub.base_url, token="xoxb-test").chat_postMessage(
        channel="C1", text="EC2 +40%")["ts"]
    url = stub.new_response_url()
    command = slash_command_body(text="last 7d", user_id="U1", channel_id="C1", response_url=url)
    click = block_actions_body(action_id="ack", value="1", user_id="U1", channel_id="C1",
                               message_ts=ts)
    submit = view_submission_body(callback_id="budget", user_id="U1",
                                  values={"amount": {"amount_input": plain_text_value("900")}})

    assert [_dispatch(app, body) for body in (command, click, submit)] == [200, 200, 200]
    assert _dispatch(app, command, int(time.time()) - 600) == 401
    assert seen == {"command": "last 7d", "amount": "900"}
    assert stub.responses(url) == [{"text": "Cost for last 7d"}]
    assert stub.message("C1", ts).text == "Acknowledged"
    assert len(stub.calls_to("auth.test")) == 1
