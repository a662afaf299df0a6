"""Keeping an outbox claim alive while its message is being sent.

A claim is a lease (``schedule.lease_seconds``): once it runs out, another replica, or this
one after a restart, takes the message as abandoned and sends it. A send that is merely slow
(a chart's three calls at up to 10 s each on Slack, a Teams call with its 30 s timeout and a
token fetch before it) must not look abandoned, so while it is in flight a thread pushes the
lease forward every third of its length. The push is conditional on the claim still being
this one (same attempt count, still pending): a claim that another process took over is never
taken back, and that is logged, since the message may then arrive twice.

A crash stops the pushes with the process, so a crashed send still frees its message one
lease later. In-memory SQLite (one process, one shared connection) has no other replica and
gets no thread.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from types import TracebackType

from sqlalchemy.engine import Engine

from storage import queries
from storage.db import session_scope

__all__ = ["LeaseKeeper"]

log = logging.getLogger(__name__)


class LeaseKeeper:
    """``with LeaseKeeper(...):`` around a send keeps its claim leased until the block ends."""

    def __init__(self, engine: Engine, *, message_id: int, attempts: int,
                 lease: timedelta) -> None:
        self.engine = engine
        self.message_id = message_id
        self.attempts = attempts  # the claim's attempt count: it identifies the claim
        self.lease = lease
        self.renewals = 0
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> LeaseKeeper:
        if self.engine.url.database not in (None, "", ":memory:"):
            self._thread = threading.Thread(target=self._run, daemon=True,
                                            name=f"outbox-lease-{self.message_id}")
            self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        every = self.lease.total_seconds() / 3
        while not self._stop.wait(every):
            try:
                with session_scope(self.engine) as session:
                    kept = queries.outbox.renew(
                        db_session=session, message_id=self.message_id,
                        attempts=self.attempts, until=datetime.now(UTC) + self.lease)
            except Exception:  # the store is briefly unreachable: try again next time
                log.warning("outbox message %s: its lease could not be extended",
                            self.message_id, exc_info=True)
                continue
            if not kept:
                self.lost = True
                log.warning("outbox message %s: its lease ran out while it was being sent and "
                            "another replica took it; it may arrive twice (raise "
                            "schedule.lease_seconds if sends are this slow)", self.message_id)
                return
            self.renewals += 1
