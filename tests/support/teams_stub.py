"""A local stand-in for Microsoft's side of a Teams bot: the token issuer and the Teams service.

No machine here reaches Microsoft. The stub is a stdlib ``ThreadingHTTPServer`` on a free port
of 127.0.0.1 and plays the three parts a bot talks to, in their published shapes:

* **The Bot Framework OpenID issuer**: ``/v1/.well-known/openidconfiguration`` and its signing
  keys at ``/v1/.well-known/keys`` (a JWKS of RS256 keys with ``endorsements``). The stub signs
  inbound tokens with them (:meth:`TeamsStub.token`): ``iss`` https://api.botframework.com,
  ``aud`` the bot's client id, a ``serviceurl`` claim, five minutes of life, as Teams does.
  A token signed by a key it does not publish (:meth:`TeamsStub.forged_token`) is what an
  attacker would send.
* **Entra ID's token endpoint**: ``POST /{tenant}/oauth2/v2.0/token``, a client-credentials
  form, answering ``{"token_type": "Bearer", "expires_in": ..., "access_token": ...}`` (a
  JWT, as Entra's access tokens are).
* **The Teams service URL** (Bot Connector v3): ``POST /v3/conversations/{id}/activities`` to
  send (``{"id": ...}`` back) and ``PUT /v3/conversations/{id}/activities/{activity}`` to update
  in place, both only with a bearer token the endpoint above issued. A conversation id with
  ``;messageid=<root>`` posts into that message's thread.

It records every request (:class:`Call`) and keeps what people would see (:attr:`messages`: the
latest version of each activity, with its thread), and fails on demand (:meth:`fail_next`): an
HTTP 429 with ``Retry-After`` or a 5xx, answered before the request is carried out.

    with TeamsStub(client_id=APP) as stub:
        ...  # TEAMS_* settings pointing at stub.openid_metadata_url, stub.token_url, stub.url
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

__all__ = ["BOT_ISSUER", "Call", "Fault", "Sent", "TeamsStub"]

BOT_ISSUER = "https://api.botframework.com"
BOT_SCOPE = "https://api.botframework.com/.default"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


@dataclass
class Call:
    method: str
    path: str
    status: int
    body: Any = None


@dataclass
class Fault:
    method: str
    status: int
    retry_after: float | None = None
    path_part: str = "/v3/conversations/"


@dataclass
class Sent:
    """An activity as Teams keeps it: its conversation, thread root, and every version."""

    id: str
    conversation: str
    thread: str | None
    versions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def activity(self) -> dict[str, Any]:
        return self.versions[-1]

    @property
    def card(self) -> dict[str, Any] | None:
        for attachment in self.activity.get("attachments") or []:
            if attachment.get("contentType") == "application/vnd.microsoft.card.adaptive":
                return dict(attachment["content"])
        return None


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class TeamsStub:
    def __init__(self, *, client_id: str, client_secret: str = "stub-secret",
                 tenant: str = TENANT, token_lifetime: int = 3600) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.tenant = tenant
        self.token_lifetime = token_lifetime
        self.key = _new_key()
        self.kid = "stub-key-1"
        self._access_key = secrets.token_bytes(32)  # Entra's access tokens are JWTs too
        self.calls: list[Call] = []
        self.messages: dict[str, Sent] = {}
        self.tokens_issued: list[str] = []
        self._faults: list[Fault] = []
        self._ids = itertools.count(1_700_000_000_000)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="teams-stub",
                                        daemon=True)

    # -- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> TeamsStub:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        """The Teams service URL (``serviceUrl`` of activities), with its trailing slash."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    @property
    def openid_metadata_url(self) -> str:
        return f"{self.url}v1/.well-known/openidconfiguration"

    @property
    def token_url(self) -> str:
        return f"{self.url}{self.tenant}/oauth2/v2.0/token"

    # -- inbound tokens ---------------------------------------------------------------------

    def token(self, *, service_url: str | None = None, audience: str | None = None,
              issuer: str = BOT_ISSUER, expires_in: int = 300, issued_at: float | None = None,
              algorithm: str = "RS256", key: rsa.RSAPrivateKey | None = None,
              kid: str | None = None) -> str:
        """A bearer token as the Bot Framework signs it for an activity sent to the bot."""
        now = time.time() if issued_at is None else issued_at
        claims = {
            "serviceurl": self.url if service_url is None else service_url,
            "nbf": int(now) - 1, "iat": int(now) - 1, "exp": int(now) + expires_in,
            "iss": issuer, "aud": self.client_id if audience is None else audience,
        }
        return jwt.encode(claims, key or self.key, algorithm=algorithm,
                          headers={"kid": kid or self.kid})

    def forged_token(self, **claims: Any) -> str:
        """Right claims and ``kid``, signed by a key the issuer never published."""
        return self.token(key=_new_key(), **claims)

    # -- faults and views -------------------------------------------------------------------

    def fail_next(self, method: str, status: int, *, retry_after: float | None = None,
                  times: int = 1) -> None:
        """The next ``times`` calls of ``method`` to the Teams service fail with ``status``
        (before they are carried out)."""
        with self._lock:
            self._faults.extend(Fault(method, status, retry_after) for _ in range(times))

    def in_conversation(self, conversation: str) -> list[Sent]:
        """Messages at the top of ``conversation`` (not thread replies), oldest first."""
        return [m for m in self.messages.values()
                if m.conversation == conversation and m.thread is None]

    def replies(self, conversation: str, root: str) -> list[Sent]:
        return [m for m in self.messages.values()
                if m.conversation == conversation and m.thread == root]

    def service_calls(self, method: str | None = None) -> list[Call]:
        return [c for c in self.calls if c.path.startswith("/v3/")
                and (method is None or c.method == method)]

    # -- HTTP -------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

            def do_GET(self) -> None:  # noqa: N802
                stub._serve(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                stub._serve(self, "POST")

            def do_PUT(self) -> None:  # noqa: N802
                stub._serve(self, "PUT")

        return Handler

    def _serve(self, request: BaseHTTPRequestHandler, method: str) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        path = urllib.parse.urlsplit(request.path).path
        status, body, headers = self._answer(method, path, raw, request.headers.get(
            "Authorization", ""), request.headers.get("Content-Type", ""))
        payload = json.dumps(body).encode() if body is not None else b""
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(payload)
        with self._lock:
            self.calls.append(Call(method, path, status, _decoded(raw)))

    def _answer(self, method: str, path: str, raw: bytes, authorization: str,
                content_type: str) -> tuple[int, Any, dict[str, str]]:
        if method == "GET" and path == "/v1/.well-known/openidconfiguration":
            return 200, {
                "issuer": BOT_ISSUER,
                "authorization_endpoint": "https://invalid.botframework.com",
                "jwks_uri": f"{self.url}v1/.well-known/keys",
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            }, {}
        if method == "GET" and path == "/v1/.well-known/keys":
            key = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
            key.update(kid=self.kid, use="sig", alg="RS256", endorsements=["msteams"])
            return 200, {"keys": [key]}, {}
        if method == "POST" and path == f"/{self.tenant}/oauth2/v2.0/token":
            return self._issue(raw, content_type)
        if path.startswith("/v3/conversations/"):
            return self._service(method, path, raw, authorization)
        return 404, {"error": {"code": "NotFound", "message": f"no route {method} {path}"}}, {}

    def _issue(self, raw: bytes, content_type: str) -> tuple[int, Any, dict[str, str]]:
        if "application/x-www-form-urlencoded" not in content_type:
            return 400, {"error": "invalid_request",
                         "error_description": "AADSTS900144: form body expected"}, {}
        form = dict(urllib.parse.parse_qsl(raw.decode()))
        if form.get("grant_type") != "client_credentials" or form.get("scope") != BOT_SCOPE:
            return 400, {"error": "invalid_request",
                         "error_description": "AADSTS70003: grant_type or scope unsupported"}, {}
        if (form.get("client_id") != self.client_id
                or form.get("client_secret") != self.client_secret):
            return 401, {"error": "invalid_client",
                         "error_description": "AADSTS7000215: Invalid client secret provided."}, {}
        now = int(time.time())
        token = jwt.encode({"aud": "https://api.botframework.com",
                            "iss": f"{self.url}{self.tenant}/", "appid": self.client_id,
                            "tid": self.tenant, "iat": now, "nbf": now,
                            "exp": now + self.token_lifetime, "jti": secrets.token_hex(8)},
                           self._access_key, algorithm="HS256")
        with self._lock:
            self.tokens_issued.append(token)
        return 200, {"token_type": "Bearer", "expires_in": self.token_lifetime,
                     "ext_expires_in": self.token_lifetime, "access_token": token}, {}

    def _service(self, method: str, path: str, raw: bytes,
                 authorization: str) -> tuple[int, Any, dict[str, str]]:
        token = authorization.removeprefix("Bearer ")
        if not authorization.startswith("Bearer ") or token not in self.tokens_issued:
            return 401, {"message": "Authorization has been denied for this request."}, {}
        with self._lock:
            fault = next((f for f in self._faults if f.method == method
                          and f.path_part in path), None)
            if fault is not None:
                self._faults.remove(fault)
        if fault is not None:
            headers = ({"Retry-After": f"{fault.retry_after:g}"}
                       if fault.retry_after is not None else {})
            return fault.status, {"error": {"code": "ServiceError",
                                            "message": f"injected {fault.status}"}}, headers
        parts = path.split("/")  # ['', 'v3', 'conversations', id, 'activities', (activity)]
        if len(parts) < 5 or parts[4] != "activities":
            return 404, {"error": {"code": "NotFound", "message": path}}, {}
        conversation = urllib.parse.unquote(parts[3])
        base, _, thread = conversation.partition(";messageid=")
        try:
            activity = json.loads(raw or b"{}")
        except ValueError:
            return 400, {"error": {"code": "BadSyntax", "message": "body is not JSON"}}, {}
        with self._lock:
            if method == "POST" and len(parts) == 5:
                activity_id = str(next(self._ids))
                self.messages[activity_id] = Sent(activity_id, base, thread or None, [activity])
                return 201, {"id": activity_id}, {}
            if method == "PUT" and len(parts) == 6:
                sent = self.messages.get(urllib.parse.unquote(parts[5]))
                if sent is None or sent.conversation != base:
                    return 404, {"error": {"code": "ActivityNotFoundInConversation",
                                           "message": "The activity does not exist"}}, {}
                sent.versions.append(activity)
                return 200, {"id": sent.id}, {}
        return 405, {"error": {"code": "BadArgument", "message": f"{method} {path}"}}, {}


def _decoded(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")
