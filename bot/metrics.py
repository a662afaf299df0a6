"""What a platform team scrapes from ``/metrics``: the bot's counters, and the store's truth.

Two kinds of figures, kept apart on purpose:

* **What this process did** (polls, rows read, anomalies opened, messages sent, failed and
  dead, acknowledgement latency, job durations, time to answer a click): counters and
  histograms in one :class:`Metrics` per process. The code that does the thing calls one
  small function of this module (``message_sent``, ``acknowledged``, ...), so the domain
  never imports prometheus-client and no object has to be threaded through it. They live in
  a private ``CollectorRegistry``, never prometheus-client's global default, and
  :func:`reset` starts them again from zero (tests start each from a clean slate). Across
  replicas these *add up*: use ``sum()``.
* **What the store says now** (source lag, outbox depth): :class:`StoreCollector` reads
  them at scrape time, so every replica reports the truth even when another replica polled
  or sent. Every replica reports the same figures: use ``max()``, not ``sum()``, across
  replicas.

:func:`scrape_registry` puts both behind one registry for ``/metrics`` (``bot.web``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import bindparam, event, func
from sqlalchemy.engine import Engine
from sqlalchemy.orm import object_session
from sqlmodel import Session, col, select

from bot.outbox.enums import MessageStatus, Operation
from storage.models import Alert, OutboxMessage, SourceState
from storage.timeutil import as_utc, stored_utc

if TYPE_CHECKING:
    from bot.anomaly.lifecycle import LifecycleEvent
    from bot.ingest.poll import SourceOutcome

__all__ = ["Metrics", "StoreCollector", "acknowledged", "anomalies_opened", "click_answered",
           "current", "message_dead", "message_failed", "message_sent", "poll_outcome",
           "reset", "scrape_registry", "source_read", "timed"]

log = logging.getLogger(__name__)

ACK_BUCKETS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 43200, 86400)
JOB_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
CLICK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5)
DEPTH_STATUSES = (MessageStatus.PENDING, MessageStatus.DEAD)

F = TypeVar("F", bound=Callable[..., Any])


class Metrics:
    """The counters and histograms of one process, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.polls = Counter("spendwatch_polls_total", "Poll jobs this replica ran (another "
                             "replica's turn is not counted), by outcome.", ["outcome"],
                             registry=r)
        self.source_reads = Counter("spendwatch_source_reads_total", "Reads of a configured "
                                    "source, by source and outcome (ok, failed, skipped while "
                                    "backing off).", ["source", "outcome"], registry=r)
        self.rows = Counter("spendwatch_rows_ingested_total", "Cost rows kept from a source.",
                            ["source"], registry=r)
        self.anomalies = Counter("spendwatch_anomalies_opened_total", "Anomalies opened by "
                                 "the detection pass, by environment and kind.",
                                 ["environment", "kind"], registry=r)
        self.sent = Counter("spendwatch_messages_sent_total", "Chat messages delivered from "
                            "the outbox (operation post is an alert).", ["platform", "operation"],
                            registry=r)
        self.failed = Counter("spendwatch_messages_failed_total", "Chat sends that failed and "
                              "will be retried.", ["platform", "operation"], registry=r)
        self.dead = Counter("spendwatch_messages_dead_total", "Chat messages set aside for good "
                            "(a permanent error, or too many attempts).",
                            ["platform", "operation"], registry=r)
        self.ack_latency = Histogram("spendwatch_ack_latency_seconds", "Seconds from an "
                                     "alert's first post to its acknowledgement by a person.",
                                     buckets=ACK_BUCKETS, registry=r)
        self.jobs = Histogram("spendwatch_job_duration_seconds", "Seconds a scheduled job ran "
                              "(a turn left to another replica is short).", ["job"],
                              buckets=JOB_BUCKETS, registry=r)
        self.clicks = Histogram("spendwatch_click_seconds", "Seconds from a chat interaction "
                                "(a button click, a form submitted) arriving whole to its "
                                "answer leaving.", ["platform"], buckets=CLICK_BUCKETS,
                                registry=r)
        for outcome in ("ok", "failed"):
            self.polls.labels(outcome)


_lock = threading.Lock()
_current: Metrics | None = None


def current() -> Metrics:
    """This process's metrics (made on first use: nothing happens at import)."""
    global _current
    with _lock:
        if _current is None:
            _current = Metrics()
        return _current


def reset() -> Metrics:
    """Start every counter again from zero (a fresh registry); returns it."""
    global _current
    with _lock:
        _current = Metrics()
        return _current


@contextmanager
def poll_outcome() -> Iterator[None]:
    """Count the poll inside as ok, or failed when it raises (the exception goes on)."""
    try:
        yield
    except BaseException:
        current().polls.labels("failed").inc()
        raise
    current().polls.labels("ok").inc()


def source_read(outcome: SourceOutcome) -> None:
    m = current()
    state = "skipped" if outcome.skipped else "ok" if outcome.ok else "failed"
    m.source_reads.labels(outcome.label, state).inc()
    m.rows.labels(outcome.label).inc(outcome.rows_kept)


def anomalies_opened(events: Iterable[LifecycleEvent]) -> None:
    from bot.anomaly.enums import EventKind

    m = current()
    for opened in (e for e in events if e.kind == EventKind.OPENED):
        m.anomalies.labels(opened.incident.environment or "unallocated",
                           str(opened.incident.kind)).inc()


def message_sent(message: OutboxMessage) -> None:
    _once_committed(message, current().sent)


def message_failed(message: OutboxMessage) -> None:
    _once_committed(message, current().failed)


def message_dead(message: OutboxMessage) -> None:
    _once_committed(message, current().dead)


def _once_committed(message: OutboxMessage, counter: Counter) -> None:
    """Count ``message`` when the session holding its new status commits (at once when it
    is held by none): a scrape never counts what the store does not say."""
    child = counter.labels(message.platform, message.operation)
    session = object_session(message)
    if session is None:
        child.inc()
    else:
        event.listen(session, "after_commit", lambda _: child.inc(), once=True)


def click_answered(platform: str, seconds: float) -> None:
    current().clicks.labels(platform).observe(seconds)


def acknowledged(*, db_session: Session, anomaly_id: int, now: datetime) -> None:
    """Observe the seconds from the anomaly's first alert post (on any platform) to ``now``
    once the acknowledgement commits; nothing when no alert was posted (e.g. acknowledged
    from the CLI before any chat saw it)."""
    first = stored_utc(db_session.exec(_first_post_statement(),
                                       params={"anomaly_id": anomaly_id}).one_or_none())
    if first is None:
        return
    seconds = max((now - first).total_seconds(), 0.0)
    event.listen(db_session, "after_commit",
                 lambda _: current().ack_latency.observe(seconds), once=True)


@cache
def _first_post_statement() -> Any:
    """Built once: every acknowledgement reads it, in the click's transaction."""
    return (select(func.min(OutboxMessage.sent_at))
            .join(Alert, col(Alert.id) == col(OutboxMessage.alert_id))
            .where(col(Alert.anomaly_id) == bindparam("anomaly_id"),
                   col(OutboxMessage.operation) == Operation.POST,
                   col(OutboxMessage.status) == MessageStatus.SENT))


def timed(job: str, run: F) -> F:
    """``run`` timed into ``spendwatch_job_duration_seconds{job=...}`` (raising or not)."""
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return run(*args, **kwargs)
        finally:
            current().jobs.labels(job).observe(time.perf_counter() - started)

    wrapper.__name__ = getattr(run, "__name__", job)
    return wrapper  # type: ignore[return-value]


class StoreCollector(Collector):
    """Source lag and outbox depth, read from the store at each scrape.

    ``sources``: the configured sources' labels (a source removed from the config is not
    reported); ``platforms``: the chat platforms this process sends on (each reports a depth,
    zero included). A store that cannot be read sets ``spendwatch_store_up`` to 0 and is
    logged; the process's own figures are still served."""

    def __init__(self, engine: Engine, *, sources: Sequence[str],
                 platforms: Sequence[str], clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.sources = tuple(sources)
        self.platforms = tuple(platforms)
        self.clock = clock or (lambda: datetime.now(UTC))

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("spendwatch_store_up", "1 when the store could be read for "
                               "this scrape, else 0.")
        try:
            families = self._from_store(self.clock())
        except Exception as exc:
            log.warning("metrics: the store could not be read: %s", type(exc).__name__)
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        return [up, *families]

    def _from_store(self, now: datetime) -> list[Metric]:
        lag = GaugeMetricFamily(
            "spendwatch_source_lag_seconds", "Seconds from the end of the newest hour of cost "
            "data a source delivered to now (same on every replica: use max()).", labels=["source"])
        failures = GaugeMetricFamily(
            "spendwatch_source_failures", "Failed reads of a source in a row (0: the last read "
            "worked).", labels=["source"])
        depth = GaugeMetricFamily(
            "spendwatch_outbox_messages", "Outbox messages waiting (pending) or set aside (dead), "
            "per platform (same on every replica: use max(), not sum()).",
            labels=["platform", "status"])
        oldest = GaugeMetricFamily(
            "spendwatch_outbox_oldest_pending_seconds", "Age of the oldest message not sent "
            "yet, per platform (0: none waiting).", labels=["platform"])
        with self.engine.connect() as connection:
            states = connection.execute(
                select(col(SourceState.name), col(SourceState.newest_hour),
                       col(SourceState.failures))
                .where(col(SourceState.name).in_(self.sources))).all()
            rows = connection.execute(
                select(col(OutboxMessage.platform), col(OutboxMessage.status), func.count(),
                       func.min(OutboxMessage.created_at))
                .where(col(OutboxMessage.status).in_(DEPTH_STATUSES))
                .group_by(OutboxMessage.platform, OutboxMessage.status)).all()
        for name, newest, failed in states:
            failures.add_metric([name], failed)
            if newest is not None:
                end = as_utc(newest) + timedelta(hours=1)
                lag.add_metric([name], max((now - end).total_seconds(), 0.0))
        counts = {(p, s): (n, stored_utc(first)) for p, s, n, first in rows}
        for platform in sorted({*self.platforms, *(p for p, _ in counts)}):
            for status in DEPTH_STATUSES:
                depth.add_metric([platform, status], counts.get((platform, status), (0, None))[0])
            first = counts.get((platform, MessageStatus.PENDING), (0, None))[1]
            age = (now - first).total_seconds() if first is not None else 0.0
            oldest.add_metric([platform], max(age, 0.0))
        return [lag, failures, depth, oldest]


class _Process(Collector):
    """This process's metrics as they are at each scrape (after a :func:`reset` too)."""

    def collect(self) -> Iterable[Metric]:
        return current().registry.collect()


def scrape_registry(engine: Engine, *, sources: Sequence[str], platforms: Sequence[str]
                    ) -> CollectorRegistry:
    """What ``/metrics`` serves: this process's metrics and the store's, in one registry."""
    registry = CollectorRegistry()
    registry.register(_Process())
    registry.register(StoreCollector(engine, sources=sources, platforms=platforms))
    return registry
