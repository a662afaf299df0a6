"""The front door of ``/api/messages``: what an activity must be before the Teams SDK sees it.

Teams POSTs each activity with ``Authorization: Bearer <JWT>``. :class:`TokenCheck` accepts a
token only when all of these hold (Microsoft's rules for Bot Framework tokens, see
https://learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-authentication):

* it is RS256-signed by one of the keys published beside ``teams.openid_metadata_url`` (the
  same URL with ``/keys`` in place of ``/openidconfiguration``);
* ``iss`` is ``https://api.botframework.com``;
* ``aud`` is the bot's ``TEAMS_CLIENT_ID``;
* its ``serviceurl`` claim equals the activity's ``serviceUrl``;
* it is within its lifetime, allowing 5 minutes of clock skew.

The SDK's own check is looser (it also takes Entra ID tokens from other callers and
``api://`` audiences); this check is the contract the bot promises, and the only one that
runs (``bot.chat.teams.app`` switches the SDK's off: it would verify the same signature again).
A body that is not an activity (not JSON, no ``type``, no ``conversation.id``, no
``serviceUrl``, or a shape the SDK's own activity models refuse, such as an invoke without a
``name``) is refused with 400 before any of that, and nothing reaches the SDK (which would
answer 500).

Keys are read with :class:`jwt.PyJWKClient` and kept by ``kid`` for an hour; a token naming a
key not in hand refetches them, but at most once a minute, so a stream of tokens with made-up
``kid`` values cannot turn into a stream of requests to the key server. Fetches happen on the
Teams loop (``bot.chat.teams.app``), never on the event loop that Slack shares.

A token that passed is remembered (by its exact text, up to :data:`VERIFIED_KEPT` of them)
until it expires: Teams signs one token and sends it with every activity until it nears
expiry, and PyJWT's check of one costs about 0.7 ms of interpreter time, which fifty
simultaneous clicks would otherwise queue behind each other for. A remembered token is
still refused once past ``exp`` (plus the skew) and when its ``serviceurl`` is not the
activity's; only the exact text that was verified matches, so a forged or altered token is
always checked in full. Reading the keys again forgets every remembered token.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import jwt
from microsoft_teams.api.activities import ActivityTypeAdapter
from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = ["ActivityShape", "BOT_ISSUER", "InvalidToken", "TokenCheck", "keys_url"]

log = logging.getLogger(__name__)

BOT_ISSUER = "https://api.botframework.com"
CLOCK_SKEW = 300  # seconds
KEYS_LIFETIME = 3600.0  # seconds the published keys are trusted before they are read again
REFETCH_AFTER = 60.0  # an unknown kid refetches the keys at most this often
VERIFIED_KEPT = 256  # tokens remembered as verified, newest used kept


class InvalidToken(Exception):
    """The request's token is missing, malformed, forged, expired or not for this bot."""


def keys_url(openid_metadata_url: str) -> str:
    return re.sub(r"/openidconfiguration$", "/keys", openid_metadata_url.rstrip("/"))


class _Account(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str


class ActivityShape(BaseModel):
    """The least an activity must carry for the bot to read it."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    type: str
    serviceUrl: str  # noqa: N815 (the wire name)
    conversation: _Account

    @classmethod
    def check(cls, body: Any) -> ActivityShape:
        """The activity, or ValueError naming the field that is missing or wrong."""
        return cls.parse(body)[0]

    @classmethod
    def parse(cls, body: Any) -> tuple[ActivityShape, Any]:
        """The activity's shape and the SDK's model of it (one validation serves both this
        check and a card action answered without the SDK's turn), or ValueError naming the
        field that is missing or wrong."""
        if not isinstance(body, dict):
            raise ValueError("the body is not a JSON object")
        try:
            shape = cls.model_validate(body)
            activity = ActivityTypeAdapter.validate_python(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(body)"
            raise ValueError(f"{where}: {first['msg']}"[:300]) from None
        return shape, activity


class TokenCheck:
    def __init__(self, *, client_id: str, openid_metadata_url: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.client_id = client_id
        self.clock = clock  # wall time, for the expiry of a remembered token
        self._client = jwt.PyJWKClient(keys_url(openid_metadata_url), cache_jwk_set=False,
                                       timeout=10)
        self._keys: dict[str, Any] = {}
        self._fetched = float("-inf")  # monotonic time of the last fetch
        self._lock = threading.Lock()
        self._verified: OrderedDict[str, dict[str, Any]] = OrderedDict()  # token -> claims

    def verify(self, authorization: str, *, service_url: str) -> dict[str, Any]:
        """The token's claims; InvalidToken saying why it was refused (never the token)."""
        if not authorization.startswith("Bearer "):
            raise InvalidToken("no bearer token")
        raw = authorization.removeprefix("Bearer ").strip()
        claims = self._remembered(raw)
        if claims is None:
            try:
                kid = jwt.get_unverified_header(raw).get("kid")
                claims = jwt.decode(
                    raw, self._key(str(kid)), algorithms=["RS256"], audience=self.client_id,
                    issuer=BOT_ISSUER, leeway=CLOCK_SKEW,
                    options={"require": ["exp", "iss", "aud"]})
            except jwt.PyJWTError as exc:
                raise InvalidToken(f"{type(exc).__name__}: {exc}") from None
            self._remember(raw, claims)
        claimed = str(claims.get("serviceurl") or claims.get("serviceUrl") or "")
        if claimed.rstrip("/") != service_url.rstrip("/"):
            raise InvalidToken("the token's serviceurl is not the activity's serviceUrl")
        return claims

    def _remembered(self, raw: str) -> dict[str, Any] | None:
        """The claims of ``raw`` if it was verified before; InvalidToken once it expired."""
        with self._lock:
            claims = self._verified.get(raw)
            if claims is None:
                return None
            if self.clock() > float(claims["exp"]) + CLOCK_SKEW:
                del self._verified[raw]
                raise InvalidToken("ExpiredSignatureError: Signature has expired")
            self._verified.move_to_end(raw)
            return claims

    def _remember(self, raw: str, claims: dict[str, Any]) -> None:
        with self._lock:
            self._verified[raw] = claims
            while len(self._verified) > VERIFIED_KEPT:
                self._verified.popitem(last=False)

    def _key(self, kid: str) -> Any:
        with self._lock:
            age = time.monotonic() - self._fetched
            if age >= KEYS_LIFETIME or (kid not in self._keys and age >= REFETCH_AFTER):
                self._fetched = time.monotonic()
                try:
                    self._keys = {k.key_id: k.key for k in self._client.get_jwk_set().keys
                                  if k.key_id}
                    self._verified.clear()
                except jwt.PyJWKClientError as exc:  # keep the keys in hand, if any
                    log.warning("Teams: the signing keys could not be read: %s", exc)
            key = self._keys.get(kid)
        if key is None:
            raise InvalidToken(f"signed with key {kid[:40]!r}, which the issuer does not publish")
        return key
