"""The Slack app: built from the services in a few lines, served over HTTP or Socket Mode.

:func:`build_app` makes the slack-bolt ``App`` and registers every listener (buttons and
modals, ``/cost`` and App Home, all in ``listeners.register``). In HTTP mode ``bot.chat.slack.http``
turns it into the ``/slack/events`` route of the web app (``bot.web``).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App
from slack_sdk import WebClient

from bot.chat.slack.guard import ReplayGuard, refuse_replays
from bot.chat.slack.listeners import SlackContext, register

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
