"""The Slack app: built from the services in a few lines, served over HTTP or Socket Mode.

:func:`build_app` makes the slack-bolt ``App`` and registers every listener (buttons and
modals in ``listeners``, ``/cost`` and App Home here). In HTTP mode ``bot.chat.slack.http``
turns it into the ``/slack/events`` route of the web app (``bot.web``).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.anomaly.access import visible_owners
from bot.anomaly.service import load_alert_view
from bot.anomaly.views import RunbookView
from bot.chat.ids import CommandName, EventName
from bot.chat.slack.guard import ReplayGuard, refuse_replays
from bot.chat.slack.home import home_view
from bot.chat.slack.listeners import SlackContext, register, slow_down
from bot.costs.command import Scope
from bot.costs.command import respond as answer_cost
from bot.costs.views import format_mrkdwn
from storage import chatops
from storage.db import session_scope

__all__ = ["LISTENER_THREADS", "build_app"]

log = logging.getLogger(__name__)
LISTENER_THREADS = 48


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
