"""Detection speed: replay of the development set, one hourly cycle at scale, and a naive loop.

Measures, in one run:

1. replay: ``bot.anomaly.replay.replay`` over ``../shared/data/scenarios/dev-costs.csv.gz``
   end to end
   (read, allocate, build the matrix, one poll per hour of data). Target: at most 30 s.
2. one detection cycle at scale: a synthetic ``SpendMatrix`` of ``--lines`` lines (default
   50,000 = 2,000 projects x 5 environments x 5 services) x ``--days`` days hourly, then
   ``detect_hour`` on the newest column (every line and every workload total judged once).
   Building the values, building the matrix and detecting are timed separately; peak memory is
   the child process's peak RSS (``ru_maxrss``), plus the ``tracemalloc`` peak of one extra,
   untimed ``detect_hour`` call (numpy registers its buffers with tracemalloc). Targets: at most
   15 s and 4 GB.
3. linearity: the same cycle for each of ``--sizes``, each in a fresh child process; seconds
   per 1,000 lines should stay flat if cost grows linearly with the number of lines.
4. baseline: a naive per-series pandas loop judging the same newest hour, on the first
   ``--naive-lines`` lines of the same synthetic population, extrapolated per 1,000 lines.

    python bench/detect_scale.py
    python bench/detect_scale.py --skip-replay --sizes 5000,20000 --lines 20000 --repeat 1
    python bench/detect_scale.py --skip-replay --sizes 50000 --profile
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DEV_SET = ROOT.parent / "shared" / "data" / "scenarios" / "dev-costs.csv.gz"
START = pd.Timestamp("2026-06-01T00:00:00Z")  # a Monday
ENVIRONMENTS = ["prod", "staging", "dev", "test", "sandbox"]
PHASES = {"prod": "run", "staging": "move", "dev": "build", "test": "build", "sandbox": "build"}
SERVICES = ["Amazon EC2", "Amazon S3", "Amazon Bedrock", "AmazonCloudWatch", "AWS Data Transfer"]
LINES_PER_PROJECT = len(ENVIRONMENTS) * len(SERVICES)
CHUNK = 2_500  # lines generated at a time (bounded temporaries; prefix-stable for any N)
REPLAY_TARGET_S = 30.0
CYCLE_TARGET_S = 15.0
MEMORY_TARGET_MIB = 4 * 1024


# --- synthetic data ------------------------------------------------------------------------


def _chunk_values(rows: int, hours: int, rng: np.random.Generator) -> np.ndarray:
    """Hourly spend of ``rows`` lines: level x daily shape x weekend dip x lognormal noise.

    Mixed in: bursty lines, nightly batch lines (zero most hours), lines that appear late
    (some within the last day: new spend) and a few incidents in the newest hours.
    """
    hour = np.arange(hours)
    hour_of_day = (hour + START.hour) % 24
    weekend = ((hour // 24 + START.day_of_week) % 7) >= 5

    level = rng.lognormal(0.0, 1.5, rows)  # median $1/h, most between $0.05 and $20
    amplitude = rng.uniform(0.0, 0.6, rows)
    peak_hour = rng.uniform(10.0, 17.0, rows)
    weekend_factor = rng.uniform(0.4, 1.0, rows)
    noise = rng.uniform(0.03, 0.25, rows)

    out = 1.0 + amplitude[:, None] * np.cos(
        2 * np.pi * (hour_of_day[None, :] - peak_hour[:, None]) / 24)
    out *= np.where(weekend[None, :], weekend_factor[:, None], 1.0)
    out *= level[:, None]
    out *= np.exp(noise[:, None] * rng.standard_normal((rows, hours)))

    kind = rng.random(rows)
    bursty = kind < 0.05
    n_bursty = int(bursty.sum())
    out[bursty] *= 1.0 + (rng.random((n_bursty, hours)) < 0.01) * rng.uniform(1, 3, (n_bursty, 1))
    batch = (kind >= 0.05) & (kind < 0.10)  # a nightly job: 01:00-04:00 only
    out[batch] *= ((hour_of_day >= 1) & (hour_of_day < 5))[None, :]
    late = (kind >= 0.10) & (kind < 0.13)
    late_start = rng.integers(hours // 4, hours - 2, int(late.sum()))
    out[late] *= hour[None, :] >= late_start[:, None]
    incident = (kind >= 0.13) & (kind < 0.132)
    out[incident, -3:] *= rng.uniform(3.0, 8.0, (int(incident.sum()), 1))
    return np.round(out, 6)


def synth_values(lines: int, hours: int, seed: int) -> np.ndarray:
    """A (lines x hours) float64 matrix; the first k lines are the same for any ``lines``."""
    values = np.empty((lines, hours))
    for first in range(0, lines, CHUNK):
        rows = min(CHUNK, lines - first)
        values[first:first + rows] = _chunk_values(rows, hours,
                                                   np.random.default_rng([seed, first]))
    return values


def synth_lines(lines: int) -> pd.DataFrame:
    i = np.arange(lines)
    project = i // LINES_PER_PROJECT
    environment = np.array(ENVIRONMENTS)[(i // len(SERVICES)) % len(ENVIRONMENTS)]
    return pd.DataFrame({
        "project": np.char.add("proj-", project.astype(str)),
        "environment": environment,
        "service_name": np.array(SERVICES)[i % len(SERVICES)],
        "owner": np.char.add("team-", (project % 97).astype(str)),
        "phase": np.vectorize(PHASES.get)(environment),
    })


# --- one detection cycle (run in a child process so peak RSS is per size) -----------------


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure_cycle(lines: int, days: int, repeat: int, seed: int, *, trace: bool,
                  profile: bool) -> dict[str, object]:
    from bot.detection.engine import SpendMatrix, detect_hour

    started_rss = _rss_mib()
    t0 = time.perf_counter()
    values = synth_values(lines, days * 24, seed)
    frame = synth_lines(lines)
    t1 = time.perf_counter()
    matrix = SpendMatrix(start=START, values=values, lines=frame)
    t2 = time.perf_counter()
    built_rss = _rss_mib()
    index = matrix.hours - 1
    seconds, findings = [], []
    for _ in range(repeat):
        t = time.perf_counter()
        findings = detect_hour(matrix, index=index, thresholds_for=None)
        seconds.append(time.perf_counter() - t)
    result: dict[str, object] = {
        "lines": lines,
        "workloads": len(matrix.workloads),
        "generate_s": t1 - t0,
        "matrix_s": t2 - t1,
        "detect_s": seconds,
        "findings": len(findings),
        "anomalous": sum(f.anomalous for f in findings),
        "matrix_mib": (matrix.values.nbytes + matrix.totals.nbytes) / 2**20,
        "start_rss_mib": started_rss,
        "built_rss_mib": built_rss,
        "peak_rss_mib": _rss_mib(),
    }
    if trace:
        import tracemalloc

        tracemalloc.start()
        detect_hour(matrix, index=index, thresholds_for=None)
        result["traced_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    if profile:
        import cProfile
        import io
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(detect_hour, matrix, index=index, thresholds_for=None)
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(25)
        result["profile"] = text.getvalue()
    return result


def run_cycle(lines: int, days: int, repeat: int, seed: int, *, trace: bool = False,
              profile: bool = False) -> dict[str, object]:
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]);"
        "from bench.detect_scale import measure_cycle;"
        "a = [int(x) for x in sys.argv[2:6]];"
        "r = measure_cycle(*a, trace=sys.argv[6] == '1', profile=sys.argv[7] == '1');"
        "print(json.dumps(r))"
    )
    argv = [str(ROOT), str(lines), str(days), str(repeat), str(seed), str(int(trace)),
            str(int(profile))]
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"cycle with {lines:,} lines failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- naive baseline ------------------------------------------------------------------------


def naive_cycle(values: np.ndarray, index: int, *, full: bool) -> tuple[float, dict[str, list]]:
    """Judge hour ``index`` of every row with a pandas Series per line.

    Minimal (``full=False``): median and MAD of the same hour in the previous 4 weeks, then
    the dollar, relative and z rules. Full: also the 14-day same-hour median and MAD, the
    usual peak and the 27-day excursion (99.5th percentile of relative excess over the
    hour-of-day profile), i.e. the statistics the engine computes per series.
    """
    hours = pd.date_range(START, periods=values.shape[1], freq="h")
    now = hours[index]
    weekly_at = pd.DatetimeIndex([now - pd.Timedelta(weeks=k) for k in range(1, 5)])
    daily_at = pd.DatetimeIndex([now - pd.Timedelta(days=k) for k in range(1, 15)])
    window_end = index - 24
    n_days = min(27, window_end // 24)
    window_hours = hours[window_end - n_days * 24:window_end]
    out: dict[str, list] = {"expected": [], "excursion": [], "anomalous": []}
    started = time.perf_counter()
    for row in values:
        series = pd.Series(row[:index + 1], index=hours[:index + 1])
        spending = series.to_numpy().nonzero()[0]
        if len(spending):
            series = series.iloc[spending[0]:]  # before its first spend a line is unknown
        weekly = series.reindex(weekly_at).dropna()
        weekly_median = weekly.median()
        weekly_mad = (weekly - weekly_median).abs().median()
        expected, sigma, peak, excursion = weekly_median, 1.4826 * weekly_mad, weekly.max(), 0.0
        if full:
            daily = series.reindex(daily_at).dropna()
            daily_median = daily.median()
            daily_sigma = 1.4826 * (daily - daily_median).abs().median()
            if len(weekly) < 2:
                expected, sigma = daily_median, daily_sigma
            else:
                sigma = np.fmax(daily_sigma, sigma)
            peak = np.fmax(daily.max(), peak)
            window = series.reindex(window_hours).dropna()
            if len(window):
                profile = window.groupby(window.index.hour).median()
                floor = np.maximum(profile, 0.1 * window.median() + 0.05)
                at = window.index.hour
                relative = (window - profile.loc[at].to_numpy()) / floor.loc[at].to_numpy()
                excursion = relative.quantile(0.995)
        expected = 0.0 if np.isnan(expected) else float(expected)
        sigma = max(0.0 if np.isnan(sigma) else float(sigma), 0.1 * abs(expected), 0.05)
        peak = 0.0 if np.isnan(peak) else float(peak)
        actual = float(series.iloc[-1])
        excess = actual - expected
        established = len(series) - 1 >= 72
        anomalous = (established and excess >= 2.0 and excess * 24 >= 25.0
                     and excess >= 0.5 * max(expected, 0) and excess / sigma >= 4.0
                     and actual > peak * 1.1)
        out["expected"].append(expected)
        out["excursion"].append(excursion)
        out["anomalous"].append(anomalous)
    return time.perf_counter() - started, out


# --- replay --------------------------------------------------------------------------------


def measure_replay(path: Path, repeat: int) -> None:
    print(f"1. Replay of the development set ({path.name}), end to end")
    if not path.exists():
        print(f"   SKIPPED: {path} not found (the shared data set is not mounted here)\n")
        return
    from bot.anomaly.replay import replay
    from bot.settings import Settings

    seconds, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = replay(path, Settings())
        seconds.append(time.perf_counter() - t)
    assert result is not None
    median = statistics.median(seconds)
    runs = ", ".join(f"{s:.1f}" for s in seconds)
    print(f"   {median:.1f} s (median of {repeat}: {runs} s); {result.polls:,} polls, "
          f"{result.lines} lines, {len(result.alerts)} alerts, "
          f"{1000 * median / max(result.polls, 1):.1f} ms per poll")
    print(f"   target: <= {REPLAY_TARGET_S:.0f} s -> {_verdict(median <= REPLAY_TARGET_S)}\n")


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


# --- main ----------------------------------------------------------------------------------


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=50_000, help="lines for the scale cycle")
    parser.add_argument("--days", type=int, default=60, help="days of hourly history")
    parser.add_argument("--sizes", default="5000,10000,20000,50000",
                        help="comma-separated line counts for the linearity check")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--naive-lines", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--replay-file", type=Path, default=DEV_SET)
    parser.add_argument("--skip-replay", action="store_true")
    parser.add_argument("--profile", action="store_true",
                        help="also print a cProfile of one cycle at --lines")
    return parser.parse_args()


def _print_header() -> None:
    print("spendwatch detection benchmark")
    print(f"  machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"numpy {np.__version__}, pandas {pd.__version__}")
    print("  times are wall-clock seconds (time.perf_counter), medians of --repeat runs;")
    print("  each synthetic size runs in a fresh child process, memory = that child's peak RSS")
    print("  (ru_maxrss, includes the interpreter, pandas and the matrix) plus the tracemalloc")
    print("  peak of one extra detect_hour call (what detection itself allocates).\n")


def main() -> None:
    args = _parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()} | {args.lines})
    hours = args.days * 24

    _print_header()

    if args.skip_replay:
        print("1. Replay of the development set: skipped (--skip-replay)\n")
    else:
        measure_replay(args.replay_file, args.repeat)

    results = {}
    for n in sizes:
        main_size = n == args.lines
        results[n] = run_cycle(n, args.days, args.repeat, args.seed, trace=main_size,
                               profile=main_size and args.profile)

    r = results[args.lines]
    detect = statistics.median(r["detect_s"])
    runs = ", ".join(f"{s:.2f}" for s in r["detect_s"])
    print(f"2. One detection cycle: {r['lines']:,} lines, {r['workloads']:,} workloads, "
          f"{hours:,} hourly columns ({args.days} days)")
    print("   data: lognormal levels, daily and weekend seasonality, lognormal noise, bursty,")
    print(f"   nightly-batch, late-starting and incident lines (seed {args.seed})")
    print(f"   generate values (numpy, untimed by targets): {r['generate_s']:6.2f} s")
    print(f"   build SpendMatrix (factorize, totals):       {r['matrix_s']:6.2f} s")
    print(f"   detect_hour on the newest hour:              {detect:6.2f} s "
          f"(median of {len(r['detect_s'])}: {runs} s)")
    print(f"   findings: {r['findings']:,} workloads ({r['anomalous']:,} anomalous)")
    print(f"   memory: matrix + totals {r['matrix_mib']:,.0f} MiB; peak RSS after build "
          f"{r['built_rss_mib']:,.0f} MiB, after detection {r['peak_rss_mib']:,.0f} MiB;")
    print(f"           tracemalloc peak of one detect_hour call {r['traced_peak_mib']:,.0f} MiB")
    print(f"   target: detect_hour <= {CYCLE_TARGET_S:.0f} s -> "
          f"{_verdict(detect <= CYCLE_TARGET_S)}; peak RSS <= 4 GB -> "
          f"{_verdict(r['peak_rss_mib'] <= MEMORY_TARGET_MIB)}\n")
    if "profile" in r:
        print("   cProfile of one detect_hour (cumulative):")
        print("\n".join("   " + line for line in r["profile"].strip().splitlines()))
        print()

    print(f"3. Linearity (detect_hour only, median of {args.repeat}; each size a fresh process)")
    print(f"   {'lines':>8} {'workloads':>9} {'matrix s':>9} {'detect s':>9} "
          f"{'s / 1k lines':>12} {'peak RSS MiB':>12}")
    for n in sizes:
        s = results[n]
        seconds = statistics.median(s["detect_s"])
        print(f"   {n:>8,} {s['workloads']:>9,} {s['matrix_s']:>9.2f} {seconds:>9.2f} "
              f"{1000 * seconds / n:>12.3f} {s['peak_rss_mib']:>12,.0f}")
    per_k = [1000 * statistics.median(results[n]["detect_s"]) / n for n in sizes]
    print(f"   s / 1k lines, largest / smallest size: {per_k[-1] / per_k[0]:.2f} "
          f"(1.00 = linear)\n")

    n_naive = min(args.naive_lines, args.lines)
    print(f"4. Naive per-series pandas loop on the first {n_naive:,} of the {args.lines:,} "
          f"lines, extrapolated per 1,000 lines")
    print("   (lines only; the engine also judges the workload totals and builds findings)")
    values = synth_values(n_naive, hours, args.seed)
    engine_per_k = 1000 * detect / args.lines
    for full, label in ((False, "4-week same-hour median + MAD, compare"),
                        (True, "+ 14-day median/MAD, usual peak, 27-day excursion")):
        seconds = []
        for _ in range(args.repeat):
            elapsed, out = naive_cycle(values, hours - 1, full=full)
            seconds.append(elapsed)
        naive_per_k = 1000 * statistics.median(seconds) / n_naive
        print(f"   naive, {label}:")
        print(f"     {statistics.median(seconds):.2f} s for {n_naive:,} lines = "
              f"{naive_per_k:.3f} s / 1k lines (est. {naive_per_k * args.lines / 1000:,.0f} s "
              f"for {args.lines:,})")
        print(f"     engine {engine_per_k:.3f} s / 1k lines; engine / naive = "
              f"{engine_per_k / naive_per_k:.3f} ({naive_per_k / engine_per_k:.1f}x faster)")
    _agreement(values, hours - 1, out)


def _agreement(values: np.ndarray, index: int, naive: dict[str, list]) -> None:
    """Check the full naive loop computes what the engine computes (same expected, excursion)."""
    from bot.detection._baseline import baseline_at

    spends = values != 0
    first_seen = np.where(spends.any(axis=1), spends.argmax(axis=1), values.shape[1])
    engine = baseline_at(values, index, first_seen)
    expected = np.abs(engine.expected - np.array(naive["expected"]))
    excursion = np.abs(np.nan_to_num(engine.excursion) - np.array(naive["excursion"]))
    print("   check, full naive vs engine baseline (baseline_at) on the same lines:")
    print(f"     max |expected diff| {expected.max():.2e}, max |excursion diff| "
          f"{excursion.max():.2e}; {sum(naive['anomalous'])} lines anomalous by the naive loop")


if __name__ == "__main__":
    main()
