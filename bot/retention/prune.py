"""``spendwatch db prune`` and the daily job: roll hourly points older than the retention age
up to one point per day (``storage.queries.retention`` holds the SQL and why it is exact).

Only ``cost_point`` changes: anomalies, alerts, runbooks and the audit log are kept whole.
One transaction per chunk of consecutive days, so an interrupted prune leaves every day either
hourly or rolled up, never half; the next run goes on from there. The prune runs under the
``prune`` advisory lock (``storage.db.job_lock``), so two replicas never prune at once, and
each prune that changes the store is written to the audit log with what it did.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.engine import Connection, Engine

from bot.retention.config import check_hourly_days
from storage import queries
from storage.db import job_lock, session_scope
from storage.queries import retention as retention_q

__all__ = ["PruneResult", "cutoff_for", "prune"]

log = logging.getLogger(__name__)

AUDIT_ACTION = "prune"
CHUNK_DAYS = 7


@dataclass(frozen=True)
class PruneResult:
    """What a prune did (or, with ``dry_run``, would do)."""

    cutoff: datetime  # hourly points before this midnight were rolled up
    days: list[date]  # the days rolled up (they held hourly points)
    points_before: int  # points in the store before
    points_after: int  # and after (for a dry run: what it would hold)
    seconds: float
    dry_run: bool = False
    skipped: bool = False  # another replica was pruning

    def summary(self) -> str:
        if self.skipped:
            return "another replica is pruning; nothing done"
        verb = "would roll up" if self.dry_run else "rolled up"
        span = (f" ({self.days[0]:%Y-%m-%d} to {self.days[-1]:%Y-%m-%d})" if self.days
                else "")
        return (f"{verb} {len(self.days):,} days before {self.cutoff:%Y-%m-%d}{span}: "
                f"{self.points_before:,} -> {self.points_after:,} points "
                f"in {self.seconds:.1f}s")


def cutoff_for(older_than_days: int, now: datetime) -> datetime:
    """The UTC midnight ``older_than_days`` before today's."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=older_than_days)


def prune(*, engine: Engine, older_than_days: int, actor: str, now: datetime | None = None,
          dry_run: bool = False, chunk_days: int = CHUNK_DAYS,
          overlaps_hours: tuple[int, ...] = ()) -> PruneResult:
    """Roll up every day before ``cutoff_for(older_than_days, now)`` that holds hourly
    points. ``actor`` is who asked (the audit log's ``actor``); ``overlaps_hours`` are the
    window sources' overlaps, which must stay hourly."""
    check_hourly_days(older_than_days, overlaps_hours=overlaps_hours)
    cutoff = cutoff_for(older_than_days, now or datetime.now(UTC))
    started = time.perf_counter()
    with job_lock(engine, "prune") as mine:
        if not mine:
            return PruneResult(cutoff=cutoff, days=[], points_before=0, points_after=0,
                               seconds=0.0, dry_run=dry_run, skipped=True)
        with engine.connect() as connection:
            days = retention_q.days_to_roll_up(connection=connection, before=cutoff)
            before = retention_q.count_points(connection=connection)
            if dry_run:
                after = before - sum(_shrink(connection, first, end)
                                     for first, end in retention_q.day_chunks(
                                         days, size=chunk_days))
                return PruneResult(cutoff=cutoff, days=days, points_before=before,
                                   points_after=after, seconds=time.perf_counter() - started,
                                   dry_run=True)
        for first, end in retention_q.day_chunks(days, size=chunk_days):
            with _chunk_transaction(engine) as connection:
                removed, written = retention_q.roll_up(connection=connection, start=first,
                                                       end=end)
            log.info("rolled up %s to %s: %d points -> %d", first, end - timedelta(days=1),
                     removed, written)
        with engine.connect() as connection:
            after = retention_q.count_points(connection=connection)
    result = PruneResult(cutoff=cutoff, days=days, points_before=before, points_after=after,
                         seconds=time.perf_counter() - started)
    if days:
        _audit(engine, result, actor=actor)
    return result


def _shrink(connection: Connection, first: date, end: date) -> int:
    now_count, rolled = retention_q.groups_in(connection=connection, start=first, end=end)
    return now_count - rolled


@contextmanager
def _chunk_transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction; on PostgreSQL a REPEATABLE READ one, so the sum and the delete see
    the same points."""
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            yield connection


def _audit(engine: Engine, result: PruneResult, *, actor: str) -> None:
    with session_scope(engine) as session:
        queries.audit.add_audit(
            db_session=session, actor=actor, action=AUDIT_ACTION, subject_type="cost_point",
            subject_id=f"before {result.cutoff:%Y-%m-%d}",
            detail={"days": len(result.days), "first_day": result.days[0].isoformat(),
                    "last_day": result.days[-1].isoformat(),
                    "points_before": result.points_before,
                    "points_after": result.points_after,
                    "seconds": round(result.seconds, 2)})
