"""The web app's connection cap and timeouts, on a real uvicorn server with small limits."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from collections.abc import Iterator

import pytest

from bot.web import WebLimits, WebServer, build_web_app

LIMITS = WebLimits(max_connections=5, keep_alive=1, read_timeout=2.0)


@pytest.fixture
def server() -> Iterator[WebServer]:
    running = WebServer(build_web_app(limits=LIMITS), host="127.0.0.1", port=0,
                        limits=LIMITS).start()
    try:
        yield running
    finally:
        running.stop()


def health(server: WebServer) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz",
                                    timeout=5) as answer:
            assert json.loads(answer.read())["ok"] is True
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def test_connections_over_the_cap_get_503_until_idle_ones_are_cut_off(server):
    idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(5)]
    try:
        time.sleep(0.2)
        assert health(server) == 503
        time.sleep(LIMITS.read_timeout + 0.5)  # the idle ones are closed by now
        assert health(server) == 200
    finally:
        for sock in idle:
            sock.close()


def test_an_idle_keep_alive_connection_is_closed(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        started = time.monotonic()
        answer = b""
        while chunk := sock.recv(4096):  # until the server closes it: we never do
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 200")
        assert time.monotonic() - started < LIMITS.keep_alive + 1.5


def test_a_port_in_use_fails_at_start():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            WebServer(build_web_app(), host="127.0.0.1", port=taken.getsockname()[1]).start()


def _clicks(platform: str) -> float:
    from bot import metrics

    for family in metrics.current().clicks.collect():
        for sample in family.samples:
            if sample.name.endswith("_count") and sample.labels == {"platform": platform}:
                return sample.value
    return 0


def test_chat_interactions_are_timed_and_other_traffic_is_not():
    """A Teams card action and a Slack button click count as clicks; a Teams message, a
    Slack slash command and a health check do not."""
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from bot import metrics

    metrics.reset()

    async def answer(request):
        await request.body()
        return JSONResponse({"ok": True})

    app = build_web_app([Route("/api/messages", answer, methods=["POST"]),
                         Route("/slack/events", answer, methods=["POST"])])
    server = WebServer(app, host="127.0.0.1", port=0, limits=LIMITS).start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        for path, body in (
                ("/api/messages", {"type": "invoke", "name": "adaptiveCard/action"}),
                ("/api/messages", {"type": "message", "text": "hello"}),
                ("/slack/events", "payload=%7B%22type%22%3A%22block_actions%22%7D"),
                ("/slack/events", "command=%2Fcost&text=payload%3D1")):
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            with urllib.request.urlopen(urllib.request.Request(base + path, data=data),
                                        timeout=5) as reply:
                assert reply.status == 200
        assert health(server) == 200
    finally:
        server.stop()
    assert (_clicks("teams"), _clicks("slack")) == (1, 1)


def test_metrics_need_the_bearer_token_when_one_is_set():
    from prometheus_client import CollectorRegistry, Counter

    from bot.web import metrics_route

    registry = CollectorRegistry()
    Counter("spendwatch_probe_total", "A probe.", registry=registry).inc()
    app = build_web_app([metrics_route(registry, token="t0ken")])
    server = WebServer(app, host="127.0.0.1", port=0, limits=LIMITS).start()
    url = f"http://127.0.0.1:{server.port}/metrics"

    def get(headers):
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                        timeout=5) as reply:
                return reply.status, reply.headers["Content-Type"], reply.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers["WWW-Authenticate"], error.read().decode()

    try:
        missing = get({})
        wrong = get({"Authorization": "Bearer t0ken-and-more"})
        plain = get({"Authorization": "Bearer t0ken"})
        open_metrics = get({"Authorization": "Bearer t0ken",
                            "Accept": "application/openmetrics-text; version=1.0.0"})
    finally:
        server.stop()
    assert missing[:2] == (401, "Bearer") and wrong[0] == 401
    assert plain[0] == 200 and plain[1].startswith("text/plain; version=0.0.4")
    assert "spendwatch_probe_total 1.0" in plain[2]
    assert open_metrics[1].startswith("application/openmetrics-text")
    assert open_metrics[2].rstrip().endswith("# EOF")
