"""``/cost budget`` latency: listing and setting budgets over months of hourly spend in SQLite.

Uses the store of ``bench/cost_query.py`` (``--lines`` lines of spend over ``--days`` days,
100 projects) and gives ``--budgets`` of its projects a monthly budget for every environment.
Each form is then answered ``--repeat`` times end to end (parse, figures and forecast of each
budget, pilots, rendering as Slack mrkdwn) as the desk does, in one session each; the list reads
every budget's twelve weeks of points, so it grows with the number of budgets. ``set`` writes
a change and its audit row each time (amounts no one set before, so none is a no-op).

    python bench/budget_chat.py --lines 300 --days 120 --budgets 50 --repeat 10
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from sqlalchemy.engine import Engine  # noqa: E402

from bench.cost_query import PROJECTS, report, store  # noqa: E402
from bot.costs.command import HelpAnswer, Scope  # noqa: E402
from bot.costs.views import format_mrkdwn  # noqa: E402
from bot.finance.chat import respond  # noqa: E402
from bot.settings import Settings, parse_settings  # noqa: E402
from storage import queries  # noqa: E402
from storage.db import session_scope  # noqa: E402

FINOPS = "U0BENCH"


def settings_for(engine: Engine, budgets: int) -> Settings:
    return parse_settings({
        "database_url": str(engine.url), "routing": {"finops": [FINOPS]},
        "budgets": [{"project": f"project-{p:03d}", "monthly": 5_000 + 100 * p}
                    for p in range(min(budgets, PROJECTS))]})


def time_forms(engine: Engine, settings: Settings, *, repeat: int) -> dict[str, list[float]]:
    with engine.connect() as connection:
        newest = queries.costs.newest_hour(connection=connection)
    if newest is None:
        raise SystemExit("the bench store has no points")
    now = newest + timedelta(hours=1)
    run = int(time.time()) % 100_000  # a kept store has this run's amounts set by no one yet
    forms = {"/cost budget": lambda n: "budget",
             "/cost budget <project>": lambda n: f"budget project-{n % PROJECTS:03d}",
             "/cost budget set <p> prod <amount>":
                 lambda n: f"budget set project-{n % PROJECTS:03d} prod {1_000 + run + n}"}
    timings: dict[str, list[float]] = {}
    for form, text in forms.items():
        for n in range(repeat + 1):
            started = time.perf_counter()
            with session_scope(engine) as session:
                answer = respond(text(n), db_session=session, settings=settings,
                                 scope=Scope.everything(), user=FINOPS,
                                 now=now + timedelta(seconds=n))
            format_mrkdwn(answer)
            elapsed = (time.perf_counter() - started) * 1000
            if isinstance(answer, HelpAnswer):
                raise SystemExit(f"{form} was not understood: {answer.problem}")
            if n:  # the first answer warms caches and imports
                timings.setdefault(form, []).append(elapsed)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=None,
                        help="SQLite file to keep the built store in and reuse")
    parser.add_argument("--lines", type=int, default=300, help="lines of spend (series)")
    parser.add_argument("--days", type=int, default=120, help="days of hourly points")
    parser.add_argument("--budgets", type=int, default=50, help="projects with a budget")
    parser.add_argument("--repeat", type=int, default=10, help="timed answers per form")
    parser.add_argument("--target-ms", type=float, default=2_000.0)
    args = parser.parse_args()
    with store(args.db, lines=args.lines, days=args.days) as engine:
        settings = settings_for(engine, args.budgets)
        report(time_forms(engine, settings, repeat=args.repeat), target_ms=args.target_ms)


if __name__ == "__main__":
    main()
