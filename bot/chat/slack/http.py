"""Slack's requests over HTTP: the ``/slack/events`` route that ``bot.web`` mounts.

The raw bytes are judged before anything is parsed: the timestamp must be a number within five
minutes and the signature (``slack_sdk.signature.SignatureVerifier``) must match, else 401;
then the body must be UTF-8, parse as Slack's own (a JSON object, or a form whose ``payload``
is one) and have the shape Slack gives what this app handles (``bot.chat.slack.payloads``),
else 400. Each refusal is one log line naming the client and why, never a
traceback and never a header's value. Only then does Bolt's synchronous ``App.dispatch`` run,
on a bounded thread pool (the event loop is never blocked), and its answer (sent once a
listener has called ``ack()``) goes back as it is; a listener that fails there is a bug, which
Bolt logs and answers 500.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Sequence
from typing import Any

import anyio.to_thread
from anyio import CapacityLimiter
from slack_bolt import App, BoltRequest
from slack_bolt.request.internals import extract_content_type, parse_body
from slack_sdk.signature import SignatureVerifier
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.chat.slack.payloads import shape_problem
from bot.web import json_error

__all__ = ["EVENTS_PATH", "events_route"]

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"
MAX_AGE_SECONDS = 300  # Slack's own rule: older requests may be replays


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def events_route(app: App, *, signing_secret: str, threads: int) -> Route:
    """POST ``/slack/events`` for ``app``, with at most ``threads`` dispatches at once."""
    verifier = SignatureVerifier(signing_secret)
    limiter = CapacityLimiter(threads)

    async def events(request: Request) -> Response:
        body = await request.body()  # already read whole and bounded by bot.web
        try:
            _check_signature(verifier, body, request.headers)
            bolt_request = _parse(body, request)
        except _Refused as refused:
            log.warning("refused a request to %s from %s: %s", EVENTS_PATH, _client(request),
                        refused)
            return json_error(refused.status, "invalid request" if refused.status == 400
                              else "invalid signature")
        answer = await anyio.to_thread.run_sync(app.dispatch, bolt_request, limiter=limiter)
        headers = {name: ", ".join(values) for name, values in answer.headers.items()
                   if name.lower() != "content-length"}
        return Response(answer.body or "", status_code=answer.status, headers=headers)

    return Route(EVENTS_PATH, events, methods=["POST"])


def _check_signature(verifier: SignatureVerifier, body: bytes, headers: Any) -> None:
    timestamp = headers.get("x-slack-request-timestamp")
    signature = headers.get("x-slack-signature")
    if not timestamp or not signature:
        raise _Refused(401, "not signed (no X-Slack-Request-Timestamp or X-Slack-Signature)")
    if not (timestamp.isascii() and timestamp.isdigit()):
        raise _Refused(401, "an X-Slack-Request-Timestamp that is not a number")
    if abs(time.time() - int(timestamp)) > MAX_AGE_SECONDS:
        raise _Refused(401, "an X-Slack-Request-Timestamp more than 5 minutes away (a replay?)")
    try:
        valid = verifier.is_valid(body.decode("utf-8"), timestamp, signature)
    except UnicodeDecodeError:  # Slack sends UTF-8; still, signed is 400 and unsigned is 401
        base = b"v0:" + timestamp.encode() + b":" + body
        expected = "v0=" + hmac.new(verifier.signing_secret.encode(), base,
                                    hashlib.sha256).hexdigest()
        valid = hmac.compare_digest(expected, signature)
    if not valid:
        raise _Refused(401, "a signature that does not match the body")


def _parse(body: bytes, request: Request) -> BoltRequest:
    """The BoltRequest, once the body is known to be one Slack could have sent."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _Refused(400, f"a body that is not UTF-8 (byte {error.start})") from None
    headers: dict[str, str | Sequence[str]] = {
        name: [value] for name, value in request.headers.items()}
    try:  # as Bolt will parse it
        parsed = parse_body(text, extract_content_type({"content-type": [
            request.headers.get("content-type", "")]}))
    except ValueError as error:  # json.JSONDecodeError is a ValueError
        raise _Refused(400, f"a body that does not parse as its Content-Type says "
                            f"({type(error).__name__})") from None
    if not isinstance(parsed, dict):
        raise _Refused(400, f"a body that is a JSON {type(parsed).__name__}, not an object")
    problem = shape_problem(parsed)
    if problem is not None:
        raise _Refused(400, f"a body of a shape Slack never sends ({problem})")
    try:  # Bolt reads ids from the body here; a shape the check above does not cover
        return BoltRequest(body=text, query=request.url.query, headers=headers)
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as error:
        raise _Refused(400, f"a body Bolt cannot read ({type(error).__name__})") from None


def _client(request: Request) -> str:
    return f"{request.client.host}:{request.client.port}" if request.client else "?"
