"""The outbox worker's thread: a wake sends at once, a failing round is retried, stop joins.

The deliverer is a stand-in that counts rounds (the real one is tested in test_deliverer.py);
the interval is long where a test shows that something happens *before* it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import pytest

from bot.outbox.worker import DeliveryWorker

PATIENCE = 5.0  # seconds a test waits for the thread before calling it stuck


class CountingDeliverer:
    """``run_once`` returns the next of ``results`` (then 0); an exception is raised."""

    def __init__(self, *results: int | Exception) -> None:
        self.results = list(results)
        self.calls = 0
        self._called = threading.Condition()

    def run_once(self) -> int:
        with self._called:
            self.calls += 1
            self._called.notify_all()
        result = self.results.pop(0) if self.results else 0
        if isinstance(result, Exception):
            raise result
        return result

    def wait_for(self, calls: int) -> bool:
        with self._called:
            return self._called.wait_for(lambda: self.calls >= calls, timeout=PATIENCE)


@pytest.fixture
def workers() -> Iterator[list[DeliveryWorker]]:
    started: list[DeliveryWorker] = []
    yield started
    for worker in started:
        worker.stop()


def start(workers, deliverer, **kwargs) -> DeliveryWorker:
    worker = DeliveryWorker(deliverer, **kwargs).start()
    workers.append(worker)
    return worker


def test_a_wake_sends_at_once_not_after_the_interval(workers):
    deliverer = CountingDeliverer()
    worker = start(workers, deliverer, interval=60, settle=0.01)
    assert deliverer.wait_for(1)  # the first look, at start
    began = time.monotonic()
    worker.wake()
    assert deliverer.wait_for(2)
    assert time.monotonic() - began < 2


def test_a_round_goes_on_while_there_is_something_to_send(workers):
    deliverer = CountingDeliverer(3, 2, 1)  # three busy rounds, then nothing due
    start(workers, deliverer, interval=60)
    assert deliverer.wait_for(4)
    time.sleep(0.1)
    assert deliverer.calls == 4  # then it waits for the interval or a wake


def test_without_a_wake_it_looks_every_interval(workers):
    deliverer = CountingDeliverer()
    start(workers, deliverer, interval=0.05)
    assert deliverer.wait_for(4)


def test_a_failing_round_is_logged_and_retried(workers, caplog):
    caplog.set_level(logging.ERROR, logger="bot.outbox.worker")
    deliverer = CountingDeliverer(RuntimeError("database is locked"), 1)
    start(workers, deliverer, interval=0.05)
    assert deliverer.wait_for(3)  # failed, then sent one, then found nothing more
    failures = [r for r in caplog.records if "the outbox round failed" in r.getMessage()]
    assert len(failures) == 1
    assert "retrying in 0.1 s" in failures[0].getMessage()
    assert "database is locked" in str(failures[0].exc_info[1])


def test_stop_ends_the_thread_promptly_even_during_a_long_wait(workers):
    deliverer = CountingDeliverer()
    worker = start(workers, deliverer, interval=60, settle=0)
    assert deliverer.wait_for(1)
    began = time.monotonic()
    worker.stop()
    assert time.monotonic() - began < 2
    assert not [t for t in threading.enumerate() if t.name == "outbox" and t.is_alive()]
    calls = deliverer.calls
    worker.wake()
    time.sleep(0.1)
    assert deliverer.calls == calls  # a stopped worker sends nothing more
