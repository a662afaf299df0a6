"""The generated demo data: clean FOCUS, labels that tell the truth, reproducible by seed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from bot.anomaly.replay import load_usage_points
from bot.demodata import INCIDENTS, LINES, write_demo_data
from bot.ingest.service import ingest_path
from bot.settings import Settings
from storage.db import make_engine, upgrade

START = datetime(2026, 3, 2, tzinfo=UTC)
HOUR = pd.Timedelta(hours=1)
WEEK = pd.Timedelta(days=7)


def generate(out: Path, *, seed: int = 7, days: int = 28, **options) -> tuple[list[Path], dict]:
    paths = write_demo_data(out, days=days, seed=seed, **({"start": START} | options))
    return paths, json.loads((out / "labels.json").read_text())


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path], dict]:
    out = tmp_path_factory.mktemp("demo")
    paths, labels = generate(out)
    return out, paths, labels


@pytest.fixture(scope="module")
def points(demo) -> pd.DataFrame:
    """Usage per line and hour as the bot allocates it (tags, aliases, untagged)."""
    out, _, _ = demo
    frame, rejected = load_usage_points(out, Settings())
    assert rejected == 0
    frame["hour"] = pd.to_datetime(frame["hour"], utc=True)
    return frame


def test_files_ingest_with_no_rejected_rows(demo, sqlite_url, tmp_path):
    out, paths, _ = demo
    settings = Settings(database_url=sqlite_url, quarantine_dir=tmp_path / "quarantine")
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        report = ingest_path(engine=engine, settings=settings, path=out)
    finally:
        engine.dispose()
    exports = [p for p in paths if p.name.endswith(".csv.gz")]
    assert paths[-1].name == "labels.json" and len(exports) >= 5
    assert {f.status for f in report.files} == {"ingested"}
    assert report.rows_rejected == 0
    assert report.rows_kept > 30 * 28 * 24
    assert not any(f.rejected_reasons for f in report.files)


def test_the_exports_look_like_real_ones(demo):
    _, paths, _ = demo
    rows = pd.concat(pd.read_csv(p) for p in paths if p.name.endswith(".csv.gz"))
    assert set(rows["ProviderName"]) == {"AWS", "Microsoft", "Google Cloud", "OpenAI",
                                         "Anthropic"}
    assert set(rows["ChargeCategory"]) == {"Usage", "Purchase", "Credit"}
    assert (rows.loc[rows["ChargeCategory"] == "Credit", "BilledCost"] < 0).all()
    assert (rows.loc[rows["ChargeCategory"] == "Purchase", "EffectiveCost"] == 0).all()
    keys = {k for text in rows["Tags"].dropna().unique() for k in json.loads(text)}
    assert {"Project", "project", "proj", "env", "environment", "team", "owner"} <= keys
    assert rows["Tags"].isna().any()  # the line nobody tagged
    lines = rows[rows["ChargeCategory"] == "Usage"].groupby(["ResourceId", "Tags"],
                                                            dropna=False).ngroups
    assert 30 <= lines <= 45


def test_labels_have_the_scorer_format(demo):
    _, _, labels = demo
    assert set(labels) == {"seed", "start", "hours", "events", "traps", "series"}
    assert labels["seed"] == 7 and labels["hours"] == 28 * 24
    assert labels["start"] == "2026-03-02T00:00:00Z"
    assert [e["kind"] for e in labels["events"]] == list(INCIDENTS)
    for event in labels["events"]:
        assert set(event) == {"kind", "project", "environment", "service", "start", "end"}
    for trap in labels["traps"]:
        assert set(trap) == {"kind", "project", "environment", "start", "end"}
    kinds = {t["kind"] for t in labels["traps"]}
    assert {line.trap for line in LINES if line.trap} <= kinds


def test_series_and_traps_cover_the_data(demo, points):
    _, _, labels = demo
    seen = set(points[["project", "environment", "service_name"]].itertuples(index=False,
                                                                             name=None))
    listed = {(s["project"], s["environment"], s["service"]) for s in labels["series"]}
    assert listed == seen
    assert ("unallocated", "unallocated", "Amazon RDS") in listed
    workloads = {(p, e) for p, e, _ in listed}
    first, last = pd.Timestamp(labels["start"]), pd.Timestamp(labels["start"]) + (
        labels["hours"] - 1) * HOUR
    for trap in labels["traps"]:
        assert (trap["project"], trap["environment"]) in workloads
        assert first <= pd.Timestamp(trap["start"]) <= pd.Timestamp(trap["end"]) <= last


def test_each_event_is_a_clear_rise_over_the_week_before(demo, points):
    _, _, labels = demo
    first = pd.Timestamp(labels["start"])
    last = first + (labels["hours"] - 1) * HOUR
    busy: dict[tuple[str, str], list[tuple[pd.Timestamp, pd.Timestamp]]] = {}
    for event in labels["events"]:
        start, end = pd.Timestamp(event["start"]), pd.Timestamp(event["end"])
        assert start >= first + pd.Timedelta(days=10), event
        assert end < last, event
        key = (event["project"], event["environment"])
        assert all(end < s or start > e for s, e in busy.get(key, [])), event
        busy.setdefault(key, []).append((start, end))
        line = points[(points["project"] == event["project"])
                      & (points["environment"] == event["environment"])
                      & (points["service_name"] == event["service"])]
        during = line.loc[line["hour"].between(start, end), "cost"].sum()
        before = line.loc[line["hour"].between(start - WEEK, end - WEEK), "cost"].sum()
        hours = (end - start) / HOUR + 1
        assert during >= 1.5 * before, event
        assert (during - before) / hours >= 2.0, event  # dollars that matter, every hour


def test_same_seed_gives_identical_files(tmp_path, demo):
    out, paths, _ = demo
    again, _ = generate(tmp_path / "again")
    assert [p.name for p in again] == [p.name for p in paths]
    for old, new in zip(paths, again, strict=True):
        assert old.read_bytes() == new.read_bytes(), old.name


def test_different_seeds_place_incidents_differently(tmp_path, demo):
    _, _, labels = demo
    _, other = generate(tmp_path / "other", seed=8)
    where = [(e["project"], e["start"]) for e in labels["events"]]
    elsewhere = [(e["project"], e["start"]) for e in other["events"]]
    assert sum(a != b for a, b in zip(where, elsewhere, strict=True)) >= 5
    assert [e["kind"] for e in other["events"]] == list(INCIDENTS)


def test_data_ending_now_has_the_classic_incident_going_on(tmp_path):
    _, labels = generate(tmp_path / "live", seed=3, days=14, start=None)
    last = pd.Timestamp(labels["start"]) + (labels["hours"] - 1) * HOUR
    assert last >= pd.Timestamp.now(tz="UTC").floor("h") - 2 * HOUR
    classic, *others = labels["events"]
    assert classic["kind"] == "verbose-logging"
    assert pd.Timestamp(classic["end"]) == last
    assert len(others) == len(INCIDENTS) - 1
    assert all(pd.Timestamp(e["end"]) < last for e in others)


def test_stale_months_of_an_earlier_run_are_removed(tmp_path):
    out = tmp_path / "data"
    out.mkdir()
    (out / "focus-2019-01.csv.gz").write_bytes(b"old")
    (out / "focus-aws-2019-01.csv.gz").write_bytes(b"old")
    (out / "mine.csv").write_text("keep me")
    generate(out, days=14)
    assert not (out / "focus-2019-01.csv.gz").exists()
    assert not (out / "focus-aws-2019-01.csv.gz").exists()
    assert (out / "mine.csv").exists()


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="at least"):
        write_demo_data(tmp_path, days=7, start=START)
    with pytest.raises(ValueError, match="not both"):
        write_demo_data(tmp_path, start=START, end=START)


def test_other_incident_kinds_can_be_generated_and_unknown_ones_are_refused(tmp_path):
    kinds = ["verbose-logging", "retry-storm", "prompt-cache-disabled", "log-backfill"]
    write_demo_data(tmp_path / "x", days=28, seed=5, start=datetime(2026, 3, 2), kinds=kinds)
    labels = json.loads((tmp_path / "x" / "labels.json").read_text())
    assert sorted(e["kind"] for e in labels["events"]) == sorted(kinds)
    with pytest.raises(ValueError, match="unknown incident kind"):
        write_demo_data(tmp_path / "y", days=28, seed=5, kinds=["meteor-strike"])
