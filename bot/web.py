"""The one web app of HTTP mode, and the uvicorn server that runs it in a background thread.

:func:`build_web_app` composes the routes: ``/healthz`` here, the platforms' own endpoints
passed in (``/slack/events`` from ``bot.chat.slack.http``; ``/metrics``, Teams'
``/api/messages`` and the signed change events, ``/events/change`` from
``bot.changes.webhook``, mount the same way). It is a FastAPI app rather than a bare Starlette
one because the Teams SDK mounts itself on an existing FastAPI app
(``FastAPIAdapter(app=...)``); the routes themselves are plain Starlette routes, so no request
pays for FastAPI's parameter machinery.

``/metrics`` (:func:`metrics_route`) serves ``bot.metrics`` in Prometheus' text format; with a
token set (``SPENDWATCH_METRICS_TOKEN``) a scrape must send ``Authorization: Bearer <token>``,
compared in constant time. :class:`ClickTimer` times each chat interaction from its whole
body in to its answer out (``spendwatch_click_seconds``).

The front door holds whatever a client sends:

* a body over :attr:`WebLimits.max_body` is refused with 413 from its ``Content-Length``,
  before it is read, and a chunked body as soon as it passes the limit;
* a request must arrive whole (headers and body) within :attr:`WebLimits.read_timeout` of its
  first byte, and an idle connection is closed after ``keep_alive`` seconds: a client that
  stops sending holds nothing for long;
* at most ``max_connections`` connections are served at once (more get 503), and connections
  cost no thread: platform endpoints run their blocking work on a bounded thread pool.

Each refusal is one log line, never a traceback.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import uvicorn
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from bot import metrics

__all__ = ["HEALTH_PATH", "METRICS_PATH", "ClickTimer", "WebLimits", "WebServer",
           "build_web_app", "metrics_route"]

log = logging.getLogger(__name__)
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
# path -> (platform, what in a body marks an interaction rather than a command or event)
CLICK_PATHS = {"/slack/events": ("slack", b"payload="),
               "/api/messages": ("teams", b"adaptiveCard/action")}


@dataclass(frozen=True)
class WebLimits:
    max_body: int = 1024 * 1024  # Slack's largest payloads (modal submissions) are a few KB
    read_timeout: float = 5.0  # seconds from a request's first byte to its last
    keep_alive: int = 5  # seconds an idle keep-alive connection stays open
    max_connections: int = 512  # served at once; more are answered 503
    backlog: int = 1024  # connections the kernel queues before they are accepted


def build_web_app(routes: Iterable[BaseRoute] = (), *, limits: WebLimits = WebLimits()
                  ) -> FastAPI:
    """The web app: ``/healthz`` and ``routes``, every body bounded by ``limits.max_body``."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None,
                  exception_handlers={HTTPException: _http_error})
    app.router.routes.append(Route(HEALTH_PATH, _health, methods=["GET"]))
    app.router.routes.extend(routes)
    app.add_middleware(ClickTimer)  # inside BoundedBody: it sees the whole body at once
    app.add_middleware(BoundedBody, max_body=limits.max_body)
    return app


def metrics_route(registry: CollectorRegistry, *, token: str | None = None) -> Route:
    """``GET /metrics``: ``registry`` in Prometheus' text format 0.0.4, or the format the
    scraper's ``Accept`` asks for (OpenMetrics), negotiated as prometheus-client's own
    handlers do; collected on a worker thread (the store's figures are read then). With
    ``token``, only for ``Authorization: Bearer <token>``."""
    expected = f"Bearer {token}".encode() if token else None

    async def scrape(request: Request) -> Response:
        if expected is not None:
            given = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                log.warning("refused a metrics scrape from %s: no valid bearer token",
                            _client(request.scope))
                return json_error(401, "send Authorization: Bearer <SPENDWATCH_METRICS_TOKEN>",
                                  **{"WWW-Authenticate": "Bearer"})
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        body = await run_in_threadpool(encode, registry)
        return Response(body, headers={"Content-Type": content_type})

    return Route(METRICS_PATH, scrape, methods=["GET"])


async def _health(request: Request) -> Response:
    return JSONResponse({"ok": True, "at": datetime.now(UTC).isoformat()})


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"ok": False, "error": exc.detail.lower()}, status_code=exc.status_code,
                        headers=exc.headers)


class BoundedBody:
    """ASGI middleware: reads the whole body first, refusing one over ``max_body`` with 413
    (from ``Content-Length`` before reading a byte, else as soon as it passes the limit), then
    hands the app the body it read. A client that disconnects meanwhile gets nothing."""

    def __init__(self, app: ASGIApp, *, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        announced = dict(scope["headers"]).get(b"content-length")
        if announced is not None and int(announced) > self.max_body:  # the parser checked: a number
            await self._too_large(scope, send, f"Content-Length {int(announced):,}")
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client went away (or was cut off for being too slow)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await self._too_large(scope, send, f"a body past {self.max_body:,} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    async def _too_large(self, scope: Scope, send: Send, what: str) -> None:
        log.warning("refused %s %s from %s: %s (limit %s bytes)", scope["method"], scope["path"],
                    _client(scope), what, f"{self.max_body:,}")
        response = JSONResponse({"ok": False, "error": "body too large"}, status_code=413,
                                headers={"Connection": "close"})  # the rest is never read
        await response(scope, _no_receive, send)


class ClickTimer:
    """ASGI middleware: observes ``spendwatch_click_seconds{platform}`` for each chat
    interaction (``CLICK_PATHS``), from its body in to the end of its answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        click = CLICK_PATHS.get(scope["path"]) if scope["type"] == "http" else None
        if click is None:
            await self.app(scope, receive, send)
            return
        platform, marker = click
        started = time.perf_counter()
        seen = False

        async def peek() -> Message:
            nonlocal seen
            message = await receive()
            seen = seen or marker in message.get("body", b"")
            return message

        async def timed_send(message: Message) -> None:
            await send(message)
            if (seen and message["type"] == "http.response.body"
                    and not message.get("more_body", False)):
                metrics.click_answered(platform, time.perf_counter() - started)

        await self.app(scope, peek, timed_send)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the disconnect, as ASGI expects

    return replay


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "?"


class _DeadlineHttp(HttpToolsProtocol):
    """uvicorn's httptools protocol (the C parser: a click costs less CPU than with h11) with
    a deadline: a request (headers and body) must arrive whole within ``read_timeout`` of its
    first byte, or of the connection's opening; else the connection is closed. uvicorn itself
    only times out idle keep-alive connections."""

    read_timeout: float = 5.0
    _timer: asyncio.TimerHandle | None = None
    _timer_cycle: Any = None  # the cycle that was current when the timer was armed

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        # data between requests starts the next one: its deadline runs from now, once
        if self._between_requests() and (self._timer is None or
                                         self._timer_cycle is not self.cycle):
            self._arm()
        super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        super().connection_lost(exc)

    def _between_requests(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_cycle = self.cycle
        self._timer = self.loop.call_later(self.read_timeout, self._overdue)

    def _overdue(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if not (self._between_requests() or self.cycle.more_body):
            return  # the request arrived whole: the app is answering it
        log.warning("closed a connection from %s: no whole request within %.0f s",
                    _client({"client": self.client}), self.read_timeout)
        self.transport.close()


class WebServer:
    """uvicorn serving ``app`` from a background thread; port 0 picks a free port."""

    def __init__(self, app: ASGIApp, *, host: str = "0.0.0.0", port: int = 3000,
                 limits: WebLimits = WebLimits()) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self.limits = limits
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    def start(self, timeout: float = 10.0) -> WebServer:
        """Bind (a port in use fails here, in the caller), then serve; returns once serving."""
        self._socket = _bind(self.host, self.requested_port)
        protocol = type("DeadlineHttp", (_DeadlineHttp,),
                        {"read_timeout": self.limits.read_timeout})
        config = uvicorn.Config(
            self.app, http=protocol, lifespan="on", log_config=None, access_log=False,
            server_header=False, limit_concurrency=self.limits.max_connections,
            backlog=self.limits.backlog, timeout_keep_alive=self.limits.keep_alive,
            timeout_graceful_shutdown=int(self.limits.read_timeout) + 1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run,
                                        kwargs={"sockets": [self._socket]},
                                        name="web-server", daemon=True)
        self._thread.start()
        deadline = threading.Event()
        for _ in range(int(timeout / 0.01)):
            if self._server.started or not self._thread.is_alive():
                break
            deadline.wait(0.01)
        if not self._server.started:
            self.stop()
            raise RuntimeError(f"the web server did not start on {self.host}:{self.port}")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout)
        if self._socket is not None:
            self._socket.close()

    @property
    def port(self) -> int:
        assert self._socket is not None, "not started"
        return int(self._socket.getsockname()[1])


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def json_error(status: int, error: str, **headers: str) -> Response:
    """The JSON every refusal of the web app answers with."""
    return Response(json.dumps({"ok": False, "error": error}), status_code=status,
                    media_type="application/json", headers=headers or None)
