"""The Slack app: built from the services in a few lines, served over HTTP or Socket Mode.

:func:`build_app` makes the slack-bolt ``App`` and registers every listener (buttons and
modals in ``listeners``, ``/cost`` and App Home here). :func:`serve_http` answers Slack's
signed requests on ``/slack/events`` (signature and timestamp checked by Bolt before any
listener runs) and ``/healthz`` for load balancers, on a threading HTTP server so one slow
request never holds up another click.
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from slack_bolt import Ack, App, BoltRequest, Respond
from slack_sdk import WebClient

from bot.access import visible_owners
from bot.alerts import RunbookView
from bot.chat.ids import CommandName, EventName
from bot.chat.slack.guard import ReplayGuard, refuse_replays
from bot.chat.slack.home import home_view
from bot.chat.slack.listeners import SlackContext, register, slow_down
from bot.cost_command import Scope
from bot.cost_command import respond as answer_cost
from bot.cost_format import format_mrkdwn
from bot.responses import load_alert_view
from storage import chatops
from storage.db import session_scope

__all__ = ["build_app", "serve_http"]

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"
LISTENER_THREADS = 48
HEALTH_PATH = "/healthz"


def build_app(ctx: SlackContext, *, client: WebClient, signing_secret: str | None) -> App:
    """The Bolt app; ``signing_secret`` None only for Socket Mode (its payloads are unsigned)."""
    # a request is answered once a listener thread has called ack(); Bolt's default pool of 5
    # threads queues a burst of clicks behind each other, and a pool that starts its threads
    # on demand makes the first burst after a start slow
    logging.getLogger("slack_bolt.App").addFilter(_SAME_TOKEN)
    executor = ThreadPoolExecutor(max_workers=LISTENER_THREADS,
                                  thread_name_prefix="slack-listener")
    _start_threads(executor, LISTENER_THREADS)
    app = App(client=client, signing_secret=signing_secret or "",
              request_verification_enabled=signing_secret is not None,
              token_verification_enabled=False, raise_error_for_unhandled_request=False,
              listener_executor=executor)
    if signing_secret is not None:
        app.use(refuse_replays(ReplayGuard()))
    register(app, ctx)
    app.command(CommandName.COST.value)(_cost(ctx))
    app.event(EventName.APP_HOME_OPENED.value)(_home(ctx))
    return app


class _SameTokenNotice(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN itself and, given a client too, warns on every start that the
    token is unused; the client was made from that very token, so the line is only noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


_SAME_TOKEN = _SameTokenNotice()


def _start_threads(executor: ThreadPoolExecutor, count: int) -> None:
    """Make the pool start all its threads now (each task waits until all are running)."""
    barrier = threading.Barrier(count)
    for _ in range(count):
        executor.submit(barrier.wait, 2.0)


def channel_scope(ctx: SlackContext, channel: str) -> Scope:
    owners = ctx.services.settings.routing.owners_of(channel)
    return Scope.everything() if owners is None else Scope.of_owners(owners)


def _cost(ctx: SlackContext) -> Any:
    def listener(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        ack()  # within Slack's 3 seconds; the answer follows on the response_url
        wait = ctx.commands.take(command.get("user_id", ""))
        if wait:
            respond(text=slow_down(wait), response_type="ephemeral")
            return
        scope = channel_scope(ctx, command.get("channel_id", ""))
        try:
            answer = answer_cost(
                command.get("text", ""), connection_or_engine=ctx.services.engine, scope=scope,
                environment_aliases=ctx.services.settings.allocation.environment_aliases)
            text = format_mrkdwn(answer)
        except Exception:
            log.exception("/cost %r failed", command.get("text", "")[:100])
            text = ":warning: that question could not be answered; it is logged. Try again."
        if scope.owners == frozenset():
            text = ("_This channel is not mapped to a team (routing.owners), so it sees no "
                    "spend; ask in the FinOps channel._\n") + text
        respond(text=text[:39_000], response_type="ephemeral")

    return listener


def _home(ctx: SlackContext) -> Any:
    def listener(event: dict[str, Any], client: WebClient) -> None:
        user = event.get("user", "")
        owners = visible_owners(ctx.services.settings.routing, user=user)
        with session_scope(ctx.services.engine) as session:
            rows = chatops.anomalies_by_status(db_session=session, owners=owners, limit=20)
            views = [load_alert_view(db_session=session, anomaly_id=int(a.id or 0),
                                     playbook=ctx.playbook) for a in rows]
            recent = chatops.recent_runbook(db_session=session, owners=owners, limit=10)
            resolutions = [(f"{e.project} · {e.environment}",
                            RunbookView(e.created_at, e.author, e.root_cause, e.fix,
                                        e.prevention)) for e in recent]
        client.views_publish(user_id=user, view=home_view(views, resolutions))

    return listener


class _Handler(BaseHTTPRequestHandler):
    app: App
    server_version = "spendwatch"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path.split("?")[0] != HEALTH_PATH:
            self._send(404, {"ok": False, "error": "not found"})
            return
        self._send(200, {"ok": True, "at": datetime.now(UTC).isoformat()})

    def do_POST(self) -> None:  # noqa: N802
        path, _, query = self.path.partition("?")
        if path != EVENTS_PATH:
            self._send(404, {"ok": False, "error": "not found"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8") if length else ""
        headers = {k.lower(): [v] for k, v in self.headers.items()}
        response = self.app.dispatch(BoltRequest(body=body, query=query, headers=headers))
        self.send_response(response.status)
        for name, values in response.headers.items():
            for value in values:
                self.send_header(name, value)
        payload = (response.body or "").encode("utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("%s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    # the stdlib default queue of 5 waiting connections makes the kernel drop most of a burst
    # of clicks (a channel of people answering one alert); Slack shows those as failed
    request_queue_size = 256
    daemon_threads = True


def serve_http(app: App, *, host: str = "0.0.0.0", port: int = 3000
               ) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Start serving in a daemon thread; ``server.shutdown()`` stops it."""
    handler = type("SlackHandler", (_Handler,), {"app": app})
    server = _Server((host, port), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name="slack-http", daemon=True)
    thread.start()
    return server, thread

