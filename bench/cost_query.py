"""``/cost`` latency: every form of the chat command against a year of hourly spend in SQLite.

Builds a store of ``--lines`` lines of spend (default 1,000) with one point per hour for
``--days`` days (default 365: 8.76 million points), written month by month in the batches
ingestion uses, so rows sit on disk as a real store's do. A few hundred anomalies and runbook
entries come with it. The store is built with the repository's own bulk insert; ``--db PATH``
keeps the file and reuses it on the next run with the same shape.

Then each form is answered ``--repeat`` times end to end (parse, SQL, rendering as Slack
mrkdwn), cycling through projects, and the table gives p50 / p95 / max per form and overall.
The target is a p95 of 500 ms per answer.

    python bench/cost_query.py --db /tmp/cost-bench.db --repeat 40
    python bench/cost_query.py --lines 200 --days 60 --repeat 10
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from bot.costs.command import HelpAnswer, Scope, respond
from bot.costs.views import format_mrkdwn
from storage.db import make_engine, session_scope, upgrade
from storage.models import SERIES_COLUMNS, Anomaly, RunbookEntry
from storage.queries import points as points_q
from storage.queries import runs
from storage.queries import state as state_q

FIRST_HOUR = datetime(2025, 1, 1, tzinfo=UTC)
PROJECTS = 100
ENVIRONMENTS = ("prod", "dev", "staging")
SERVICES = ("Amazon Bedrock", "Amazon EC2", "Amazon S3", "AmazonCloudWatch",
            "AWS Data Transfer", "Amazon SageMaker")
REGIONS = ("us-east-1", "eu-west-1")
SERIES_PER_BATCH = 250  # x one month of hours: about the points ingestion flushes at once
MARKER = "bench.cost_query"
FORMS = {
    "/cost <project>": "{project}",
    "/cost <project> prod 30d": "{project} prod 30d",
    "/cost <project> mtd": "{project} mtd",
    "/cost top 10 30d": "top 10 30d",
    "/cost anomalies": "anomalies",
}


def series_frame(lines: int) -> pd.DataFrame:
    """One row per line of spend: 100 projects, each with up to ten (env, service, region)."""
    rows = []
    for i in range(lines):
        project, j = i % PROJECTS, i // PROJECTS
        values = {c: "" for c in SERIES_COLUMNS}
        values.update(
            provider="AWS", billing_account_id=f"ba-{project % 3}",
            sub_account_id=f"{100000000000 + project % 25}",
            sub_account_name=f"account-{project % 25}", service_name=SERVICES[j % 6],
            service_category="Compute", region=REGIONS[(j // 6) % 2],
            project=f"project-{project:03d}", environment=ENVIRONMENTS[j % 3],
            owner=f"team-{project % 12}", phase="run", cost_center=f"cc-{project % 7}",
            charge_category="Usage", currency="USD", usage_unit=f"unit-{j}",
        )
        rows.append(values)
    return pd.DataFrame(rows, columns=list(SERIES_COLUMNS))


def _month_points(ids: np.ndarray, hours: pd.DatetimeIndex, levels: np.ndarray,
                  rng: np.random.Generator) -> pd.DataFrame:
    daily = 1 + 0.3 * np.sin(2 * np.pi * (hours.hour.to_numpy() / 24))
    cost = np.outer(levels, daily) * rng.gamma(8.0, 1 / 8.0, (len(ids), len(hours)))
    cost = cost.ravel()
    month = hours[0].replace(day=1, hour=0)
    return pd.DataFrame({
        "series_id": np.repeat(ids, len(hours)),
        "hour": np.tile(hours, len(ids)),
        "billing_period_start": month,
        "billed_cost": cost, "effective_cost": cost, "usage_quantity": cost * 100,
        "line_items": 10,
    })


def build(engine: Engine, *, lines: int, days: int, seed: int = 7) -> int:
    """Fill an empty store; returns the number of points written."""
    rng = np.random.default_rng(seed)
    with engine.begin() as connection:
        ids = points_q.resolve_series(connection=connection, series=series_frame(lines), cache={})
    levels = rng.lognormal(0.0, 1.2, len(ids))
    hours = pd.date_range(FIRST_HOUR, periods=days * 24, freq="h")
    written = 0
    months = hours.year * 12 + hours.month
    for month in np.unique(months):
        month_index = hours[months == month]
        with session_scope(engine) as session:
            run = runs.create_ingest_run(
                db_session=session, delivery_id=f"bench-{month_index[0]:%Y-%m}",
                source="bench", file_path="bench", checksum="", fingerprint="", file_size=0)
            run_id = run.id
        assert run_id is not None
        with engine.begin() as connection:
            for start in range(0, len(ids), SERIES_PER_BATCH):
                part = slice(start, start + SERIES_PER_BATCH)
                points = _month_points(ids[part], month_index, levels[part], rng)
                written += points_q.insert_points(connection=connection, run_id=run_id,
                                                  points=points)
    _add_incidents(engine, hours[-1].to_pydatetime(), rng)
    return written


def _add_incidents(engine: Engine, newest: datetime, rng: np.random.Generator) -> None:
    statuses = ("open", "acknowledged", "auto-resolved", "resolved", "expected")
    with session_scope(engine) as session:
        for n in range(300):
            project = int(rng.integers(PROJECTS))
            started = newest - timedelta(hours=int(rng.integers(1, 24 * 90)))
            impact = float(rng.gamma(2.0, 80.0))
            session.add(Anomaly(
                project=f"project-{project:03d}", environment=ENVIRONMENTS[n % 3],
                owner=f"team-{project % 12}", phase="run", kind="spike",
                status=statuses[n % len(statuses)], started_at=started,
                detected_at=started + timedelta(hours=2), last_seen_at=started + timedelta(
                    hours=6), expected_cost=10.0, actual_cost=30.0, impact_usd=impact,
                peak_hourly_usd=impact / 4,
            ))
            session.add(RunbookEntry(
                project=f"project-{project:03d}", environment=ENVIRONMENTS[n % 3],
                service_name=SERVICES[n % 6], root_cause="a batch job retried without limit",
                fix="capped the retries", prevention="alert on retries", author="bench",
                created_at=started + timedelta(days=1),
            ))


@contextmanager
def store(path: Path | None, *, lines: int, days: int) -> Iterator[Engine]:
    """An engine on a built store, built now or reused from ``path`` if it has this shape."""
    with tempfile.TemporaryDirectory() as tmp:
        db = path or Path(tmp) / "cost-bench.db"
        engine = make_engine(f"sqlite:///{db}")
        try:
            upgrade(engine)
            shape = {"lines": lines, "days": days}
            with session_scope(engine) as session:
                state = state_q.get_state(db_session=session, name=MARKER) or {}
            if {k: state.get(k) for k in shape} == shape:
                built = state.get("build_seconds")
                print(f"reusing the store in {db}"
                      + (f" (built in {built:.1f}s)" if built is not None else ""))
            else:
                if path is not None and db.stat().st_size > 1 << 20:
                    raise SystemExit(f"{db} holds another store; remove it or pick a new path")
                started = time.perf_counter()
                points = build(engine, lines=lines, days=days)
                seconds = time.perf_counter() - started
                with session_scope(engine) as session:
                    state_q.set_state(db_session=session, name=MARKER,
                                      value={**shape, "build_seconds": seconds})
                print(f"built {points:,} points ({lines:,} lines x {days} days) in "
                      f"{seconds:.1f}s ({points / seconds:,.0f} points/s)")
            yield engine
        finally:
            engine.dispose()


def time_forms(engine: Engine, *, repeat: int, warmup: int) -> dict[str, list[float]]:
    """Milliseconds per answer of each form, cycling through the projects."""
    projects = [f"project-{p:03d}" for p in range(PROJECTS)]
    scope = Scope.everything()
    timings: dict[str, list[float]] = {}
    for form, template in FORMS.items():
        samples = []
        for n in range(warmup + repeat):
            text = template.format(project=projects[(n * 37) % len(projects)])
            started = time.perf_counter()
            answer = respond(text, connection_or_engine=engine, scope=scope)
            reply = format_mrkdwn(answer)
            elapsed = (time.perf_counter() - started) * 1000
            if isinstance(answer, HelpAnswer):
                raise SystemExit(f"{text!r} was not answered: {reply.splitlines()[0]}")
            if n >= warmup:
                samples.append(elapsed)
        timings[form] = samples
    return timings


def _quantile(values: list[float], q: float) -> float:
    return float(np.quantile(np.asarray(values), q))


def report(timings: dict[str, list[float]], *, target_ms: float) -> None:
    everything = [v for values in timings.values() for v in values]
    print(f"{'form':<28}{'n':>5}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}  target")
    for form, values in [*timings.items(), ("overall", everything)]:
        p95 = _quantile(values, 0.95)
        print(f"{form:<28}{len(values):>5}{statistics.median(values):>10.1f}{p95:>10.1f}"
              f"{max(values):>10.1f}  {'ok' if p95 <= target_ms else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=None,
                        help="SQLite file to keep the built store in and reuse")
    parser.add_argument("--lines", type=int, default=1_000, help="lines of spend (series)")
    parser.add_argument("--days", type=int, default=365, help="days of hourly points")
    parser.add_argument("--repeat", type=int, default=40, help="timed answers per form")
    parser.add_argument("--warmup", type=int, default=2, help="untimed answers per form")
    parser.add_argument("--target-ms", type=float, default=500.0)
    args = parser.parse_args()
    with store(args.db, lines=args.lines, days=args.days) as engine:
        report(time_forms(engine, repeat=args.repeat, warmup=args.warmup),
               target_ms=args.target_ms)


if __name__ == "__main__":
    main()
