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
