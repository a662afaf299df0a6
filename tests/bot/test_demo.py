"""`spendwatch demo` as `make demo` runs it: a real process, again and again, and interrupted."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

SPENDWATCH = Path(sys.executable).parent / "spendwatch"
ENV = {**{k: v for k, v in os.environ.items() if k != "SPENDWATCH_CONFIG"},
       "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}


def demo(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SPENDWATCH), "demo", *args], cwd=cwd, env=ENV, input="",
                          capture_output=True, text=True, timeout=180)


def assert_whole_loop(out: str) -> None:
    live = out.split("Anomalies going on now", 1)[1]
    assert "support-agent / prod" in live and "AmazonCloudWatch" in live
    budget = live.split("A budget on that workload", 1)[1].split("console chat", 1)[0]
    # whatever the day of the month, the forecast (or spend) of 90 % of the pace passes 80 %
    assert "#C0FINOPS: Budget support-agent · prod" in budget and "passed" in budget
    chat = live.split("console chat", 1)[1]
    assert "Spend anomaly: support-agent" in chat and "acknowledged this anomaly" in chat
    assert "Playbook step 5 of 5: Document" in chat and "Runbook entry:" in chat
    assert "earlier demo run" not in out
    digest = out.split("The weekly finance digest", 1)[1]
    assert "Weekly spend digest" in digest
    assert "logging" in digest.split("What changed, most often: ", 1)[1].split("(", 1)[0].lower()


def test_the_demo_runs_again_from_the_start_and_keeps_its_files_in_its_folder(tmp_path):
    first = demo(tmp_path)
    again = demo(tmp_path, "--workdir", ".demo")

    for result in (first, again):
        assert result.returncode == 0, result.stderr
        assert "of 7 seeded incidents caught" in result.stdout
        assert_whole_loop(result.stdout)
    assert [p.name for p in tmp_path.iterdir()] == [".demo"]  # nothing else where it ran
    work = tmp_path / ".demo"
    assert sorted(p.name for p in work.iterdir()) == ["charts", "demo-data",
                                                      "spendwatch-demo.db"]
    assert sorted(p.name for p in (work / "charts").iterdir()) == ["console-1-chart.png",
                                                                     "digest-chart.png"]
    with sqlite3.connect(work / "spendwatch-demo.db") as connection:
        entries = connection.execute("SELECT COUNT(*) FROM runbook_entry").fetchone()[0]
    assert entries == 1  # the second run started from a fresh store
    assert_one_kind(again.stdout)


def assert_one_kind(out: str) -> None:
    """The incident going on now has the kind the table of what detection caught gives it."""
    caught, now = out.split("Anomalies going on now", 1)
    kind = re.search(r"Anomaly swa-\d+: support-agent / prod \(([\w-]+)\)", now)
    assert kind is not None, now[:500]
    rows = re.findall(r"support-agent / prod\s*│\s*([\w-]+)\s*│", caught)
    assert rows and rows[-1] == kind.group(1)
    assert f"{kind.group(1)} since " in now.split("console chat", 1)[1]  # and on its card


def test_a_demo_killed_mid_walk_is_started_again_and_completes(tmp_path):
    process = subprocess.Popen([str(SPENDWATCH), "demo"], cwd=tmp_path, env=ENV,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    seen = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            seen.append(line)
            if "Playbook step 2 of 5" in line:
                process.send_signal(signal.SIGKILL)
                break
    finally:
        process.kill()
        process.wait(timeout=30)
    partial = "".join(seen)
    assert "Playbook step 2 of 5" in partial and "Runbook entry:" not in partial
    with sqlite3.connect(tmp_path / ".demo" / "spendwatch-demo.db") as connection:
        walked = connection.execute("SELECT completed_at FROM playbook_run").fetchall()
    assert walked == [(None,)]  # killed with the playbook half walked

    result = demo(tmp_path)

    assert result.returncode == 0, result.stderr
    assert_whole_loop(result.stdout)
