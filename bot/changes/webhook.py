"""``POST /events/change``: deploys and config changes sent by a deploy script, signed.

The signature follows GitHub's webhook convention with a timestamp in the signed string, as
Slack signs its requests, so a captured request cannot be replayed later:

* ``X-Spendwatch-Timestamp``: the Unix time of sending, in seconds;
* ``X-Spendwatch-Signature: sha256=<hex>``: HMAC-SHA256, keyed with the shared secret
  (``SPENDWATCH_CHANGE_SECRET``), of ``{timestamp}.{raw body}``, in lower-case hex.

In a shell: ``ts=$(date +%s); sig=$(printf '%s.%s' "$ts" "$body" | openssl dgst -sha256
-hmac "$SECRET" -r | cut -d' ' -f1)``. A request whose timestamp is more than five minutes
from the bot's clock, or whose signature does not match (compared in constant time), gets 401;
a body that is not a change (:mod:`bot.changes.events`) 400 with what was wrong; a change
stored before (same ``id``, or the same body when no ``id`` is given) 200 with
``"new": false``. A change on a project with no spend on record is kept, and the answer
carries a ``warning``. Without a secret configured the route answers 503 saying so, and the
reason is logged once, at start. Neither the secret nor a signature is ever logged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import anyio.to_thread
from sqlalchemy.engine import Engine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.changes.config import CHANGE_SECRET_ENV
from bot.changes.events import ChangeIn, ChangeProblem, Recorded, parse_change, record_change
from bot.settings import AllocationSettings
from bot.web import json_error
from storage.db import session_scope

__all__ = ["CHANGE_PATH", "MAX_AGE_SECONDS", "SIGNATURE_HEADER", "TIMESTAMP_HEADER",
           "change_route", "sign"]

log = logging.getLogger(__name__)
CHANGE_PATH = "/events/change"
SIGNATURE_HEADER = "X-Spendwatch-Signature"
TIMESTAMP_HEADER = "X-Spendwatch-Timestamp"
MAX_AGE_SECONDS = 300


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Spendwatch-Signature`` value of ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def change_route(*, engine: Engine, secret: str | None,
                 allocation: AllocationSettings | None = None,
                 clock: Callable[[], float] = time.time) -> Route:
    """POST ``/events/change``, storing changes in ``engine``'s store; ``secret`` None: the
    route answers 503 until one is configured."""
    if not secret:
        log.info("POST %s answers 503: no shared secret; set %s (or %s_FILE) and restart "
                    "to accept changes", CHANGE_PATH, CHANGE_SECRET_ENV, CHANGE_SECRET_ENV)

    def store(change: ChangeIn) -> Recorded:
        with session_scope(engine) as session:
            return record_change(db_session=session, change=change, source="webhook",
                                 now=datetime.fromtimestamp(clock(), UTC),
                                 allocation=allocation)

    async def receive(request: Request) -> Response:
        if not secret:
            return json_error(503, f"change events are not configured on this bot: set "
                                   f"{CHANGE_SECRET_ENV} and restart it")
        body = await request.body()  # already read whole and bounded by bot.web
        try:
            _check_signature(secret, body, request.headers, clock())
        except _Refused as refused:
            log.warning("refused a change from %s: %s", _client(request), refused)
            return json_error(refused.status, str(refused))
        try:
            change = parse_change(body)
            recorded = await anyio.to_thread.run_sync(store, change)
        except ChangeProblem as problem:
            log.warning("refused a change from %s: %s", _client(request), problem)
            return json_error(400, str(problem))
        if recorded.new:
            log.info("recorded %s change %d on %s", change.kind, recorded.id, change.project)
        answer: dict[str, object] = {"ok": True, "id": recorded.id, "new": recorded.new}
        if recorded.warning:
            answer["warning"] = recorded.warning
        return JSONResponse(answer)

    return Route(CHANGE_PATH, receive, methods=["POST"])


def _check_signature(secret: str, body: bytes, headers: Mapping[str, str], now: float) -> None:
    timestamp = headers.get(TIMESTAMP_HEADER.lower())
    signature = headers.get(SIGNATURE_HEADER.lower())
    if not timestamp or not signature:
        raise _Refused(401, f"not signed: send {TIMESTAMP_HEADER} (Unix seconds) and "
                            f"{SIGNATURE_HEADER} (sha256=HMAC of timestamp.body)")
    if not (timestamp.isascii() and timestamp.isdigit()):
        raise _Refused(401, f"{TIMESTAMP_HEADER} must be Unix time in seconds")
    if abs(now - int(timestamp)) > MAX_AGE_SECONDS:
        raise _Refused(401, f"{TIMESTAMP_HEADER} is more than 5 minutes from the bot's clock; "
                            "sign each request when sending it (and check the sender's clock)")
    expected = sign(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise _Refused(401, "the signature does not match; sign timestamp.body with the "
                            f"shared secret ({CHANGE_SECRET_ENV}), as sha256=<hex>")


def _client(request: Request) -> str:
    client = request.client
    return f"{client.host}:{client.port}" if client else "?"
