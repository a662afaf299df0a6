"""The Teams side of the bot: the Teams SDK's ``App`` on the bot's one web server.

``microsoft-teams-apps`` (Microsoft's supported Python SDK for Teams bots) parses activities,
routes them to the handlers of :mod:`bot.chat.teams.handlers`, turns their results into invoke
responses, and sends and updates messages on the Teams service (``App.send``).

How it is mounted, and why:

* **One event loop of its own.** The SDK is asyncio code whose HTTP client keeps its
  connections on the loop that opened them. Activities arrive on the web server's loop, but
  the outbox sends from its own thread; both hand their work to one loop thread here
  (:meth:`TeamsBot.call`), so every SDK call runs on the same loop and neither the web server
  (which Slack shares) nor the outbox waits on the other.
* **Our route, the SDK's handler.** The SDK registers ``POST /api/messages`` through an
  ``HttpServerAdapter``; :class:`_RouteAdapter` keeps that handler and
  :meth:`TeamsBot.route` serves it as a Starlette route of ``bot.web``, behind the checks of
  :mod:`bot.chat.teams.inbound` (400 for a body that is not an activity, 401 for a token that
  is not Microsoft's for this bot). That check is the only one: the SDK's own (looser, and
  about 1.3 ms of interpreter time a request) is switched off with its
  ``dangerously_allow_unauthenticated_requests`` option, which is safe because the SDK's
  handler is reachable only through :meth:`TeamsBot._checked`, after our check passed.
* **Card actions answered in one hop.** An ``adaptiveCard/action`` invoke's answer is the
  handler's JSON and nothing else: it needs none of what the SDK builds for a turn (an API
  client, a stream, its activity validated and dumped twice more), which cost about as much
  interpreter time as the click's own database work. Once the handlers name a
  :attr:`TeamsBot.card_actions` function, such an invoke is checked and answered on one worker
  thread, from the activity :mod:`bot.chat.teams.inbound` already validated, with the same
  answer the SDK would give (200 and the handler's body; 401 for a bad token, 500 if the
  handler fails); every other activity goes through the SDK.
* **Tokens of our own.** Outbound tokens come from
  :class:`bot.chat.teams.auth.ClientCredentialsToken` through the SDK's token-provider option,
  and inbound keys from ``teams.openid_metadata_url`` through its cloud settings.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from microsoft_teams.api.activities.invoke.adaptive_card.action import AdaptiveCardInvokeActivity
from microsoft_teams.api.auth.cloud_environment import PUBLIC, with_overrides
from microsoft_teams.apps import App
from microsoft_teams.apps.http.adapter import HttpRequest, HttpResponse, HttpRouteHandler
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.chat.teams.auth import ClientCredentialsToken, TeamsCredentials
from bot.chat.teams.inbound import ActivityShape, InvalidToken, TokenCheck

__all__ = ["MESSAGES_PATH", "TeamsBot"]

log = logging.getLogger(__name__)

MESSAGES_PATH = "/api/messages"
T = TypeVar("T")


class _RouteAdapter:
    """The SDK's ``HttpServerAdapter``: keeps the handler it registers; we serve it."""

    def __init__(self) -> None:
        self.handler: HttpRouteHandler | None = None

    def register_route(self, method: str, path: str, handler: HttpRouteHandler) -> None:
        if method != "POST" or path != MESSAGES_PATH:
            raise ValueError(f"unexpected Teams route {method} {path}")
        self.handler = handler

    def serve_static(self, path: str, directory: str) -> None:
        raise NotImplementedError("spendwatch serves no Teams tabs")

    async def start(self, port: int) -> None:
        raise NotImplementedError("the bot's web server (bot.web) serves Teams")

    async def stop(self) -> None:
        return None


class TeamsBot:
    """The SDK app on its loop thread; :meth:`route` for the web server, :meth:`call` for
    everything that talks to Teams from other threads."""

    def __init__(self, credentials: TeamsCredentials, *, openid_metadata_url: str,
                 token_url: str, register: Callable[[App, TeamsBot], None]) -> None:
        self.credentials = credentials
        self.tokens = ClientCredentialsToken(credentials, token_url=token_url)
        self.check = TokenCheck(client_id=credentials.client_id,
                                openid_metadata_url=openid_metadata_url)
        self._adapter = _RouteAdapter()
        # the answer to a card action, off the SDK (set by the handlers' register)
        self.card_actions: Callable[[AdaptiveCardInvokeActivity], Any] | None = None
        self.app = App(
            client_id=credentials.client_id, tenant_id=credentials.tenant_id,
            token=self.tokens, http_server_adapter=self._adapter,
            cloud=with_overrides(PUBLIC, openid_metadata_url=openid_metadata_url),
            telemetry={"agent365": False},
            dangerously_allow_unauthenticated_requests=True)  # _checked verifies every request
        register(self.app, self)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="teams",
                                        daemon=True)

    def start(self) -> TeamsBot:
        self._thread.start()
        self.call(self.app.initialize(), timeout=30)
        if self._adapter.handler is None:
            raise RuntimeError("the Teams SDK registered no /api/messages handler")
        return self

    def stop(self, timeout: float = 5.0) -> None:
        if not self._thread.is_alive():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)

    def call(self, coro: Coroutine[Any, Any, T], *, timeout: float = 30.0) -> T:
        """Run ``coro`` on the Teams loop and wait for it (from any other thread)."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def submit(self, coro: Coroutine[Any, Any, T]) -> Awaitable[T]:
        """Run ``coro`` on the Teams loop; await the result from another loop."""
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    def route(self) -> Route:
        return Route(MESSAGES_PATH, self._messages, methods=["POST"])

    async def _messages(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw)
            activity, parsed = ActivityShape.parse(body)
        except ValueError as exc:
            log.warning("Teams: refused a request that is not an activity: %s", exc)
            return JSONResponse({"error": f"not an activity: {exc}"}, status_code=400)
        if self.card_actions is not None and isinstance(parsed, AdaptiveCardInvokeActivity):
            return await asyncio.to_thread(
                self._card_action, self.card_actions, parsed,
                request.headers.get("authorization", ""), service_url=activity.serviceUrl)
        handler = self._adapter.handler
        assert handler is not None, "start() first"
        answer: HttpResponse = await self.submit(self._checked(
            handler, HttpRequest(body=body, headers=dict(request.headers)),
            activity_type=activity.type, service_url=activity.serviceUrl))
        if answer.get("body") is not None:
            return JSONResponse(answer["body"], status_code=answer["status"])
        return Response(status_code=answer["status"])

    def _card_action(self, answer: Callable[[AdaptiveCardInvokeActivity], Any],
                     activity: AdaptiveCardInvokeActivity, authorization: str, *,
                     service_url: str) -> Response:
        """On a worker thread: the token checked, then the card action answered (a key fetch,
        if one is due, waits on this thread)."""
        try:
            self.check.verify(authorization, service_url=service_url)
        except InvalidToken as exc:
            log.warning("Teams: refused a %s activity: %s", activity.type, exc)
            return JSONResponse({"error": "Unauthorized"}, status_code=401)
        try:
            return JSONResponse(answer(activity), status_code=200)
        except Exception:
            log.exception("Teams: a card action could not be answered")
            return JSONResponse({"error": "Internal server error"}, status_code=500)

    async def _checked(self, handler: HttpRouteHandler, request: HttpRequest, *,
                       activity_type: str, service_url: str) -> HttpResponse:
        """On the Teams loop: the token checked, then the SDK's handler. The check is CPU
        only while the keys are cached; a key fetch (at start, then hourly or for an unknown
        key) waits here, on this loop, never on the web server's."""
        try:
            self.check.verify(request["headers"].get("authorization", ""),
                              service_url=service_url)
        except InvalidToken as exc:
            log.warning("Teams: refused a %s activity: %s", activity_type[:40], exc)
            return HttpResponse(status=401, body={"error": "Unauthorized"})
        return await handler(request)
