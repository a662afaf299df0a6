"""HTTP mode's front door holds: what a hostile or broken client sends, over real sockets.

The real app runs in HTTP mode (``bot.runner.Runtime``) on a free port of 127.0.0.1, its
WebClient pointed at the local Slack Web API stub. Malformed bodies are refused with one log
line, oversized ones before they are read, and slow clients are cut off without a thread each.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest

from bot.chat.ids import ActionId
from bot.runner import Runtime
from bot.settings import Settings
from bot.web import WebLimits
from tests.support.slack_requests import (
    FORM_CONTENT_TYPE,
    block_actions_body,
    plain_text_value,
    post,
    sign,
    slash_command_body,
    view_submission_body,
)
from tests.support.slack_runtime import http_runtime, until
from tests.support.slack_stub import SlackApiStub

SECRET = "front-door-signing-secret-0123456"
TOKEN = "xoxb-1234-5678-front"
LIMITS = WebLimits()


@pytest.fixture(scope="module")
def stub() -> Iterator[SlackApiStub]:
    with SlackApiStub(ts_base=int(time.time())) as stub:
        yield stub


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory, stub: SlackApiStub) -> Iterator[Runtime]:
    tmp: Path = tmp_path_factory.mktemp("front-door")
    settings = Settings(database_url=f"sqlite:///{tmp / 'sw.db'}",
                        quarantine_dir=tmp / "quarantine")
    with http_runtime(settings, stub, token=TOKEN, secret=SECRET) as running:
        yield running


def url(runtime: Runtime, path: str = "/slack/events") -> str:
    return f"http://127.0.0.1:{runtime.http_port}{path}"


def click_body(stub: SlackApiStub) -> bytes:
    """A well-formed click on an anomaly that does not exist: acknowledged, then explained."""
    return block_actions_body(action_id=ActionId.ACKNOWLEDGE.value,
                              value='{"v":1,"anomaly_id":999999}', user_id="U0DOOR",
                              channel_id="C0DOOR", message_ts="1.000001",
                              response_url=stub.new_response_url())


def raw(runtime: Runtime, request: bytes, *, timeout: float = 10.0) -> bytes:
    """Send bytes as they are; everything the server answers until it closes or goes quiet."""
    with socket.create_connection(("127.0.0.1", runtime.http_port), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks) and _complete(b"".join(chunks)):
                    break
        except TimeoutError:
            pass
        return b"".join(chunks)


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split(b" ")[1])


def _request(body: bytes, headers: dict[str, str], *, length: str | None = None) -> bytes:
    lines = ["POST /slack/events HTTP/1.1", "Host: 127.0.0.1",
             f"Content-Length: {len(body) if length is None else length}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


MALFORMED = {
    "payload not JSON": (b"payload=%7Bnot+json", "application/x-www-form-urlencoded"),
    "payload a JSON array": (b"payload=%5B1%2C2%5D", "application/x-www-form-urlencoded"),
    "body a JSON array": (b'[{"type":"block_actions"}]', "application/json"),
    "not UTF-8": (b"payload=\xff\xfe\x00{", "application/x-www-form-urlencoded"),
    "content type that lies": (b"payload=%7B%7D&x=1", "application/json"),
}


def _payload(body: bytes) -> dict[str, Any]:
    return json.loads(parse_qs(body.decode())["payload"][0])


def _as_form(payload: dict[str, Any]) -> tuple[bytes, str]:
    return urlencode({"payload": json.dumps(payload)}).encode(), FORM_CONTENT_TYPE


def _click(**changes: Any) -> tuple[bytes, str]:
    payload = _payload(block_actions_body(
        action_id=ActionId.ACKNOWLEDGE.value, value='{"v":1,"anomaly_id":999999}',
        user_id="U0DOOR", channel_id="C0DOOR", message_ts="1.000001"))
    return _as_form({**payload, **changes})


def _without(field: str) -> tuple[bytes, str]:
    payload = _payload(_click()[0])
    del payload[field]
    return _as_form(payload)


def _submission(**changes: Any) -> tuple[bytes, str]:
    payload = _payload(view_submission_body(
        callback_id="alert.expected_reason", private_metadata="{}", user_id="U0DOOR",
        values={"reason": {"reason": plain_text_value("a load test")}}))
    return _as_form({**payload, **changes})


def _json(payload: Any) -> tuple[bytes, str]:
    return json.dumps(payload).encode(), "application/json"


# signed, parseable, and of a shape Slack never sends: each once made Bolt fail inside its
# routing or a listener read a field that is not there (500, a traceback in the log)
WRONG_SHAPES = {
    "actions a number": _click(actions=5),
    "actions empty": _click(actions=[]),
    "an action that is a number": _click(actions=[5]),
    "an action_id that is a number": _click(actions=[{"action_id": 5, "value": "x"}]),
    "no user": _without("user"),
    "user a string": _click(user="U0DOOR"),
    "channel a string": _click(channel="C0DOOR"),
    "container a number": _click(container=5),
    "no trigger_id": _without("trigger_id"),
    "type a number": _click(type=5),
    "view a string": _submission(view="x"),
    "view without its state": _submission(view={"type": "modal", "callback_id": "x"}),
    "state values a list": _submission(view={"type": "modal", "callback_id": "x",
                                             "state": {"values": []}}),
    "event a string": _json({"type": "event_callback", "team_id": "T1", "event": "x"}),
    "no event": _json({"type": "event_callback", "team_id": "T1"}),
    "App Home for a user that is a number": _json({
        "type": "event_callback", "team_id": "T1",
        "event": {"type": "app_home_opened", "user": 5, "tab": "home"}}),
    "App Home for an empty user": _json({
        "type": "event_callback", "team_id": "T1",
        "event": {"type": "app_home_opened", "user": "", "tab": "home"}}),
    "a challenge that is a number": _json({"type": "url_verification", "challenge": 5}),
    "a command without its user": (
        urlencode({k: v[0] for k, v in parse_qs(slash_command_body(
            text="help", user_id="U0DOOR", channel_id="C0DOOR",
            response_url="https://hooks.slack.com/commands/T1/1/x").decode()).items()
                   if k != "user_id"}).encode(), FORM_CONTENT_TYPE),
}


@pytest.mark.parametrize("case", sorted(MALFORMED) + sorted(WRONG_SHAPES))
def test_a_signed_malformed_body_gets_400_and_one_line(runtime, caplog, case):
    body, content_type = {**MALFORMED, **WRONG_SHAPES}[case]
    caplog.set_level(logging.INFO)
    status, _, text = post(url(runtime), body, sign(body, SECRET, content_type=content_type))
    assert status == 400, text
    assert json.loads(text) == {"ok": False, "error": "invalid request"}
    time.sleep(0.1)  # a listener that ran anyway would have logged by now
    refused = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(refused) == 1 and refused[0].exc_info is None, [r.getMessage() for r in refused]
    assert "refused" in refused[0].getMessage() and SECRET not in caplog.text


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_an_unsigned_malformed_body_gets_401_and_one_line(runtime, caplog, case):
    body, content_type = MALFORMED[case]
    caplog.set_level(logging.INFO)
    headers = sign(body, "not-the-secret", content_type=content_type)
    status, _, _ = post(url(runtime), body, headers)
    assert status == 401
    assert post(url(runtime), body, {"Content-Type": content_type})[0] == 401
    refused = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(refused) == 2 and all(r.exc_info is None for r in refused)


@pytest.mark.parametrize("stamp", ["abc", "12.5", "", "-1", "1e9"])
def test_a_timestamp_that_is_not_a_number_gets_401(runtime, stub, caplog, stamp):
    body = click_body(stub)
    headers = {**sign(body, SECRET), "X-Slack-Request-Timestamp": stamp}
    assert post(url(runtime), body, headers)[0] == 401
    assert all(r.exc_info is None for r in caplog.records)


def test_a_content_length_that_is_not_a_number_gets_400(runtime, stub, caplog):
    body = click_body(stub)
    answer = raw(runtime, _request(body, sign(body, SECRET), length="abc"))
    assert status_of(answer) == 400
    assert all(r.exc_info is None for r in caplog.records)


def test_a_well_formed_signed_click_still_gets_200(runtime, stub):
    body = click_body(stub)
    assert post(url(runtime), body, sign(body, SECRET))[0] == 200


def test_a_well_formed_click_is_still_answered_by_its_listener(runtime, stub, caplog):
    response_url = stub.new_response_url()
    payload = _payload(block_actions_body(
        action_id=ActionId.ACKNOWLEDGE.value, value='{"v":1,"anomaly_id":999999}',
        user_id="U0DOOR", channel_id="C0DOOR", message_ts="1.000001",
        response_url=response_url))
    body, content_type = _as_form(payload)
    assert post(url(runtime), body, sign(body, SECRET, content_type=content_type))[0] == 200
    until(lambda: stub.responses(response_url))
    assert "does not exist" in stub.responses(response_url)[-1]["text"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_huge_body_is_refused_from_its_length_before_it_is_read(runtime, caplog):
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    started = time.monotonic()
    # 100 MB announced, 64 KB sent: the answer comes without waiting for the rest
    answer = raw(runtime, _request(b"x" * 65536, headers, length=str(100 * 1024 * 1024)))
    assert status_of(answer) == 413 and time.monotonic() - started < 2
    assert b"connection: close" in answer.lower()
    assert all(r.exc_info is None for r in caplog.records)


def test_a_chunked_body_is_refused_once_it_passes_the_limit(runtime):
    head = (b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n")
    chunk = b"x" * 65536
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk)
                      for _ in range(LIMITS.max_body // len(chunk)))
    past = b"400\r\n" + b"y" * 1024 + b"\r\n"  # one KB over the limit, and no end chunk
    answer = raw(runtime, head + chunks + past)
    assert status_of(answer) == 413


def _threads() -> int:
    return int(next(line.split()[1] for line in Path("/proc/self/status").read_text()
                    .splitlines() if line.startswith("Threads:")))


def test_slow_clients_are_cut_off_and_hold_no_thread_while_clicks_get_through(runtime, stub):
    body = click_body(stub)
    assert post(url(runtime), body, sign(body, SECRET))[0] == 200  # pools warmed up
    before = _threads()
    slow = []
    for n in range(50):  # announce 1,000 bytes, send 10, then stop; a few send no header end
        sock = socket.create_connection(("127.0.0.1", runtime.http_port), timeout=30)
        if n % 10:
            sock.sendall(_request(b"payload=xx", {"Content-Type": "text/plain"}, length="1000"))
        else:
            sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0")
        slow.append(sock)
    opened = time.monotonic()
    try:
        time.sleep(0.5)
        assert _threads() <= before + 5, "a slow connection must not hold a thread"
        started = time.perf_counter()
        status, _, _ = post(url(runtime), body, sign(body, SECRET))
        assert status == 200 and time.perf_counter() - started < 2
        closed = 0
        for sock in slow:
            try:
                while sock.recv(4096):
                    pass
            except OSError:
                pass
            closed += 1
        waited = time.monotonic() - opened
        assert closed == 50 and waited < LIMITS.read_timeout + 3, waited
        assert waited >= LIMITS.read_timeout - 0.5, "cut off by the read timeout, not before"
    finally:
        for sock in slow:
            sock.close()
    assert _threads() <= before + 5


def test_healthz_unknown_paths_and_wrong_methods(runtime):
    import urllib.request

    with urllib.request.urlopen(url(runtime, "/healthz"), timeout=5) as answer:
        assert answer.status == 200 and answer.headers["Content-Type"] == "application/json"
        assert json.loads(answer.read())["ok"] is True
    assert post(url(runtime, "/nowhere"), b"{}", {})[0] == 404
    assert post(url(runtime, "/healthz"), b"{}", {})[0] == 405
    answer = raw(runtime, b"GET /slack/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status_of(answer) == 405
    answer = raw(runtime, b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status_of(answer) == 404
    assert json.loads(answer.partition(b"\r\n\r\n")[2]) == {"ok": False, "error": "not found"}


def test_the_server_never_starts_a_thread_per_request(runtime, stub):
    body = click_body(stub)
    before = threading.active_count()
    for _ in range(20):
        assert post(url(runtime), body, sign(body, SECRET))[0] == 200
    assert threading.active_count() <= before + 5
