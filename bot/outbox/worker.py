"""The outbox worker: a thread that sends the outbox, woken by every action.

A click's update is queued in the click's transaction; :meth:`DeliveryWorker.wake` makes the
worker look at once, so the message changes within a moment. Otherwise it looks every
``schedule.deliver_seconds``. Replicas share one outbox safely: claims are leases
(:mod:`bot.outbox.deliverer`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from bot.outbox.deliverer import Deliverer

__all__ = ["DeliveryWorker"]

log = logging.getLogger(__name__)


class DeliveryWorker:
    """Sends the outbox of each platform in a thread; :meth:`wake` makes it look now."""

    def __init__(self, deliverer: Deliverer | Sequence[Deliverer], *, interval: float,
                 settle: float = 0.1) -> None:
        self.deliverers = list(deliverer) if isinstance(deliverer, Sequence) else [deliverer]
        self.deliverer = self.deliverers[0]
        self.interval = interval
        # after a wake, wait this long: the clicks of a busy moment land first, and their
        # updates of one alert collapse into one render instead of competing with them
        self.settle = settle
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox", daemon=True)

    def start(self) -> DeliveryWorker:
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                while sum(deliverer.run_once() for deliverer in self.deliverers):
                    pass
            except Exception:
                log.exception("the outbox round failed; retrying in %.1f s", self.interval)
            if self._wake.wait(self.interval) and not self._stop.is_set():
                time.sleep(self.settle)
            self._wake.clear()
