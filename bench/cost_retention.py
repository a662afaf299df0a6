"""``/cost`` latency with retention on against the same store without it.

Builds (or reuses, with ``--base``) the store of ``bench/cost_query.py``: ``--lines`` lines of
spend (default 1,000) with one point per hour for ``--days`` days (default 730: 17.5 million
points). Copies it with SQLite's online backup API (what ``docs/retention.md`` recommends while
the bot runs), prunes the copy with ``--keep-days`` of hourly points (``bot.retention.prune``,
timed) and VACUUMs it, so the file shows what retention saves.

Then every ``/cost`` form is answered ``--repeat`` times on each store, alternately, in this
process (parse, SQL, rendering as Slack mrkdwn), plus a year of spend by project against the
year before (``storage.queries.costs.spend_compared``: the shape of the board report and
showback questions, which reach into rolled-up days). Prints p50 / p95 per form and store,
the ratio of the p95s, whether both stores gave the same answer, and the stores' sizes and
point counts. The target is a p95 of 500 ms per ``/cost`` answer.

    python bench/cost_retention.py --base /tmp/retention-bench/base.db --repeat 20

With ``--base``, the pruned copy is kept beside it (``base-pruned.db``) and reused by the next
run with the same ``--keep-days``, so timings can be taken again without pruning again.
    python bench/cost_retention.py --lines 100 --days 120 --keep-days 40 --repeat 5
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from bench.cost_query import FORMS, PROJECTS, store  # noqa: E402
from bot.costs.command import HelpAnswer, Scope, respond  # noqa: E402
from bot.costs.views import format_mrkdwn  # noqa: E402
from bot.retention.prune import prune  # noqa: E402
from storage.db import make_engine, session_scope, upgrade  # noqa: E402
from storage.models import CostPoint  # noqa: E402
from storage.queries import costs as costs_q  # noqa: E402
from storage.queries import state as state_q  # noqa: E402

YEAR_FORM = "spend_compared by project 365d"
MARKER = "bench.cost_retention"


def backup(source: Path, target: Path) -> float:
    """Copy a live SQLite store page by page (sqlite3's online backup); returns seconds."""
    started = time.perf_counter()
    target.unlink(missing_ok=True)
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst, pages=65_536)
    return time.perf_counter() - started


def newest_hour(engine: Engine) -> datetime:
    with engine.connect() as connection:
        newest = costs_q.newest_hour(connection=connection)
    assert newest is not None, "the store holds points"
    return newest


def point_count(engine: Engine) -> tuple[int, int]:
    """All points, and the rolled-up ones."""
    with engine.connect() as connection:
        total = connection.execute(select(func.count()).select_from(CostPoint)).scalar_one()
        daily = connection.execute(select(func.count()).select_from(CostPoint).where(
            CostPoint.hours == 24)).scalar_one()  # type: ignore[arg-type]
    return int(total), int(daily)


def _answers(engine: Engine, end: datetime) -> dict[str, Callable[[int], str]]:
    projects = [f"project-{p:03d}" for p in range(PROJECTS)]
    scope = Scope.everything()

    def form(template: str) -> Callable[[int], str]:
        def answer(n: int) -> str:
            text = template.format(project=projects[(n * 37) % len(projects)])
            result = respond(text, connection_or_engine=engine, scope=scope)
            if isinstance(result, HelpAnswer):
                raise SystemExit(f"{text!r} was not answered")
            return format_mrkdwn(result)
        return answer

    def year(_: int) -> str:
        start, before = end - timedelta(days=365), end - timedelta(days=730)
        with engine.connect() as connection:
            rows = costs_q.spend_compared(connection=connection, by="project", start=start,
                                          end=end, previous_start=before, previous_end=start)
        return repr(sorted((r.key, round(r.cost, 4), round(r.previous, 4)) for r in rows))

    return {**{name: form(template) for name, template in FORMS.items()}, YEAR_FORM: year}


def time_both(stores: dict[str, Engine], *, end: datetime, repeat: int, warmup: int
              ) -> tuple[dict[tuple[str, str], list[float]], dict[str, bool]]:
    """Milliseconds per answer of each form on each store (alternating), and whether the
    stores answered each form alike."""
    answers = {name: _answers(engine, end) for name, engine in stores.items()}
    forms = list(next(iter(answers.values())))
    timings: dict[tuple[str, str], list[float]] = {}
    same: dict[str, bool] = {}
    for form in forms:
        same[form] = True
        for n in range(warmup + repeat):
            replies = []
            for name in stores:
                started = time.perf_counter()
                replies.append(answers[name][form](n))
                elapsed = (time.perf_counter() - started) * 1000
                if n >= warmup:
                    timings.setdefault((form, name), []).append(elapsed)
            same[form] = same[form] and len(set(replies)) == 1
    return timings, same


def report(timings: dict[tuple[str, str], list[float]], same: dict[str, bool],
           names: list[str], *, target_ms: float) -> None:
    base, pruned = names
    print(f"{'form':<34}{'store':<10}{'n':>4}{'p50 ms':>9}{'p95 ms':>9}"
          f"{'p95 ratio':>11}  same answer / target")
    for form in dict.fromkeys(f for f, _ in timings):
        p95s = {}
        for name in names:
            values = timings[(form, name)]
            p95s[name] = float(np.quantile(np.asarray(values), 0.95))
            ratio = f"{p95s[name] / p95s[base]:.2f}" if name == pruned else ""
            verdict = ("yes" if same[form] else "NO") if name == pruned else ""
            if form != YEAR_FORM:
                verdict += (" " if verdict else "") + ("ok" if p95s[name] <= target_ms
                                                       else "MISSED")
            print(f"{form:<34}{name:<10}{len(values):>4}{statistics.median(values):>9.1f}"
                  f"{p95s[name]:>9.1f}{ratio:>11}  {verdict}")


def _pruned_copy(base_path: Path, copy_path: Path, *, keep_days: int, end: datetime
                 ) -> Engine:
    """The pruned copy: made now, or reused when an earlier run left one pruned alike."""
    if copy_path.exists():
        pruned = make_engine(f"sqlite:///{copy_path}")
        upgrade(pruned)
        with session_scope(pruned) as session:
            made = state_q.get_state(db_session=session, name=MARKER) or {}
        if made.get("keep_days") == keep_days and made.get("base_size") == base_path.stat(
                ).st_size:
            print(f"reusing the pruned copy in {copy_path} ({made['summary']})")
            return pruned
        pruned.dispose()
    seconds = backup(base_path, copy_path)
    print(f"copied {base_path.stat().st_size / 2**30:.2f} GiB with the backup API "
          f"in {seconds:.1f}s")
    pruned = make_engine(f"sqlite:///{copy_path}")
    upgrade(pruned)
    result = prune(engine=pruned, older_than_days=keep_days, actor="bench", now=end)
    print(f"prune --older-than {keep_days}: {result.summary()}")
    started = time.perf_counter()
    with pruned.connect() as connection:
        connection.exec_driver_sql("VACUUM")
    print(f"VACUUM of the pruned store: {time.perf_counter() - started:.1f}s")
    with session_scope(pruned) as session:
        state_q.set_state(db_session=session, name=MARKER, value={
            "keep_days": keep_days, "base_size": base_path.stat().st_size,
            "summary": result.summary()})
    return pruned


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, default=None,
                        help="SQLite file to keep the hourly store in and reuse")
    parser.add_argument("--lines", type=int, default=1_000, help="lines of spend (series)")
    parser.add_argument("--days", type=int, default=730, help="days of hourly points")
    parser.add_argument("--keep-days", type=int, default=90,
                        help="retention.hourly_days of the pruned copy")
    parser.add_argument("--repeat", type=int, default=30, help="timed answers per form")
    parser.add_argument("--warmup", type=int, default=2, help="untimed answers per form")
    parser.add_argument("--target-ms", type=float, default=500.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, \
            store(args.base, lines=args.lines, days=args.days) as base:
        base_path = Path(str(base.url.database))
        copy_path = (args.base.with_name(args.base.stem + "-pruned.db") if args.base
                     else Path(tmp) / "pruned.db")
        upgrade(base)
        end = newest_hour(base) + timedelta(hours=1)
        pruned = _pruned_copy(base_path, copy_path, keep_days=args.keep_days, end=end)
        try:
            stores = {"hourly": base, "retained": pruned}
            for name, engine in stores.items():
                total, daily = point_count(engine)
                size = Path(str(engine.url.database)).stat().st_size
                print(f"{name:<9} {size / 2**30:6.2f} GiB  {total:>12,} points "
                      f"({daily:,} of them daily)")
            timings, same = time_both(stores, end=end, repeat=args.repeat,
                                      warmup=args.warmup)
            report(timings, same, list(stores), target_ms=args.target_ms)
        finally:
            pruned.dispose()
            if args.base is None:
                copy_path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
