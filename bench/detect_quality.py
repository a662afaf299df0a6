"""Detection quality on generated sets it was not tuned on: incidents found, false alerts, speed.

For each seed (and start date), generates labelled FOCUS data with ``spendwatch demo-data``'s
generator, replays it hour by hour exactly as ``spendwatch replay`` does, and scores the alerts
with the evaluation scorer (``../shared/tools/score_alerts.py``) when it is there, else with
the same matching rule implemented here (project and environment agree, detected within
[start - 3 h, end + 6 h]). ``--kinds`` swaps in incident kinds the default demo does not use.

    python bench/detect_quality.py --seeds 1-6
    python bench/detect_quality.py --seeds 1-4 --kinds price-increase,two-hour-burst,slow-leak
    python bench/detect_quality.py --seeds 1-6 --profile sensitive
    python bench/detect_quality.py --seeds 1-6 --kinds verbose-logging,retry-storm,\
prompt-cache-disabled,log-backfill,gpu-left-running,poc-to-production,runaway-agent-loop
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.anomaly.replay import replay, write_alerts  # noqa: E402
from bot.demodata import write_demo_data  # noqa: E402
from bot.settings import parse_settings  # noqa: E402

SCORER = ROOT.parent / "shared" / "tools" / "score_alerts.py"


def _seeds(text: str) -> list[int]:
    if "-" in text:
        low, high = text.split("-")
        return list(range(int(low), int(high) + 1))
    return [int(s) for s in text.split(",")]


def _score_here(labels: dict, alerts: list[dict]) -> dict:
    used, found, delays, causes = set(), 0, [], 0
    for event in labels["events"]:
        low = pd.Timestamp(event["start"]) - pd.Timedelta(hours=3)
        high = pd.Timestamp(event["end"]) + pd.Timedelta(hours=6)
        hits = [i for i, a in enumerate(alerts)
                if (a["project"], a["environment"]) == (event["project"], event["environment"])
                and low <= pd.Timestamp(a["detected_at"]) <= high]
        used.update(hits)
        if hits:
            first = min(hits, key=lambda i: pd.Timestamp(alerts[i]["detected_at"]))
            found += 1
            delays.append((pd.Timestamp(alerts[first]["detected_at"])
                           - pd.Timestamp(event["start"])) / pd.Timedelta(hours=1))
            top = alerts[first]["top_contributors"]
            causes += bool(top) and top[0]["service"] == event["service"]
    return {"detected": found, "events": len(labels["events"]),
            "false_alerts": len(alerts) - len(used),
            "ttd_median_h": statistics.median(delays) if delays else None,
            "root_cause_ok": causes}


def score(labels_path: Path, alerts_path: Path, alerts: list[dict]) -> dict:
    if SCORER.exists():
        out = subprocess.run([sys.executable, str(SCORER), str(labels_path), str(alerts_path)],
                             capture_output=True, text=True, check=True)
        return json.loads(out.stdout)
    return _score_here(json.loads(labels_path.read_text()), alerts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1-6")
    parser.add_argument("--days", type=int, default=42)
    parser.add_argument("--starts", default="2026-03-02,2026-06-17")
    parser.add_argument("--kinds", default=None, help="comma-separated incident kinds")
    parser.add_argument("--profile", default="balanced",
                        help="sensitivity profile for every environment (conservative, "
                             "balanced, sensitive)")
    args = parser.parse_args()
    settings = parse_settings({"detection": {"profile": args.profile}})
    kinds = args.kinds.split(",") if args.kinds else None
    print(f"scorer: {SCORER if SCORER.exists() else 'built-in matching (shared scorer absent)'}"
          f"; profile: {args.profile}")
    print(f"{'seed':>4} {'start':>10} {'found':>6} {'false':>5} {'ttd med':>7} {'cause':>5} "
          f"{'replay s':>8}  misses / false alerts")
    totals = {"events": 0, "found": 0, "false": 0, "causes": 0, "ttd": []}
    kinds_seen: dict[str, list[float | None]] = {}  # kind -> time to detect (None: missed)
    false_by_kind: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in _seeds(args.seeds):
            for start in args.starts.split(","):
                folder = Path(tmp) / f"s{seed}-{start}"
                write_demo_data(folder, days=args.days, seed=seed,
                                start=datetime.fromisoformat(start), kinds=kinds)
                began = pd.Timestamp.now()
                result = replay(folder, settings)
                seconds = (pd.Timestamp.now() - began).total_seconds()
                alerts_path = folder / "alerts.jsonl"
                write_alerts(result.alerts, alerts_path)
                s = score(folder / "labels.json", alerts_path, result.alerts)
                events = s.get("events", len(json.loads(
                    (folder / "labels.json").read_text())["events"]))
                misses = [e["kind"] for e in s.get("per_event", []) if not e["detected"]]
                print(f"{seed:>4} {start:>10} {s['detected']:>3}/{events:<2} "
                      f"{s['false_alerts']:>5} {s['ttd_median_h'] or 0:>7.1f} "
                      f"{s['root_cause_ok']:>5} {seconds:>8.1f}  "
                      f"{misses or ''} {s.get('false_by_kind') or ''}")
                totals["events"] += events
                totals["found"] += s["detected"]
                totals["false"] += s["false_alerts"]
                totals["causes"] += s["root_cause_ok"]
                if s["ttd_median_h"] is not None:
                    totals["ttd"].append(s["ttd_median_h"])
                for event in s.get("per_event", []):
                    kinds_seen.setdefault(event["kind"], []).append(
                        event["ttd_h"] if event["detected"] else None)
                for kind, count in (s.get("false_by_kind") or {}).items():
                    false_by_kind[kind] = false_by_kind.get(kind, 0) + count
    print(f"all: {totals['found']}/{totals['events']} incidents found, {totals['false']} false "
          f"alerts, root cause right for {totals['causes']}, median of per-set median time to "
          f"detect {statistics.median(totals['ttd']) if totals['ttd'] else 'n/a'} h")
    _per_kind(kinds_seen, false_by_kind)


def _per_kind(kinds: dict[str, list[float | None]], false_by_kind: dict[str, int]) -> None:
    print(f"{'kind':<24} {'found':>7} {'ttd med':>7} {'ttd max':>7}")
    for kind, delays in sorted(kinds.items()):
        hit = [d for d in delays if d is not None]
        median = f"{statistics.median(hit):.1f}" if hit else "-"
        worst = f"{max(hit):.1f}" if hit else "-"
        print(f"{kind:<24} {len(hit):>3}/{len(delays):<3} {median:>7} {worst:>7}")
    print("false alerts by where they fell: " + (", ".join(
        f"{kind} {count}" for kind, count in sorted(false_by_kind.items())) or "none"))


if __name__ == "__main__":
    main()
