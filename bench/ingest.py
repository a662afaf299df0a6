"""Ingest throughput: ``spendwatch`` end to end into SQLite against plain pandas, same run.

Generates a FOCUS 1.2 export where line items aggregate about ten to one into hourly points
(ten resources per line of spend per hour, as real exports do), then times:

* baseline: ``pandas.read_csv`` + ``groupby`` over the same file (no validation, no storage);
* spendwatch: discovery, checksum, streaming parse, validation, allocation, aggregation and the
  SQLite write, exactly as ``spendwatch ingest`` does.

Prints rows per second (median of ``--repeat`` runs) and the ratio, and the CPU seconds each
took (all threads): on a shared, noisy machine CPU time varies less than wall time, and shows
how much of the work the threads overlap. With ``--memory`` it ingests in a child process and
prints that process's peak RSS.

With ``--compare OLD`` (a folder holding an older tree, e.g. ``git archive <commit> | tar -x
-C OLD``) every run is a fresh process, and the rounds alternate pandas, the older tree and
this one, so that a busy machine weighs on all three alike; medians of wall and CPU time.

    python bench/ingest.py --rows 1000000 --repeat 3
    python bench/ingest.py --rows 1000000 --repeat 5 --compare /tmp/old
    python bench/ingest.py --rows 10000000 --repeat 1 --memory --skip-baseline
    python bench/ingest.py --rows 1000000 --repeat 7 --floors

With ``--floors`` the rounds alternate pandas with the two parts no ingest can do without,
each alone: reading the columns the ingest uses with pyarrow on one thread (its cheapest in
CPU; no validation, no grouping), and storing the file's points (``insert_points`` and the
commit, into a store that already holds their series). They bound what a ratio can be: an
ingest cannot take less than the store alone, nor, on N cores, less than (read CPU + store
CPU) / N, a bound that assumes the read shared out over the cores at no cost.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

SERVICES = [
    ("Amazon Bedrock", "AI and Machine Learning", "Tokens"),
    ("Amazon EC2", "Compute", "Hours"),
    ("Amazon S3", "Storage", "GB-Mo"),
    ("AmazonCloudWatch", "Management and Governance", "GB"),
    ("AWS Data Transfer", "Networking", "GB"),
    ("Amazon SageMaker", "AI and Machine Learning", "Hours"),
]
ITEMS_PER_POINT = 10
_T = TypeVar("_T")


def _batch(lines: int, hour0: int, hours: int, rng: np.random.Generator) -> pa.Table:
    """All line items of ``hours`` hours starting at hour index ``hour0``."""
    line = np.tile(np.repeat(np.arange(lines), ITEMS_PER_POINT), hours)
    item = np.tile(np.arange(ITEMS_PER_POINT), lines * hours)
    n = len(line)
    base = pd.Timestamp("2026-08-01T00:00:00Z")
    unique_hours = base + pd.to_timedelta(np.arange(hour0, hour0 + hours), unit="h")
    per_hour = lines * ITEMS_PER_POINT
    service = line % len(SERVICES)
    cost = rng.gamma(2.0, 0.5, n) * (1 + line % 7)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    month = unique_hours.tz_localize(None).to_period("M").start_time.tz_localize("UTC")

    def hourly(values: pd.DatetimeIndex) -> np.ndarray:
        return np.repeat(np.asarray(values.strftime(fmt), dtype=object), per_hour)

    tags = np.array(
        [
            json.dumps({"Project": f"proj-{i % 40}", "env": ["prod", "dev", "staging"][i % 3],
                        "team": f"team-{i % 12}"})
            for i in range(lines)
        ],
        dtype=object,
    )
    columns = {
        "BillingAccountId": np.array([f"ba-{i % 3:04d}" for i in range(lines)])[line],
        "BillingAccountName": "Example Corp",
        "BillingCurrency": "USD",
        "BillingPeriodStart": hourly(month),
        "BillingPeriodEnd": hourly(month + pd.offsets.MonthBegin(1)),
        "ChargePeriodStart": hourly(unique_hours),
        "ChargePeriodEnd": hourly(unique_hours + pd.Timedelta(hours=1)),
        "ChargeCategory": "Usage",
        "ChargeClass": "",
        "ChargeFrequency": "Usage-Based",
        "ChargeDescription": np.array([f"{s[0]} usage" for s in SERVICES])[service],
        "BilledCost": np.round(cost, 6),
        "EffectiveCost": np.round(cost, 6),
        "ListCost": np.round(cost * 1.1, 6),
        "ContractedCost": np.round(cost, 6),
        "ConsumedQuantity": np.round(cost * 100, 3),
        "ConsumedUnit": np.array([s[2] for s in SERVICES])[service],
        "PricingQuantity": np.round(cost * 100, 3),
        "PricingUnit": np.array([s[2] for s in SERVICES])[service],
        "ProviderName": "AWS",
        "PublisherName": "AWS",
        "InvoiceIssuerName": "AWS",
        "ServiceName": np.array([s[0] for s in SERVICES])[service],
        "ServiceCategory": np.array([s[1] for s in SERVICES])[service],
        "SubAccountId": np.array([f"{100000000000 + i % 25}" for i in range(lines)])[line],
        "SubAccountName": np.array([f"account-{i % 25}" for i in range(lines)])[line],
        "RegionId": np.array(["us-east-1", "eu-west-1", "us-west-2"])[line % 3],
        "RegionName": np.array(["US East", "EU West", "US West"])[line % 3],
        "ResourceId": np.char.add(np.char.add("res-", line.astype(str)),
                                  np.char.add("-", item.astype(str))),
        "SkuId": np.char.add("sku-", service.astype(str)),
        "Tags": tags[line],
    }
    return pa.table({k: (v if isinstance(v, np.ndarray | pd.Index) else [v] * n)
                     for k, v in columns.items()})


def generate(path: Path, *, rows: int, lines: int, seed: int = 7) -> int:
    """Write a FOCUS export of about ``rows`` line items; returns the exact row count."""
    rng = np.random.default_rng(seed)
    per_hour = lines * ITEMS_PER_POINT
    hours = max(1, rows // per_hour)
    step = max(1, 200_000 // per_hour)
    written = 0
    writer = None
    try:
        for hour0 in range(0, hours, step):
            table = _batch(lines, hour0, min(step, hours - hour0), rng)
            if writer is None:
                writer = (pq.ParquetWriter(path, table.schema) if path.suffix == ".parquet"
                          else pacsv.CSVWriter(path, table.schema))
            writer.write_table(table)
            written += table.num_rows
    finally:
        if writer is not None:
            writer.close()
    return written


def baseline(path: Path) -> float:
    started = time.perf_counter()
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    frame.groupby(GROUP, sort=False)[["BilledCost", "EffectiveCost"]].sum()
    return time.perf_counter() - started


def spendwatch_ingest(path: Path, workdir: Path) -> float:
    from bot.ingest.service import ingest_path
    from bot.settings import Settings
    from storage.db import make_engine, upgrade

    db = workdir / f"bench-{time.monotonic_ns()}.db"
    settings = Settings(database_url=f"sqlite:///{db}", quarantine_dir=workdir / "quarantine")
    engine = make_engine(settings.database_url)
    upgrade(engine)
    started = time.perf_counter()
    report = ingest_path(engine=engine, settings=settings, path=path)
    elapsed = time.perf_counter() - started
    engine.dispose()
    failed = report.failed
    if failed:
        raise SystemExit(f"ingest failed: {failed[0].message}")
    db.unlink(missing_ok=True)
    return elapsed


def read_columns(path: Path) -> float:
    """The columns the ingest reads, by pyarrow on one thread: the file's read alone."""
    from bot.ingest.sources.focus_csv import open_csv, read_header
    from bot.ingest.sources.focus_parse import resolve_columns

    started = time.perf_counter()
    if path.suffix == ".parquet":
        header = pq.read_schema(path).names
        pq.read_table(path, columns=_wanted(resolve_columns(header)), use_threads=False)
    else:
        stream, raw = open_csv(path, None)
        with stream, raw:
            header = read_header(stream, path)
        pacsv.read_csv(path, read_options=pacsv.ReadOptions(use_threads=False),
                       convert_options=pacsv.ConvertOptions(
                           include_columns=_wanted(resolve_columns(header))))
    return time.perf_counter() - started


def _wanted(resolved: dict[str, list[str]]) -> list[str]:
    return sorted({name for names in resolved.values() for name in names})


class StoreFloor:
    """The file's points stored again, alone: ``insert_points`` and the commit.

    The file is ingested once into a template store; each run copies it, empties
    ``cost_point`` and times writing the same points back (their series already exist).
    """

    def __init__(self, path: Path, workdir: Path) -> None:
        import sqlite3

        from bot.ingest.service import ingest_path
        from bot.settings import Settings
        from storage.db import make_engine, upgrade

        self.template = workdir / "store-floor.db"
        self.template.unlink(missing_ok=True)
        settings = Settings(database_url=f"sqlite:///{self.template}",
                            quarantine_dir=workdir / "quarantine")
        engine = make_engine(settings.database_url)
        upgrade(engine)
        ingest_path(engine=engine, settings=settings, path=path)
        engine.dispose()
        with sqlite3.connect(self.template) as db:
            self.run_id = db.execute("SELECT max(ingest_run_id) FROM cost_point").fetchone()[0]
            self.points = pd.read_sql(
                "SELECT series_id, hour, billing_period_start, billed_cost, effective_cost, "
                "usage_quantity, line_items FROM cost_point", db)
            db.execute("DELETE FROM cost_point")
            db.commit()
            db.execute("VACUUM")
        for column in ("hour", "billing_period_start"):
            self.points[column] = pd.to_datetime(self.points[column], utc=True)
        self.workdir = workdir

    def __call__(self) -> float:
        import shutil

        from storage.db import make_engine
        from storage.queries.points import insert_points

        db = self.workdir / f"store-{time.monotonic_ns()}.db"
        shutil.copyfile(self.template, db)
        engine = make_engine(f"sqlite:///{db}")
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")  # connected, pragmas set: not timed
            started = time.perf_counter()
            insert_points(connection=connection, run_id=self.run_id, points=self.points)
            connection.commit()
            elapsed = time.perf_counter() - started
        engine.dispose()
        db.unlink()
        return elapsed


def floors(path: Path, rounds: int, workdir: Path) -> None:
    """Alternate pandas, the whole ingest, the read alone and the store alone (one process)."""
    store = StoreFloor(path, workdir)
    runs: dict[str, tuple[list[float], list[float]]] = {
        "pandas": ([], []), "ingest": ([], []), "read": ([], []), "store": ([], [])}
    steps: dict[str, Callable[[], float]] = {
        "pandas": partial(baseline, path), "ingest": partial(spendwatch_ingest, path, workdir),
        "read": partial(read_columns, path), "store": store}
    for round_ in range(rounds):
        for kind, step in _rotated(list(steps.items()), round_):
            walls, cpus = runs[kind]
            walls.append(_timed(step, cpus))
    labels = {"pandas": "pandas read + groupby", "ingest": "spendwatch ingest",
              "read": "read alone (pyarrow)", "store": f"store alone ({len(store.points):,} pts)"}
    for kind, label in labels.items():
        walls, cpus = runs[kind]
        print(f"  {label:26s} {statistics.median(walls):.3f}s, best {min(walls):.3f}s "
              f"(CPU {statistics.median(cpus):.3f}s; runs {_seconds(walls)})")
    cores = max(1, len(os.sched_getaffinity(0)))
    # the best runs leave out those the machine slowed (a run of pandas can take twice as
    # long, nearly all of it kernel time, as fresh memory is first written)
    for how, pick in (("medians", statistics.median), ("best runs", min)):
        wall = {kind: pick(walls) for kind, (walls, _) in runs.items()}
        cpu = {kind: pick(cpus) for kind, (_, cpus) in runs.items()}
        bound = max(wall["store"], (cpu["read"] + cpu["store"]) / cores)
        print(f"  by {how}: ingest / pandas {wall['pandas'] / wall['ingest']:.2f}x; the most "
              f"any ingest could reach {wall['pandas'] / bound:.2f}x (pandas over max(store, "
              f"(read + store CPU) / {cores} cores) = {bound:.3f}s)")


def peak_memory(path: Path, workdir: Path) -> tuple[float, float]:
    """Ingest in a child process; return (seconds, peak RSS in MiB) of that child."""
    code = (
        "import sys, resource; from pathlib import Path; sys.path.insert(0, sys.argv[3]);"
        "from bench.ingest import spendwatch_ingest;"
        "seconds = spendwatch_ingest(Path(sys.argv[1]), Path(sys.argv[2]));"
        "print(seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    root = str(Path(__file__).resolve().parent.parent)
    out = subprocess.run([sys.executable, "-c", code, str(path), str(workdir), root],
                         check=True, capture_output=True, text=True)
    seconds, peak_kib = out.stdout.strip().splitlines()[-1].split()
    return float(seconds), int(peak_kib) / 1024


# One run in a fresh process, on the tree given first (only APIs every tree has): prints the
# seconds and CPU seconds (all threads) of pandas or of the ingest, database set up before.
_CHILD = """
import resource, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
path, kind = Path(sys.argv[2]), sys.argv[3]
import pandas as pd
from bot.ingest.service import ingest_path
from bot.settings import Settings
from storage.db import make_engine, upgrade
with tempfile.TemporaryDirectory(dir=sys.argv[4]) as tmp:
    settings = Settings(database_url=f"sqlite:///{tmp}/bench.db",
                        quarantine_dir=Path(tmp) / "quarantine")
    engine = make_engine(settings.database_url)
    upgrade(engine)
    cpu0, wall0 = cpu(), time.perf_counter()
    if kind == "pandas":
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        frame.groupby(GROUP, sort=False)[["BilledCost", "EffectiveCost"]].sum()
    else:
        report = ingest_path(engine=engine, settings=settings, path=path)
        if report.failed:
            raise SystemExit(f"ingest failed: {report.failed[0].message}")
    print(time.perf_counter() - wall0, cpu() - cpu0)
    engine.dispose()
"""
GROUP = ["ChargePeriodStart", "BillingAccountId", "SubAccountId", "ServiceName", "RegionId",
         "Tags", "ChargeCategory"]


def compare(path: Path, rows: int, old: Path, rounds: int, workdir: Path) -> None:
    """Alternate pandas, the tree at ``old`` and this one, each run in a fresh process."""
    root = Path(__file__).resolve().parent.parent
    trees = {"pandas": root, "before": old.resolve(), "after": root}
    code = _CHILD.replace("GROUP", repr(GROUP))
    runs: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in trees}
    for round_ in range(rounds):
        for kind, tree in _rotated(list(trees.items()), round_):
            out = subprocess.run(
                [sys.executable, "-c", code, str(tree), str(path), kind, str(workdir)],
                check=True, capture_output=True, text=True)
            wall, cpu = (float(v) for v in out.stdout.split()[-2:])
            runs[kind][0].append(wall)
            runs[kind][1].append(cpu)
    base = statistics.median(runs["pandas"][0])
    for kind, (walls, cpus) in runs.items():
        wall = statistics.median(walls)
        print(f"  {kind:7s} {rows / wall:>9,.0f} rows/s ({wall:.2f}s, {base / wall:.2f}x pandas; "
              f"CPU {statistics.median(cpus):.2f}s; runs {_seconds(walls)})")


def _rotated(items: list[_T], round_: int) -> list[_T]:
    """``items`` started at a different one each round.

    A run is slower just after pandas (by 0.17 s of 1.1 s for the CSV, fresh processes, the
    same tree in two places): each kind takes each place in turn.
    """
    shift = round_ % len(items)
    return items[shift:] + items[:shift]


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _timed(run: Callable[[], float], cpu: list[float]) -> float:
    """``run()``'s own wall time; the process's CPU time meanwhile is appended to ``cpu``."""
    before = _cpu_seconds()
    wall = run()
    cpu.append(_cpu_seconds() - before)
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--lines", type=int, default=500, help="lines of spend (series)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--formats", default="csv,parquet")
    parser.add_argument("--memory", action="store_true", help="measure peak RSS in a child")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--compare", type=Path, default=None, metavar="OLD",
                        help="alternate with the tree in this folder, fresh processes")
    parser.add_argument("--floors", action="store_true",
                        help="alternate with the read alone and the store alone")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        workdir = Path(tmp)
        for fmt in args.formats.split(","):
            path = workdir / f"export.{fmt}"
            t0 = time.perf_counter()
            rows = generate(path, rows=args.rows, lines=args.lines)
            size = path.stat().st_size / 2**20
            print(f"{fmt}: {rows:,} line items, {size:,.0f} MiB, generated in "
                  f"{time.perf_counter() - t0:.1f}s, ~{ITEMS_PER_POINT}:1 into hourly points")
            if args.floors:
                floors(path, args.repeat, workdir)
                path.unlink()
                continue
            if args.compare is not None:
                compare(path, rows, args.compare, args.repeat, workdir)
                path.unlink()
                continue
            if args.memory:
                seconds, peak = peak_memory(path, workdir)
                print(f"  spendwatch (child process): {rows / seconds:,.0f} rows/s, "
                      f"peak RSS {peak:,.0f} MiB")
                continue
            ours: list[float] = []
            theirs: list[float] = []
            ours_cpu: list[float] = []
            theirs_cpu: list[float] = []
            for _ in range(args.repeat):
                if not args.skip_baseline:
                    theirs.append(_timed(partial(baseline, path), theirs_cpu))
                ours.append(_timed(partial(spendwatch_ingest, path, workdir), ours_cpu))
            ours_rate = rows / statistics.median(ours)
            print(f"  spendwatch ingest -> SQLite: {ours_rate:,.0f} rows/s "
                  f"(median of {len(ours)}: {statistics.median(ours):.2f}s; "
                  f"CPU {statistics.median(ours_cpu):.2f}s; runs {_seconds(ours)})")
            if theirs:
                base_rate = rows / statistics.median(theirs)
                print(f"  pandas read + groupby:       {base_rate:,.0f} rows/s "
                      f"(median of {len(theirs)}: {statistics.median(theirs):.2f}s; "
                      f"CPU {statistics.median(theirs_cpu):.2f}s; runs {_seconds(theirs)})")
                cpu_ratio = statistics.median(theirs_cpu) / statistics.median(ours_cpu)
                print(f"  ratio spendwatch / pandas:   {ours_rate / base_rate:.2f} "
                      f"(by CPU time: {cpu_ratio:.2f})")
            path.unlink()


def _seconds(runs: list[float]) -> str:
    return " ".join(f"{r:.2f}s" for r in runs)


if __name__ == "__main__":
    main()
