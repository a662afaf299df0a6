"""A local stand-in for Slack's Web API, so end-to-end tests keep the real slack_sdk client.

No machine here reaches Slack. The stub is a stdlib ``ThreadingHTTPServer`` on a free port of
127.0.0.1 (as in slack-bolt's own tests); point ``slack_sdk.WebClient(base_url=stub.base_url,
token="xoxb-...")`` at it and the real request building, retry handlers and error mapping run.

    with SlackApiStub() as stub:
        client = WebClient(base_url=stub.base_url, token="xoxb-test")
        posted = client.chat_postMessage(channel="C1", text="Spend alert")
        assert stub.messages[("C1", posted["ts"])].text == "Spend alert"

It records every request (:class:`Call`), answers each method with Slack-shaped JSON after
Slack's own checks (see ``slack_stub_chat`` and ``slack_stub_views_files``), keeps what users
would see (messages, threads, views, uploaded files), and fails on demand: HTTP 429 with
``Retry-After``, 5xx, a dropped connection, or any ``{"ok": false, "error": ...}``; or after
doing what was asked: the answer held until released, or the connection dropped
(``hold_next``, ``drop_after_next``).
"""

from __future__ import annotations

import copy
import sys
import threading
import time
import traceback
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any

from tests.support.slack_stub_chat import CHAT_HANDLERS, new_response_url, respond
from tests.support.slack_stub_gates import Gate
from tests.support.slack_stub_http import (
    RESPONSE_URL,
    UPLOAD,
    Call,
    Fault,
    Outcome,
    ParsedRequest,
    RequestHandler,
    auth_error,
    parse_request,
)
from tests.support.slack_stub_state import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    DEFAULT_TS_BASE,
    TEAM_DOMAIN,
    TEAM_ID,
    ApiError,
    Handler,
    JsonDict,
    Message,
    Upload,
    Workspace,
)
from tests.support.slack_stub_views_files import VIEW_AND_FILE_HANDLERS, receive_upload

__all__ = [
    "APP_ID", "BOT_ID", "BOT_USER_ID", "RESPONSE_URL", "TEAM_DOMAIN", "TEAM_ID", "UPLOAD", "Call",
    "Gate", "Message", "SlackApiStub", "Upload",
]

HANDLERS: dict[str, Handler] = {**CHAT_HANDLERS, **VIEW_AND_FILE_HANDLERS}
_POLL_INTERVAL = 0.01


class _StubServer(ThreadingHTTPServer):
    """The HTTP server; each request thread hands the request to the owning stub."""

    daemon_threads = True

    def __init__(self, stub: SlackApiStub) -> None:
        super().__init__(("127.0.0.1", 0), RequestHandler)
        self.stub = stub

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up is not a stub failure; anything else is kept for the test."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            self.stub._record_error(traceback.format_exc())


class SlackApiStub:
    """Slack's Web API on 127.0.0.1: records calls, answers like Slack, fails on demand.

    Use as a context manager (or :meth:`start` / :meth:`close`). Leaving the ``with`` block
    raises if the stub itself crashed while answering, so a stub bug never passes for a Slack
    outage. Configure the workspace through :attr:`users`, :attr:`channels` and
    :attr:`known_channels` before the app runs.
    """

    def __init__(self, *, ts_base: int = DEFAULT_TS_BASE, wall_clock: bool = False) -> None:
        """``wall_clock``: message timestamps are the time now, as Slack's (for apps that look
        messages up by time); else deterministic from ``ts_base``."""
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._workspace = Workspace(root_url="http://127.0.0.1", ts_base=ts_base,
                                    wall_clock=wall_clock)
        self._gates: dict[str, list[Gate]] = {}
        self._all_gates: list[Gate] = []
        self._calls: list[Call] = []
        self._faults: dict[str, list[Fault]] = {}
        self._canned: dict[str, JsonDict] = {}
        self._errors: list[str] = []
        self._server: _StubServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> SlackApiStub:
        """Start serving on a free port in a daemon thread; returns the stub."""
        if self._server is not None:
            raise RuntimeError("the Slack stub is already running")
        self._server = _StubServer(self)
        self._workspace.root_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": _POLL_INTERVAL},
                                        name="slack-api-stub", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and release the port; safe to call twice."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        for gate in self._all_gates:
            gate.release()
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> SlackApiStub:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
        if exc_type is None and self._errors:
            raise AssertionError(f"the Slack stub failed {len(self._errors)} time(s) while "
                                 f"answering; the first:\n{self._errors[0]}")

    def _require_started(self) -> None:
        if self._server is None:
            raise RuntimeError("start the Slack stub first (use `with SlackApiStub() as stub:`)")

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT``, where upload and response URLs live."""
        self._require_started()
        return self._workspace.root_url

    @property
    def base_url(self) -> str:
        """The Web API root for ``WebClient(base_url=...)``, with the trailing slash it needs."""
        return f"{self.root_url}/api/"

    # -- what was called -------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        """Every request so far, oldest first, failed and dropped ones included."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        """The requests to ``method`` (an API method name, :data:`UPLOAD` or
        :data:`RESPONSE_URL`), oldest first."""
        with self._lock:
            return [call for call in self._calls if call.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """Block until ``method`` was called ``count`` times; its calls, else AssertionError.

        For apps that call Slack from a background thread (``ack()`` first, work later).
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                matching = [call for call in self._calls if call.method == method]
                remaining = deadline - time.monotonic()
                if len(matching) >= count or remaining <= 0:
                    break
                self._changed.wait(remaining)
            if len(matching) < count:
                seen = [f"{call.method} -> {call.status}" for call in self._calls]
                raise AssertionError(f"expected {count} call(s) to {method} within {timeout}s, "
                                     f"got {len(matching)}; calls seen: {seen}")
            return matching

    @property
    def errors(self) -> list[str]:
        """Tracebacks of failures inside the stub itself (each also answered as HTTP 500)."""
        with self._lock:
            return list(self._errors)

    def reset(self) -> None:
        """Forget calls, pending failures and what the app did; keep users/channels/canned
        answers. Timestamps and ids keep increasing, so none is ever reused."""
        with self._lock:
            self._calls.clear()
            self._faults.clear()
            self._errors.clear()
            self._workspace.clear()

    # -- what users see --------------------------------------------------------------------

    @property
    def messages(self) -> dict[tuple[str, str], Message]:
        """A copy of every message now in Slack, keyed by ``(channel, ts)``."""
        with self._lock:
            return copy.deepcopy(self._workspace.messages)

    def message(self, channel: str, ts: str) -> Message:
        """The message ``(channel, ts)`` as users see it; AssertionError naming what exists."""
        with self._lock:
            found = self._workspace.messages.get((channel, ts))
            if found is None:
                raise AssertionError(f"no message {(channel, ts)}; messages: "
                                     f"{sorted(self._workspace.messages)}")
            return copy.deepcopy(found)

    def thread(self, channel: str, ts: str) -> list[Message]:
        """The replies under message ``ts`` in ``channel``, oldest first."""
        with self._lock:
            return copy.deepcopy(self._workspace.thread(channel, ts))

    @property
    def ephemerals(self) -> list[Message]:
        """Ephemeral messages (``chat.postEphemeral``, ephemeral response_url posts)."""
        with self._lock:
            return copy.deepcopy(self._workspace.ephemerals)

    @property
    def views(self) -> dict[str, JsonDict]:
        """Every modal or Home view opened, pushed, updated or published, by view id."""
        with self._lock:
            return copy.deepcopy(self._workspace.views)

    @property
    def home_views(self) -> dict[str, JsonDict]:
        """The published Home tab of each user, by user id."""
        with self._lock:
            return copy.deepcopy(self._workspace.home_views)

    @property
    def uploads(self) -> dict[str, Upload]:
        """Files of the v2 upload flow by file id: filename, bytes, title, where shared."""
        with self._lock:
            return copy.deepcopy(self._workspace.uploads)

    def reactions(self, channel: str, ts: str) -> list[str]:
        """The emoji names the app added to message ``ts`` in ``channel``."""
        with self._lock:
            return list(self._workspace.reactions.get((channel, ts), []))

    # -- workspace configuration -----------------------------------------------------------

    @property
    def users(self) -> dict[str, JsonDict]:
        """Overrides for ``users.info`` by user id, e.g. ``{"tz": "America/New_York",
        "profile": {"display_name": "ana"}}``; unlisted ``U…`` ids get a default user."""
        return self._workspace.users

    @property
    def channels(self) -> dict[str, JsonDict]:
        """Overrides for ``conversations.info`` by channel id (e.g. ``{"name": "finops"}``)."""
        return self._workspace.channels

    @property
    def known_channels(self) -> set[str] | None:
        """When set, messages to other (non-DM) channels fail with ``channel_not_found``."""
        return self._workspace.known_channels

    @known_channels.setter
    def known_channels(self, channels: set[str] | None) -> None:
        with self._lock:
            self._workspace.known_channels = set(channels) if channels is not None else None

    def set_response(self, method: str, body: JsonDict) -> None:
        """Answer every call to ``method`` with ``body`` (after the token check), for methods
        the stub does not model or to override one that it does."""
        with self._lock:
            self._canned[method] = copy.deepcopy(body)

    # -- failure injection -----------------------------------------------------------------

    def fail_next(self, method: str, *, status: int = 429, retry_after: int = 1, times: int = 1,
                  drop: bool = False, body: JsonDict | str | None = None) -> None:
        """Make the next ``times`` calls to ``method`` fail without touching any state.

        ``status=429`` answers ``{"ok": false, "error": "ratelimited"}`` with ``Retry-After:
        retry_after``; a 5xx answers ``{"ok": false, "error": "fatal_error"}`` (or ``body``,
        which may be a non-JSON string such as an HTML error page); ``drop=True`` reads the
        request and closes the socket without any response.
        """
        fault = Fault(status=status, retry_after=retry_after if status == 429 else None,
                      drop=drop, body=body)
        with self._lock:
            self._faults.setdefault(method, []).extend([fault] * times)

    def error_next(self, method: str, error: str, *, times: int = 1) -> None:
        """Make the next ``times`` calls to ``method`` answer HTTP 200 ``{"ok": false, "error":
        error}`` (e.g. ``expired_trigger_id``, ``token_revoked``) without touching any state."""
        fault = Fault(status=200, retry_after=None, drop=False,
                      body={"ok": False, "error": error})
        with self._lock:
            self._faults.setdefault(method, []).extend([fault] * times)

    def hold_next(self, method: str, *, skip: int = 0) -> Gate:
        """Apply the next successful call to ``method`` (after ``skip`` others), then hold its
        answer until the returned gate is released (see ``slack_stub_gates``)."""
        return self._add_gate(Gate(method, skip=skip))

    def drop_after_next(self, method: str, *, skip: int = 0) -> Gate:
        """Apply the next successful call to ``method`` (after ``skip`` others), then close the
        connection without an answer: the app sees a failure for what Slack did."""
        gate = self._add_gate(Gate(method, drop=True, skip=skip))
        gate.release()
        return gate

    def _gate_for(self, method: str, outcome: Outcome) -> Gate | None:
        """The gate that catches this answered call, if any. The caller holds the lock."""
        gates = self._gates.get(method)
        if not gates or not (outcome.response and outcome.response.get("ok")):
            return None
        if gates[0].skip > 0:
            gates[0].skip -= 1
            return None
        return gates.pop(0)

    def _add_gate(self, gate: Gate) -> Gate:
        with self._lock:
            self._gates.setdefault(gate.method, []).append(gate)
            self._all_gates.append(gate)
        return gate

    # -- response_url ----------------------------------------------------------------------

    def new_response_url(self, *, channel: str | None = None, message_ts: str | None = None,
                         user_id: str | None = None) -> str:
        """A ``response_url`` on the stub. Bound to ``(channel, message_ts)``, its
        ``replace_original`` / ``delete_original`` posts change that message."""
        self._require_started()
        with self._lock:
            return new_response_url(self._workspace, channel=channel, message_ts=message_ts,
                                    user_id=user_id)

    def responses(self, id_or_url: str) -> list[JsonDict]:
        """The JSON payloads the app posted (and Slack accepted) to a ``response_url``."""
        url_id = id_or_url.rstrip("/").rsplit("/", 1)[-1]
        with self._lock:
            target = self._workspace.response_urls.get(url_id)
            if target is None:
                raise KeyError(f"the stub never issued response_url {id_or_url!r}")
            return copy.deepcopy(target.payloads)

    # -- serving -----------------------------------------------------------------------------

    def serve_request(self, request: RequestHandler) -> None:
        """Answer one HTTP request (called from the server's request threads): record it, then
        apply a pending fault or the method's logic."""
        parsed = parse_request(request)
        with self._changed:
            outcome = self._outcome(parsed)
            gate = self._gate_for(parsed.method, outcome)
            if gate is not None and gate.drop:
                outcome = Outcome(None)
            self._calls.append(parsed.to_call(outcome))
            self._changed.notify_all()
        if gate is not None:
            gate._caught(parsed.params, parsed.token)
            gate.released.wait()
        outcome.send(request)

    def _outcome(self, request: ParsedRequest) -> Outcome:
        """What to answer; a queued fault wins and changes nothing. The caller holds the lock."""
        faults = self._faults.get(request.method)
        if faults:
            return faults.pop(0).outcome()
        try:
            return self._dispatch(request)
        except ApiError as refusal:
            return Outcome.json(200, refusal.body())
        except Exception:
            self._errors.append(traceback.format_exc())
            return Outcome.json(500, {"ok": False, "error": "stub_crashed",
                                      "detail": self._errors[-1]})

    def _dispatch(self, request: ParsedRequest) -> Outcome:
        """Route to the upload store, a response_url, or a Web API method."""
        ws, method = self._workspace, request.target
        if request.route == "upload":
            return Outcome.text(*receive_upload(ws, request.target, request.body))
        if request.route == "response":
            return Outcome.json(*respond(ws, request.target, request.payload))
        if request.route != "api":
            return Outcome.text(404, "Not Found")
        if method not in HANDLERS and method not in self._canned:
            return Outcome.json(200, {"ok": False, "error": "unknown_method",
                                      "req_method": method})
        refusal = auth_error(request.token, method)
        if refusal is not None:
            return Outcome.json(200, {"ok": False, "error": refusal})
        if method in self._canned:
            return Outcome.json(200, copy.deepcopy(self._canned[method]))
        return Outcome.json(200, HANDLERS[method](ws, request.params))

    def _record_error(self, formatted: str) -> None:
        with self._lock:
            self._errors.append(formatted)
