"""`spendwatch ingest` on copies of the FOCUS sample that new users hit: a real process, exit codes.

The sample's total effective cost is $14.98; none of these copies may change it silently.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.shared

SAMPLE = Path("data/focus/FOCUS-Sample-Data/FOCUS-1.0/focus_sample.csv")


def spendwatch(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SPENDWATCH_CONFIG"}
    env["COLUMNS"] = "250"
    config = cwd / "spendwatch.yml"
    if not config.exists():
        config.write_text(json.dumps({"database_url": "sqlite:///sw.db",
                                      "quarantine_dir": "quarantine"}))
    return subprocess.run(
        [sys.executable, "-m", "bot", *args, "--config", str(config)], cwd=cwd, env=env,
        capture_output=True, text=True, timeout=120,
    )


def total(cwd: Path) -> float:
    with sqlite3.connect(cwd / "sw.db") as db:
        return round(db.execute("SELECT sum(effective_cost) FROM cost_point").fetchone()[0], 2)


@pytest.fixture
def sample(tmp_path: Path, shared_dir: Path) -> Path:
    """The sample, ingested once: the store holds $14.98."""
    folder = tmp_path / "exports"
    folder.mkdir()
    path = Path(shutil.copy(shared_dir / SAMPLE, folder / "focus_sample.csv"))
    result = spendwatch("ingest", str(folder), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert total(tmp_path) == 14.98
    return path


def without(sample: Path, column: str, folder: Path) -> Path:
    folder.mkdir()
    with open(sample, newline="", encoding="utf-8") as source:
        rows = list(csv.DictReader(source))
    out = folder / sample.name
    with open(out, "w", newline="", encoding="utf-8") as target:
        writer = csv.DictWriter(target, [c for c in rows[0] if c != column])
        writer.writeheader()
        writer.writerows({k: v for k, v in r.items() if k != column} for r in rows)
    return out


def test_the_summary_states_the_cost_column_and_the_negative_usage(tmp_path, sample):
    result = spendwatch("ingest", str(sample), "--force", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    out = " ".join(result.stdout.split())
    assert ("Costs read from EffectiveCost (amortised); BilledCost is kept for --metric "
            "billed") in out
    assert ("focus_sample.csv: 12 row(s) of Usage with a negative cost: kept, they lower the "
            "spend (refunds or corrections)") in out
    assert total(tmp_path) == 14.98


def test_the_same_export_without_its_billing_account_is_refused(tmp_path, sample):
    copy = without(sample, "BillingAccountId", tmp_path / "later")

    result = spendwatch("ingest", str(copy.parent), cwd=tmp_path)

    assert result.returncode == 1  # actual: 0, and the total doubled to $29.95
    out = " ".join(result.stdout.split())
    before = out.split("missing column", 1)[0].rsplit("rejected", 1)[-1]  # after the summary
    assert before.count(copy.name) == 1, before  # the refused file is named once
    assert f"{copy.name}: missing column BillingAccountId (FOCUS mandatory)" in out
    assert "--billing-account" in out
    assert "Traceback" not in result.stdout + result.stderr
    assert total(tmp_path) == 14.98


def test_the_same_export_without_effective_cost_is_refused(tmp_path, sample):
    copy = without(sample, "EffectiveCost", tmp_path / "later")

    result = spendwatch("ingest", str(copy), cwd=tmp_path)

    assert result.returncode == 1  # actual: 0, billed cost used as effective without a word
    assert "missing column EffectiveCost (FOCUS mandatory)" in " ".join(result.stdout.split())
    assert total(tmp_path) == 14.98


def test_two_byte_identical_files_in_one_folder_count_once_and_are_named(tmp_path, sample):
    shutil.copy(sample, sample.with_name("focus_sample_copy.csv"))

    result = spendwatch("ingest", str(sample.parent), cwd=tmp_path)

    assert result.returncode == 0, result.stdout
    out = " ".join(result.stdout.split())
    assert f"focus_sample_copy.csv: byte-identical to {sample} (same BLAKE3)" in out
    assert "1 byte-identical file(s) counted once" in out
    assert total(tmp_path) == 14.98  # actual: $29.95


def test_the_export_cut_in_half_is_held_back_until_forced(tmp_path, sample):
    half = tmp_path / "later" / sample.name
    half.parent.mkdir()
    data = sample.read_bytes()
    half.write_bytes(data[:len(data) // 2])

    result = spendwatch("ingest", str(half), cwd=tmp_path)

    assert result.returncode == 1  # actual: 0, and the total fell to $3.98
    out = " ".join(result.stdout.split())
    assert ("billing account 1234567890123, period 2024-09: held back, the new export has 506 "
            "rows, 2.00 USD against 942 rows, 13.00 USD in the current one (under 50%); the "
            "current one stays. If the smaller export is right") in out
    assert "run again with --force" in out
    assert "1 row(s) rejected: row has 2 fields where the header has 44" in out  # the cut line
    assert total(tmp_path) == 14.98

    forced = spendwatch("ingest", str(half), "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stdout
    assert total(tmp_path) == 3.98
