"""The HTTP side of the local Slack stub: reading requests as Slack would, writing answers.

slack_sdk sends most methods form-encoded with nested values (``blocks``, ``attachments``,
``files``...) as JSON strings, and methods with blocks or views as a JSON body; either way the
stub records one flat ``params`` dict with those nested values decoded, so tests can inspect
``call.params["blocks"][0]["text"]`` whatever the encoding.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from tests.support.slack_stub_state import JsonDict

UPLOAD = "(upload)"
"""``Call.method`` of the bare POSTs of file bytes to an upload URL."""
RESPONSE_URL = "(response_url)"
"""``Call.method`` of the posts to a ``response_url``."""

_JSON_FIELDS = frozenset({"blocks", "attachments", "view", "files", "metadata",
                          "user_auth_blocks", "unfurls"})
_TOKEN_PREFIXES = ("xoxb-", "xoxp-")


@dataclass(frozen=True)
class Call:
    """One request the stub received, and what it answered.

    ``method`` is the Web API method (``chat.postMessage``), :data:`UPLOAD` or
    :data:`RESPONSE_URL`; ``params`` merges query string, form and JSON body with JSON-string
    fields decoded; ``headers`` have lower-case names; ``status`` is None when the stub dropped
    the connection; ``received_at`` is a ``time.monotonic()`` reading, for checking pacing and
    backoff between calls.
    """

    method: str
    path: str
    params: JsonDict
    headers: dict[str, str]
    body: bytes
    status: int | None
    response: JsonDict | None
    received_at: float

    @property
    def ok(self) -> bool:
        """True when Slack would have done what was asked (HTTP 200 and ``"ok": true``)."""
        return self.status == 200 and bool(self.response and self.response.get("ok"))


@dataclass(frozen=True)
class Outcome:
    """The answer to one request; ``status`` None means: close the socket, answer nothing."""

    status: int | None
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    response: JsonDict | None = None

    @classmethod
    def json(cls, status: int, body: JsonDict,
             headers: tuple[tuple[str, str], ...] = ()) -> Outcome:
        encoded = json.dumps(body).encode()
        return cls(status, encoded, (("Content-Type", "application/json; charset=utf-8"),
                                     *headers), body)

    @classmethod
    def text(cls, status: int, text: str) -> Outcome:
        return cls(status, text.encode(), (("Content-Type", "text/plain; charset=utf-8"),))

    def send(self, request: BaseHTTPRequestHandler) -> None:
        """Write the answer, or nothing at all for a dropped connection."""
        request.close_connection = True
        if self.status is None:
            return
        request.send_response(self.status)
        for name, value in self.headers:
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(self.body)))
        request.send_header("Connection", "close")
        request.end_headers()
        request.wfile.write(self.body)


@dataclass(frozen=True)
class Fault:
    """A failure queued by ``fail_next`` / ``error_next`` for the next call to one method."""

    status: int
    retry_after: int | None
    drop: bool
    body: JsonDict | str | None

    def outcome(self) -> Outcome:
        """The HTTP answer Slack gives for this failure."""
        if self.drop:
            return Outcome(None)
        headers = (("Retry-After", str(self.retry_after)),) if self.retry_after is not None else ()
        if isinstance(self.body, str):
            return Outcome(self.status, self.body.encode(),
                           (("Content-Type", "text/html; charset=utf-8"), *headers))
        return Outcome.json(self.status, self.body or {"ok": False, "error": self._error()},
                            headers)

    def _error(self) -> str:
        if self.status == 429:
            return "ratelimited"
        return "fatal_error" if self.status >= 500 else f"http_{self.status}"


@dataclass(frozen=True)
class ParsedRequest:
    """A request read off the socket: where it goes (``route``, ``target``) and what it says.

    ``route`` is ``api`` (``target`` = method), ``upload`` (file id), ``response`` (response_url
    id) or ``other``; ``payload`` is the decoded JSON posted to a response_url.
    """

    route: str
    target: str
    path: str
    params: JsonDict
    payload: Any
    headers: dict[str, str]
    body: bytes
    token: str | None
    received_at: float

    @property
    def method(self) -> str:
        """The name calls are recorded, waited for and failed under."""
        return {"api": self.target, "upload": UPLOAD, "response": RESPONSE_URL}.get(
            self.route, self.path)

    def to_call(self, outcome: Outcome) -> Call:
        return Call(method=self.method, path=self.path, params=self.params, headers=self.headers,
                    body=self.body, status=outcome.status, response=outcome.response,
                    received_at=self.received_at)


def _form(encoded: str) -> JsonDict:
    """A form-encoded string as a flat dict (the last value wins for a repeated key)."""
    return {key: values[-1] for key, values in parse_qs(encoded, keep_blank_values=True).items()}


def _decoded(key: str, value: Any) -> Any:
    """A JSON-string field (``blocks``, ``view``...) decoded; anything else unchanged."""
    if key in _JSON_FIELDS and isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError:
        return None


def parse_params(content_type: str, body: bytes, query: str) -> JsonDict:
    """Query string, then the form or JSON body, merged; JSON-string fields decoded."""
    params = _form(query)
    if content_type.startswith("application/json"):
        decoded = _json_or_none(body)
        if isinstance(decoded, dict):
            params.update(decoded)
    elif content_type.startswith("application/x-www-form-urlencoded"):
        params.update(_form(body.decode("utf-8", "replace")))
    return {key: _decoded(key, value) for key, value in params.items()}


def _token(headers: dict[str, str], params: JsonDict) -> str | None:
    """The token as Slack reads it: ``Authorization: Bearer ...`` or a ``token`` parameter."""
    authorization = headers.get("authorization", "")
    if authorization.startswith("Bearer "):
        return authorization.removeprefix("Bearer ").strip() or None
    token = params.get("token")
    return token if isinstance(token, str) and token else None


APP_TOKEN_METHODS = frozenset({"apps.connections.open"})


def auth_error(token: str | None, method: str = "") -> str | None:
    """``not_authed`` without a token, ``invalid_auth`` for an unknown kind of token, and
    ``not_allowed_token_type`` for the wrong kind: app-level tokens (``xapp-``) open Socket Mode
    connections and do nothing else; bot and user tokens cannot open them."""
    if token is None:
        return "not_authed"
    if token.startswith("xapp-"):
        return None if method in APP_TOKEN_METHODS else "not_allowed_token_type"
    if not token.startswith(_TOKEN_PREFIXES):
        return "invalid_auth"
    if method in APP_TOKEN_METHODS:
        return "not_allowed_token_type"
    return None


def _route(path: str) -> tuple[str, str]:
    for route, prefix in (("api", "/api/"), ("upload", "/upload/"), ("response", "/response/")):
        if path.startswith(prefix) and len(path) > len(prefix):
            return route, path[len(prefix):]
    return "other", path


def parse_request(request: BaseHTTPRequestHandler) -> ParsedRequest:
    """Read the whole request (body included, so a dropped answer reaches the client as a
    closed connection, not a reset) and work out its route and parameters."""
    received_at = time.monotonic()
    length = int(request.headers.get("Content-Length") or 0)
    body = request.rfile.read(length) if length > 0 else b""
    headers = {name.lower(): value for name, value in request.headers.items()}
    split = urlsplit(request.path)
    route, target = _route(split.path)
    payload = _json_or_none(body) if route == "response" else None
    if route == "api":
        params = parse_params(headers.get("content-type", ""), body, split.query)
    elif route == "response":
        params = payload if isinstance(payload, dict) else {}
    else:
        params = {"file_id": target} if route == "upload" else {}
    return ParsedRequest(route=route, target=target, path=split.path, params=params,
                         payload=payload, headers=headers, body=body,
                         token=_token(headers, params) if route == "api" else None,
                         received_at=received_at)


class RequestServer(Protocol):
    """What answers the requests: the stub's ``serve_request``."""

    def serve_request(self, request: RequestHandler) -> None: ...


class RequestHandler(BaseHTTPRequestHandler):
    """Hands every request to the stub that owns the server; never logs to stderr."""

    protocol_version = "HTTP/1.1"

    def _stub(self) -> RequestServer:
        return self.server.stub  # type: ignore[attr-defined]

    def do_POST(self) -> None:  # noqa: N802 - the name http.server dispatches to
        self._stub().serve_request(self)

    def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
        self._stub().serve_request(self)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        """Quiet: one access line per call would bury the test's own output."""
