"""Replayed requests: a signed request seen before is acknowledged and dropped.

Slack signs every HTTP request over its timestamp and body, and Bolt refuses a timestamp more
than five minutes old; within those five minutes a captured request could be sent again as
is. :class:`ReplayGuard` remembers each signature it let through for five minutes, and the
middleware from :func:`refuse_replays` answers a repeat with an empty 200 (so Slack does not
retry it) without running any listener. Per process, in memory: with several replicas behind
a load balancer a replay may still reach another one, where the actions themselves apply once
(``bot.anomaly.service``). Socket Mode payloads carry no signature and pass untouched.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from slack_bolt import BoltRequest, BoltResponse

__all__ = ["WINDOW_SECONDS", "ReplayGuard", "refuse_replays"]

log = logging.getLogger(__name__)
WINDOW_SECONDS = 300.0  # Bolt refuses older timestamps


class ReplayGuard:
    def __init__(self, *, window: float = WINDOW_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self._clock = clock
        self._seen: dict[str, float] = {}  # signature -> when it may be forgotten
        self._lock = threading.Lock()
        self._next_prune = 0.0

    def first_time(self, signature: str) -> bool:
        """True the first time ``signature`` is seen within the window."""
        with self._lock:
            now = self._clock()
            if now >= self._next_prune:
                self._seen = {s: until for s, until in self._seen.items() if until > now}
                self._next_prune = now + self.window / 10
            if self._seen.get(signature, 0.0) > now:
                return False
            self._seen[signature] = now + self.window
            return True


def refuse_replays(guard: ReplayGuard) -> Callable[..., BoltResponse]:
    """A Bolt middleware; it runs after Bolt has verified the signature."""

    def middleware(req: BoltRequest, resp: BoltResponse,
                   next: Callable[[], BoltResponse]) -> BoltResponse:  # noqa: A002 (Bolt's name)
        values = req.headers.get("x-slack-signature") or []
        signature = values[0] if values else None
        if signature and not guard.first_time(signature):
            log.warning("a signed request was sent again within %.0f s; dropped", guard.window)
            return BoltResponse(status=200, body="")
        return next()

    return middleware
