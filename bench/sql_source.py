"""The ``sql`` source over a FOCUS Parquet file (DuckDB) against ingesting the file itself.

Generates a FOCUS export of ``--rows`` line items (``bench/ingest.py``'s generator: about ten
line items to an hourly point), then, each run in a fresh child process:

* sql: the ``sql`` source with an aggregating DuckDB query over the file, through the window
  runner (``ingest_window``: parsing, validation, allocation, the SQLite write), one window
  covering the whole file;
* sql read only: ``SqlSource.read`` alone (the query and the Arrow batches, nothing stored);
* file: ``ingest_path`` on the same file, as ``spendwatch ingest`` does.

Prints line items per second and each child's peak RSS (VmHWM), medians over ``--repeat``
(each round runs every mode once), and the ratio sql / file.

    python bench/sql_source.py --rows 10000000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# the generator's line items are hourly from here on
DATA_START = datetime(2026, 8, 1, tzinfo=UTC)

QUERY = """
SELECT CAST(ChargePeriodStart AS TIMESTAMPTZ) AS ChargePeriodStart,
       CAST(ChargePeriodEnd AS TIMESTAMPTZ) AS ChargePeriodEnd,
       CAST(BillingPeriodStart AS TIMESTAMPTZ) AS BillingPeriodStart,
       CAST(BillingPeriodEnd AS TIMESTAMPTZ) AS BillingPeriodEnd,
       ChargeCategory, BillingCurrency, BillingAccountId, SubAccountId, SubAccountName,
       ServiceName, ServiceCategory, RegionId, SkuId, ConsumedUnit, Tags,
       sum(BilledCost) AS BilledCost, sum(EffectiveCost) AS EffectiveCost,
       sum(ConsumedQuantity) AS ConsumedQuantity
FROM read_parquet('{path}')
WHERE CAST(ChargePeriodStart AS TIMESTAMPTZ) >= :start
  AND CAST(ChargePeriodStart AS TIMESTAMPTZ) < :end
GROUP BY ALL
"""
MODES = ("sql", "sql-read", "file")


def _sql_settings(path: Path, hours: int):  # type: ignore[no-untyped-def]
    from bot.ingest.sources.config import SqlSourceSettings

    days = hours // 24 + 2
    return SqlSourceSettings(name="bench-sql", url="duckdb:///:memory:",
                             query=QUERY.format(path=path), backfill_days=days)


def _now(hours: int) -> datetime:
    return DATA_START + timedelta(hours=hours) + timedelta(minutes=30)


def child(mode: str, path: Path, workdir: Path, hours: int) -> dict[str, float]:
    """One measurement, in this (child) process: seconds, rows handed on, peak RSS in MiB."""
    from bot.ingest.sources.base import ReadStats, Window
    from bot.ingest.sources.sql import SqlSource
    from bot.settings import Settings
    from storage.db import make_engine, upgrade

    settings = Settings(database_url=f"sqlite:///{workdir / f'{mode}-{time.time_ns()}.db'}",
                        quarantine_dir=workdir / "quarantine")
    engine = make_engine(settings.database_url)
    upgrade(engine)
    source_settings = _sql_settings(path, hours)
    started = time.perf_counter()
    if mode == "sql":
        from bot.ingest.window import ingest_window

        report = ingest_window(engine=engine, settings=settings,
                               source_settings=source_settings,
                               source=SqlSource(source_settings), now=_now(hours))
        if not report.ok:
            raise SystemExit(f"sql source failed: {report.message}")
        out = report.rows_kept
    elif mode == "sql-read":
        now = _now(hours)
        window = Window(start=DATA_START, end=now + timedelta(hours=1), now=now)
        out = sum(t.num_rows for t in SqlSource(source_settings).read(window, ReadStats()))
    else:
        from bot.ingest.service import ingest_path

        file_report = ingest_path(engine=engine, settings=settings, path=path)
        if file_report.failed:
            raise SystemExit(f"ingest failed: {file_report.failed[0].message}")
        out = sum(f.rows_kept for f in file_report.files)
    seconds = time.perf_counter() - started
    engine.dispose()
    return {"seconds": seconds, "rows_out": out, "peak_mib": _peak_mib()}


def _peak_mib() -> float:
    """This process's peak RSS since its exec: VmHWM (``ru_maxrss`` would carry the parent's
    peak over the fork, here the generator's)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run_child(mode: str, path: Path, workdir: Path, hours: int) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", mode, "--file", str(path),
               "--workdir", str(workdir), "--hours", str(hours)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--lines", type=int, default=500, help="lines of spend (series)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--hours", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        print(json.dumps(child(args.child, args.file, args.workdir, args.hours)))
        return

    from bench.ingest import ITEMS_PER_POINT, generate

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        workdir = Path(tmp)
        path = workdir / "export.parquet"
        t0 = time.perf_counter()
        rows = generate(path, rows=args.rows, lines=args.lines)
        hours = rows // (args.lines * ITEMS_PER_POINT)
        print(f"parquet: {rows:,} line items over {hours:,} hours, "
              f"{path.stat().st_size / 2**20:,.0f} MiB, generated in "
              f"{time.perf_counter() - t0:.1f}s")
        modes = args.modes.split(",")
        # one run of every mode per round, so load from elsewhere on the machine weighs on
        # all of them alike
        runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
        for _ in range(args.repeat):
            for mode in modes:
                runs[mode].append(_run_child(mode, path, workdir, hours))
        rates: dict[str, float] = {}
        for mode in modes:
            seconds = statistics.median(r["seconds"] for r in runs[mode])
            peak = statistics.median(r["peak_mib"] for r in runs[mode])
            rates[mode] = rows / seconds
            print(f"  {mode:<9} {rates[mode]:>12,.0f} line items/s  {seconds:6.2f}s  "
                  f"peak RSS {peak:,.0f} MiB  ({int(runs[mode][0]['rows_out']):,} rows handed "
                  f"on; median of {len(runs[mode])})")
        if "sql" in rates and "file" in rates:
            print(f"  ratio sql / file: {rates['sql'] / rates['file']:.2f}")
        if "sql-read" in rates and "file" in rates:
            print(f"  ratio sql read only / file: {rates['sql-read'] / rates['file']:.2f}")


if __name__ == "__main__":
    main()
