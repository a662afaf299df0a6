"""What a ``/metrics`` scrape costs as the store grows: the store's figures are read each time.

Builds a migrated SQLite store (or the PostgreSQL at ``--database-url``) with ``--sent`` sent
outbox messages, ``--pending`` waiting and 20 sources, and times the whole scrape
(``generate_latest`` over :func:`bot.metrics.scrape_registry`, the body ``/metrics`` sends)
against the same scrape of an empty store, in this process.

    .venv/bin/python -m bench.metrics_scrape --sent 200000 --pending 1000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import generate_latest
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from bot.metrics import scrape_registry
from storage.db import make_engine, upgrade
from storage.models import OutboxMessage, SourceState

SOURCES = [f"source-{i:02d}" for i in range(20)]


def fill(engine: Engine, *, sent: int, pending: int) -> None:
    now = datetime.now(UTC)
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    with engine.begin() as connection:
        connection.execute(insert(SourceState.__table__), [  # type: ignore[attr-defined]
            {"name": name, "kind": "focus", "newest_hour": now - timedelta(hours=i),
             "failures": 0, "rows_last": 0, "rows_total": 0}
            for i, name in enumerate(SOURCES)])
        for start in range(0, sent + pending, 20_000):
            rows = []
            for n in range(start, min(start + 20_000, sent + pending)):
                waiting = n >= sent
                at = now - timedelta(seconds=n)
                rows.append({"platform": "slack" if n % 3 else "teams", "channel": "C1",
                             "operation": "post", "payload": {}, "attempts": 1,
                             "status": "pending" if waiting else "sent",
                             "next_attempt_at": at, "created_at": at,
                             "sent_at": None if waiting else at})
            connection.execute(insert(table), rows)


def scrape_ms(engine: Engine, runs: int) -> float:
    registry = scrape_registry(engine, sources=SOURCES, platforms=["slack", "teams"])
    generate_latest(registry)  # warm the connection pool and statement cache
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        generate_latest(registry)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sent", type=int, default=200_000)
    parser.add_argument("--pending", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: SQLite)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        empty = make_engine(f"sqlite:///{Path(workdir) / 'empty.db'}")
        full = make_engine(args.database_url or f"sqlite:///{Path(workdir) / 'full.db'}")
        for engine in (empty, full):
            upgrade(engine)
        started = time.perf_counter()
        fill(full, sent=args.sent, pending=args.pending)
        print(f"store: {args.sent:,} sent + {args.pending:,} pending outbox messages, "
              f"{len(SOURCES)} sources ({time.perf_counter() - started:.1f} s to write)")
        baseline = scrape_ms(empty, args.runs)
        loaded = scrape_ms(full, args.runs)
        print(f"scrape median over {args.runs}: empty store {baseline:.2f} ms, "
              f"full store {loaded:.2f} ms (x{loaded / baseline:.1f})")
        empty.dispose()
        full.dispose()


if __name__ == "__main__":
    main()
