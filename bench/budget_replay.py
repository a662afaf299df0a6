"""What budget lines cost a replay: the same replay with no budgets and with budgets.

Generates the demo's four weeks of FOCUS data (and uses the development set when
``../shared`` is there), then replays each without budgets and with a monthly budget on each
of the ``--budgets`` largest projects (one on all environments, the rest on prod), sized so
that their thresholds cross during the replay. Prints CPU seconds (median of ``--repeat``;
CPU time, not wall time, so a busy machine does not blur the difference), the extra per poll,
and the budget part alone (``BudgetReplay`` over the same polls: forecasts made, lines).

    python bench/budget_replay.py
    python bench/budget_replay.py --budgets 20 --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from bot.anomaly.replay import ReplayResult, load_usage_points, replay  # noqa: E402
from bot.demodata import write_demo_data  # noqa: E402
from bot.finance.replay import BudgetReplay  # noqa: E402
from bot.settings import Settings, parse_settings  # noqa: E402

DEV_SET = ROOT.parent / "shared" / "data" / "scenarios" / "dev-costs.csv.gz"


def budgets_for(path: Path, count: int) -> Settings:
    """A monthly budget on each of the ``count`` largest projects, at 60 % of their spend
    over the data (so every threshold is crossed in the replay's last month)."""
    points, _ = load_usage_points(path, Settings())
    spend = points.groupby("project")["cost"].sum().sort_values(ascending=False)
    budgets = []
    for rank, (project, total) in enumerate(spend.head(count).items()):
        environment = "*" if rank == 0 else "prod"
        budgets.append({"project": project, "environment": environment,
                        "monthly": round(0.6 * float(total), 2)})
    return parse_settings({"budgets": budgets})


def timed(path: Path, settings: Settings, repeat: int) -> tuple[float, ReplayResult]:
    seconds, result = [], None
    for _ in range(repeat):
        start = time.process_time()
        result = replay(path, settings)
        seconds.append(time.process_time() - start)
    assert result is not None
    return statistics.median(seconds), result


def measure(name: str, path: Path, *, budgets: int, repeat: int) -> None:
    with_budgets = budgets_for(path, budgets)
    plain_s, plain = timed(path, Settings(), repeat)
    budget_s, result = timed(path, with_budgets, repeat)
    extra = budget_s - plain_s
    print(f"{name}: {result.polls:,} polls, {len(with_budgets.budgets)} budgets")
    print(f"   without budgets {plain_s:.2f} s, with {budget_s:.2f} s: {extra:+.2f} s "
          f"({100 * extra / plain_s:+.0f} %), {1000 * extra / max(result.polls, 1):.2f} ms "
          f"per poll")
    print(f"   {len(result.budget_alerts)} budget lines, {len(result.alerts)} anomaly lines "
          f"(without budgets: {len(plain.alerts)})")
    alone_s, forecasts = budget_part(path, with_budgets)
    print(f"   the budget part alone: {alone_s:.2f} s CPU, {forecasts} forecasts made, "
          f"{1000 * alone_s / max(result.polls, 1):.2f} ms per poll\n")


def budget_part(path: Path, settings: Settings) -> tuple[float, int]:
    points, _ = load_usage_points(path, settings)
    points["hour"] = pd.to_datetime(points["hour"], utc=True)
    points["visible_at"] = pd.to_datetime(points["visible_at"], utc=True)
    polls = pd.date_range(points["hour"].min() + pd.Timedelta(hours=1),
                          points["hour"].max() + pd.Timedelta(hours=1), freq="h")
    start = time.process_time()
    budgets = BudgetReplay(points, settings)
    for now in polls:
        budgets.poll(now)
    return time.process_time() - start, budgets.forecasts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", type=int, default=5, help="budgets to configure")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--skip-dev-set", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "demo"
        write_demo_data(data, days=28)
        measure("demo data (28 days)", data, budgets=args.budgets, repeat=args.repeat)
    if args.skip_dev_set:
        print("development set: skipped (--skip-dev-set)")
    elif DEV_SET.exists():
        measure(f"development set ({DEV_SET.name})", DEV_SET, budgets=args.budgets,
                repeat=args.repeat)
    else:
        print(f"development set: skipped, {DEV_SET} not found")


if __name__ == "__main__":
    main()
