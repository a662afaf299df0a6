"""Backtest of the month-end forecast: error and interval coverage per model, and the winner.

Data: (a) generated demo data (``bot.demodata``) for a few seeds, ingested into a temporary
SQLite store exactly as ``spendwatch ingest`` does and read back per project with
``load_points``; (b) the shared labelled scenario export (``../shared/data/scenarios``), when it
is there. The FOCUS sample rows in ``../shared/data/focus`` are a random sample, not series, so
they are counted and reported as too short.

For every month whose last day the data covers, and every day of it with at least 14 days of
history before it, each model forecasts that month's total per project from the days before;
the error is against the actual total (projects spending under $1 a month are left out).

    python bench/forecast_backtest.py
    python bench/forecast_backtest.py --seeds 1-5 --days 150 --by project,environment
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.demodata import write_demo_data  # noqa: E402
from bot.finance.forecast import (  # noqa: E402
    MIN_HISTORY_DAYS,
    ForecastModel,
    daily_totals,
    forecast_month_end,
)
from bot.ingest.service import ingest_path  # noqa: E402
from bot.settings import Settings  # noqa: E402
from storage.db import make_engine, upgrade  # noqa: E402
from storage.queries.points import load_points  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
MODELS = (ForecastModel.SEASONAL_NAIVE, ForecastModel.ETS, ForecastModel.RUN_RATE)
MIN_MONTH_SPEND = 1.0


def _seeds(text: str) -> list[int]:
    if "-" in text:
        low, high = text.split("-")
        return list(range(int(low), int(high) + 1))
    return [int(s) for s in text.split(",")]


def ingested_daily(folder: Path, by: list[str]) -> pd.DataFrame:
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/backtest.db")
        upgrade(engine)
        ingest_path(engine=engine, settings=Settings(), path=folder)
        with engine.connect() as connection:
            points = load_points(connection=connection, columns=by)
        engine.dispose()
    return daily_totals(points, by=by)


def backtest(daily: pd.DataFrame, level: float) -> dict[ForecastModel, list[tuple[float, bool]]]:
    """(absolute percentage error, actual inside the interval) per model, per cut and series."""
    results: dict[ForecastModel, list[tuple[float, bool]]] = {m: [] for m in MODELS}
    first, last = daily.index.min(), daily.index.max()
    for month in pd.period_range(first, last, freq="M"):
        month_start = month.start_time.tz_localize("UTC")
        month_last = month.end_time.tz_localize("UTC").floor("D")
        if last < month_last:
            continue
        for key in daily.columns:
            actual = float(daily.loc[month_start:month_last, key].sum())
            if actual < MIN_MONTH_SPEND:
                continue
            for cut in pd.date_range(month_start, month_last, freq="D"):
                if (cut - first).days < MIN_HISTORY_DAYS:
                    continue
                for model in MODELS:
                    f = forecast_month_end(daily[key], as_of=cut.to_pydatetime(),
                                           model=model, level=level)
                    results[model].append((abs(f.forecast - actual) / actual,
                                           f.low <= actual <= f.high))
    return results


def report(name: str, results: dict[ForecastModel, list[tuple[float, bool]]],
           level: float) -> ForecastModel | None:
    cuts = len(results[MODELS[0]])
    print(f"\n{name}: {cuts} forecasts (month-day cut x series) per model")
    if not cuts:
        print("  no month is covered to its last day with 14 days of history before a cut")
        return None
    print(f"  {'model':<15} {'MAPE median':>11} {'MAPE mean':>9} {'p90 APE':>8} "
          f"{f'{level:.0%} coverage':>13}")
    for model, rows in results.items():
        errors = sorted(e for e, _ in rows)
        print(f"  {model.value:<15} {statistics.median(errors):>10.1%} "
              f"{statistics.fmean(errors):>9.1%} {errors[int(0.9 * (len(errors) - 1))]:>8.1%} "
              f"{sum(inside for _, inside in rows) / len(rows):>13.1%}")
    best = min(results, key=lambda m: statistics.fmean(e for e, _ in results[m]))
    print(f"  lowest mean error: {best.value}")
    return best


def focus_sample_days() -> str:
    sample = SHARED / "focus" / "FOCUS-Sample-Data" / "FOCUS-1.0" / "focus_sample.csv"
    if not sample.exists():
        return "absent"
    frame = pd.read_csv(sample, usecols=["ChargePeriodStart"], dtype=str)
    stamps = pd.to_datetime(frame["ChargePeriodStart"], errors="coerce", utc=True)
    return (f"{len(frame)} rows over {stamps.dt.floor('D').nunique()} distinct days, "
            "a random sample rather than daily series: not backtested")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1-3")
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--start", default="2026-01-05")
    parser.add_argument("--by", default="project")
    parser.add_argument("--level", type=float, default=0.8)
    args = parser.parse_args()
    by = args.by.split(",")
    demo: dict[ForecastModel, list[tuple[float, bool]]] = {m: [] for m in MODELS}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in _seeds(args.seeds):
            folder = Path(tmp) / f"seed{seed}"
            write_demo_data(folder, days=args.days, seed=seed,
                            start=datetime.fromisoformat(args.start))
            began = time.perf_counter()
            daily = ingested_daily(folder, by)
            ingested = time.perf_counter() - began
            for model, rows in backtest(daily, args.level).items():
                demo[model].extend(rows)
            print(f"seed {seed}: {len(daily.columns)} series, ingest {ingested:.0f} s, "
                  f"backtest {time.perf_counter() - began - ingested:.0f} s", flush=True)
    winners = [report(f"demo data (seeds {args.seeds}, {args.days} days from {args.start}, "
                      f"by {args.by})", demo, args.level)]
    scenario = SHARED / "scenarios" / "dev-costs.csv.gz"
    if scenario.exists():
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copy(scenario, tmp)
            shared = backtest(ingested_daily(Path(tmp), by), args.level)
        winners.append(report(f"shared scenario export ({scenario.name}, by {args.by})",
                              shared, args.level))
    else:
        print(f"\nshared scenario export: absent ({scenario})")
    print(f"\nshared FOCUS sample: {focus_sample_days()}")
    print(f"\nwinner per data set: {', '.join(w.value for w in winners if w) or 'none'}")


if __name__ == "__main__":
    main()
