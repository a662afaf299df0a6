"""Generated FOCUS demo data: weeks of hourly AI and cloud spend with seeded, labelled incidents.

Realistic enough to exercise the whole pipeline and to score a detector on it: about forty
lines of spend (project x environment x service) at AWS, Azure, Google, OpenAI and Anthropic,
tagged the way real teams tag (``Project`` / ``proj``, ``env`` / ``environment``, ``team`` /
``owner``, AWS's ``user:`` prefix, ``prd`` and ``Production``), one line nobody tagged; daily and
weekly rhythm, GPUs that only run in working hours, a nightly batch, bursty but normal
traffic, a Monday ramp, slow organic growth, a sandbox spending pennies, a commitment purchase
and a credit among the usage.

The seed picks and places the incidents (see ``incidents.INCIDENTS``): verbose logging (the
classic, always there, and still going on in the newest hours when the data ends now), a
runaway agent loop, a GPU left running, a model tier switch, a proof of concept going to
production, cross-region transfer and an autoscaling runaway. ``labels.json`` beside the
exports says where they are, in the format ``score_alerts.py`` reads: ``events`` (start and end
are the first and last affected hours), ``traps`` (normal patterns that must not alert) and
``series``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from bot.demodata.catalogue import LINES, DemoLine
from bot.demodata.focus import commitment_rows, iso, usage_rows, write_exports
from bot.demodata.incidents import EXTRA_INCIDENTS, INCIDENTS, Event, Scene
from bot.demodata.shapes import Clock, baseline
from storage.timeutil import as_utc

__all__ = ["EXTRA_INCIDENTS", "INCIDENTS", "LINES", "MIN_DAYS", "DemoLine", "write_demo_data"]

DAY = 24
MIN_DAYS = 14  # ten quiet days of history, then room for the incidents
LABELS = "labels.json"


def write_demo_data(out: Path, *, days: int = 28, end: datetime | None = None,
                    seed: int = 42, start: datetime | None = None,
                    kinds: Sequence[str] | None = None) -> list[Path]:
    """Write gzip FOCUS 1.2 CSVs (one per provider and billing month) and ``labels.json``.

    The data covers ``days`` days ending at ``end`` (default: the current hour, and then the
    classic incident is live) or starting at ``start``. Returns the paths written, labels last.
    """
    if days < MIN_DAYS:
        raise ValueError(f"days must be at least {MIN_DAYS} (ten days of history come first)")
    if start is not None and end is not None:
        raise ValueError("give start or end, not both")
    hours = _hours(days, start, end)
    clock = Clock.of(hours)
    lines, costs, blips = list(LINES), [], {}
    for index, line in enumerate(lines):
        cost, blip = baseline(line, clock, np.random.default_rng([seed, index]))
        costs.append(cost)
        if blip is not None:
            blips[line.workload] = blip
    scene = Scene(clock, lines, costs, earliest=10 * DAY, latest=clock.n - 12,
                  live=start is None and end is None)
    events = []
    known = {**INCIDENTS, **EXTRA_INCIDENTS}
    chosen = list(INCIDENTS) if kinds is None else list(kinds)
    unknown = [k for k in chosen if k not in known]
    if unknown:
        raise ValueError(f"unknown incident kind(s) {', '.join(unknown)}; known: "
                         f"{', '.join(known)}")
    for number, kind in enumerate(chosen):
        event = known[kind](scene, np.random.default_rng([seed, 1000 + number]))
        if event is not None:
            events.append(event)

    rng = np.random.default_rng([seed, 2000])
    covered = next(i for i, line in enumerate(lines)
                   if line.trap == "commitment-purchase-and-credit")
    purchase = int(rng.integers(3 * DAY, 9 * DAY))
    credit = int(rng.integers(11 * DAY, clock.n - 2 * DAY))
    frames = [usage_rows(line, hours, cost, committed_from=purchase if i == covered else None,
                         usage=used)
              for i, (line, cost, used) in enumerate(zip(lines, costs, scene.usage, strict=True))]
    frames.append(commitment_rows(lines[covered], hours, costs[covered], purchase, credit,
                                  credit_usd=float(np.round(rng.uniform(500, 1500), -1))))
    written = write_exports(out, pd.concat(frames, ignore_index=True))
    windows = {**blips, lines[covered].workload: (purchase, credit + 1)}
    labels = _labels(seed, hours, lines, events, windows)
    path = out / LABELS
    path.write_text(json.dumps(labels, indent=1) + "\n", encoding="utf-8")
    return [*written, path]


def _hours(days: int, start: datetime | None, end: datetime | None) -> pd.DatetimeIndex:
    def hour(value: datetime) -> pd.Timestamp:
        return pd.Timestamp(as_utc(value)).floor("h")

    if start is not None:
        first = hour(start)
    else:
        last = hour(end or datetime.now(UTC))
        first = last - timedelta(days=days)
    return pd.date_range(first, periods=days * DAY, freq="h")


def _labels(seed: int, hours: pd.DatetimeIndex, lines: list[DemoLine], events: list[Event],
            windows: dict[tuple[str, str], tuple[int, int]]) -> dict[str, object]:
    def at(index: int) -> str:
        return str(iso(hours[[min(index, len(hours) - 1)]])[0])

    hit = {event.line.workload for event in events}
    traps, seen = [], set()
    for line in lines:
        kind = line.trap or ("business-hours" if line.role == "gpu" else None)
        if kind is None or line.workload in seen or line.workload in hit:
            continue
        seen.add(line.workload)
        first, stop = windows.get(line.workload, (0, len(hours)))
        traps.append({"kind": kind, "project": line.workload[0],
                      "environment": line.workload[1], "start": at(first), "end": at(stop - 1)})
    series = []
    for line in lines:
        entry = {"project": line.workload[0], "environment": line.workload[1],
                 "service": line.service}
        if entry not in series:
            series.append(entry)
    return {
        "seed": seed,
        "start": at(0),
        "hours": len(hours),
        "events": [
            {"kind": e.kind, "project": e.line.workload[0], "environment": e.line.workload[1],
             "service": e.line.service, "start": at(e.start), "end": at(e.end - 1)}
            for e in events
        ],
        "traps": traps,
        "series": series,
    }
