"""The Slack side in Socket Mode, end to end, over a real WebSocket.

The real app starts as ``spendwatch run`` does with ``SLACK_APP_TOKEN``: slack_bolt's
``SocketModeHandler`` (slack_sdk's builtin client) asks the local Web API stub for a socket URL
with the app-level token, opens a WebSocket to the local Socket Mode server, and acknowledges
the envelopes pushed to it. Web API calls (the alert, its update, the ``/cost`` answer) still go
to the Web API stub. Socket Mode payloads are not signed, so nothing here signs anything.

SQLite only: what is new here is the transport; the listeners behind it run on both databases
in the HTTP end-to-end tests.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl

import pytest

from bot.chat.ids import ActionId, AlertRef
from bot.chat.port import ChatUnavailable
from bot.demodata import write_demo_data
from bot.demodata.catalogue import LINES
from bot.runner import Mode, Runtime
from bot.settings import (
    EscalationSettings,
    FocusSourceSettings,
    RoutingSettings,
    ScheduleSettings,
    Settings,
)
from bot.wiring import Services, build_services
from tests.bot.chat.slack.test_end_to_end import (
    FINOPS,
    OWNER_CHANNEL,
    announce_live_incident,
    until,
)
from tests.support.slack_requests import (
    VERIFICATION_TOKEN,
    block_actions_body,
    slash_command_body,
)
from tests.support.slack_stub import APP_ID, BOT_USER_ID, TEAM_ID, SlackApiStub
from tests.support.socket_mode_stub import SocketModeStub

BOT_TOKEN = "xoxb-1234-5678-test"
APP_TOKEN = "xapp-1-A0SPENDWT-1234-0a1b2c3d4e5f"
ACK_SECONDS = 3.0  # Slack's limit for acknowledging an envelope


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo-data")
    write_demo_data(out, days=21, seed=42)
    return out


@pytest.fixture
def server() -> Iterator[SocketModeStub]:
    with SocketModeStub() as server:
        yield server


@pytest.fixture
def stub(server: SocketModeStub) -> Iterator[SlackApiStub]:
    with SlackApiStub(ts_base=int(time.time())) as stub:  # message ts are clock times in Slack
        stub.set_response("apps.connections.open", {"ok": True, "url": server.url})
        yield stub


@pytest.fixture
def services(settings: Settings, demo_data: Path) -> Iterator[Services]:
    settings = settings.model_copy(update={
        "sources": [FocusSourceSettings(path=demo_data, name="demo")],
        "routing": RoutingSettings(default_channel=FINOPS, owners={
            line.owner: OWNER_CHANNEL for line in LINES if line.owner}),
        "escalation": EscalationSettings(ack_minutes=1, escalate_minutes=2),
        "schedule": ScheduleSettings(channel_pace_seconds=0.05),
    })
    services = build_services(settings)
    try:
        yield services
    finally:
        services.close()


def start(services: Services, stub: SlackApiStub) -> Runtime:
    mode = Mode("socket", bot_token=BOT_TOKEN, app_token=APP_TOKEN, api_url=stub.base_url)
    return Runtime(services, mode, schedule=False).start()


@pytest.fixture
def runtime(services: Services, stub: SlackApiStub) -> Iterator[Runtime]:
    running = start(services, stub)
    try:
        yield running
    finally:
        running.stop()


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]


def deliver_envelope(server: SocketModeStub, type_: str,
                     payload: dict[str, Any]) -> dict[str, Any]:
    """Push an envelope and return the app's acknowledgement, checking Slack's 3 s limit."""
    started = time.perf_counter()
    envelope_id = server.send_envelope(type_, payload)
    ack = server.wait_ack(envelope_id, timeout=ACK_SECONDS)
    assert time.perf_counter() - started < ACK_SECONDS
    assert ack["envelope_id"] == envelope_id
    return ack


def test_the_app_connects_then_a_click_and_cost_arrive_over_the_socket(
        runtime, stub, server, caplog):
    [opened] = stub.calls_to("apps.connections.open")
    assert opened.headers["authorization"] == f"Bearer {APP_TOKEN}"
    assert not any(APP_TOKEN in call.headers.get("authorization", "") for call in stub.calls
                   if call.method != "apps.connections.open"), "the app token is for the socket"
    conn = server.wait_connected()
    assert conn.path == "/link/" + server.url.split("/link/", 1)[1]
    assert conn.headers["sec-websocket-version"] == "13"
    until(lambda: conn.pings >= 1)  # slack_sdk pings right after the handshake

    # Acknowledge: acked over the socket at once, the alert updated through the Web API
    anomaly, channel, ts = announce_live_incident(runtime, stub)
    body = block_actions_body(action_id=ActionId.ACKNOWLEDGE.value,
                              value=AlertRef(anomaly_id=anomaly.id).model_dump_json(),
                              user_id="U0ACK", channel_id=channel, message_ts=ts,
                              response_url=stub.new_response_url())
    payload = json.loads(parse_qs(body.decode())["payload"][0])
    ack = deliver_envelope(server, "interactive", payload)
    assert "payload" not in ack, "a button click is acknowledged with nothing else"
    until(lambda: any("acknowledged" in m.text for m in stub.thread(channel, ts))
          and "U0ACK" in json.dumps(stub.message(channel, ts).blocks))
    assert ActionId.ACKNOWLEDGE.value not in json.dumps(stub.message(channel, ts).blocks)

    # /cost: acked over the socket, answered ephemerally on the response_url
    response_url = stub.new_response_url()
    body = slash_command_body(text=anomaly.project, user_id="U0ACK", channel_id=FINOPS,
                              response_url=response_url)
    ack = deliver_envelope(server, "slash_commands", dict(parse_qsl(body.decode())))
    assert "payload" not in ack, "the answer follows on the response_url"
    until(lambda: bool(stub.responses(response_url)), timeout=5)
    answer = stub.responses(response_url)[-1]
    assert answer["response_type"] == "ephemeral" and anomaly.project in answer["text"]
    assert "$" in answer["text"]

    assert len(server.connections) == 1 and conn.ended is None and not server.errors
    assert not errors_logged(caplog)


def test_an_event_is_acked_and_stop_closes_the_socket_leaving_no_thread_behind(
        services, stub, server, caplog):
    before = set(threading.enumerate())
    runtime = start(services, stub)
    try:
        conn = server.wait_connected()
        until(lambda: conn.pings >= 2)  # one after the handshake, one from the first check
        # an event round trip: every frame sent so far has been read by the app
        event = {"type": "app_home_opened", "user": "U0ACK", "channel": "D0ACK", "tab": "home",
                 "event_ts": f"{time.time():.6f}"}
        payload = {"token": VERIFICATION_TOKEN, "team_id": TEAM_ID, "api_app_id": APP_ID,
                   "event": event, "type": "event_callback", "event_id": "Ev0SPENDWT01",
                   "event_time": int(time.time()), "is_ext_shared_channel": False,
                   "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER_ID,
                                       "is_bot": True, "is_enterprise_install": False}]}
        assert "payload" not in deliver_envelope(server, "events_api", payload)
        until(lambda: "U0ACK" in stub.home_views)
    finally:
        runtime.stop()
    # slack_sdk's builtin client sends no close frame: it closes the TCP connection
    assert server.wait_ended(conn, timeout=5) == "eof"

    def leftover() -> list[threading.Thread]:
        """Threads the runtime started that are still running (the listener pool included)."""
        return [t for t in threading.enumerate() if t not in before and t.is_alive()]

    until(lambda: not leftover(), timeout=5)
    assert len(server.connections) == 1 and not server.errors
    assert not errors_logged(caplog)


def test_a_socket_that_does_not_open_stops_the_start_with_a_clear_error(services, stub):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    stub.set_response("apps.connections.open",
                      {"ok": True, "url": f"ws://127.0.0.1:{port}/link/?ticket=x"})
    before = set(threading.enumerate())
    runtime = Runtime(services, Mode("socket", bot_token="xoxb-1-2-abc", app_token="xapp-1-A1-x",
                                     api_url=stub.base_url), schedule=False)
    with pytest.raises(ChatUnavailable, match="Socket Mode could not connect"):
        runtime.start()
    until(lambda: not [t for t in threading.enumerate() if t not in before and t.is_alive()],
          timeout=10)
