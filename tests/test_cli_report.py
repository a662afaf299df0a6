"""`spendwatch report` on a small real SQLite store: the files it writes, and every mistake a
user can make answered with one line, exit status 2 and no file."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import pytest

from bot import cli
from storage.db import make_engine, upgrade
from tests.support.anomalies import PLAYBOOKS
from tests.support.board_report import BUDGETS, SHOWBACK, fill_store


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report-cli")
    url = f"sqlite:///{folder / 'sw.db'}"
    engine = make_engine(url)
    upgrade(engine)
    try:
        fill_store(engine)
    finally:
        engine.dispose()
    path = folder / "spendwatch.yml"
    path.write_text(json.dumps({"database_url": url, "quarantine_dir": str(folder / "q"),
                                "budgets": BUDGETS, "showback": SHOWBACK,
                                "playbooks_dir": str(PLAYBOOKS)}))
    return path


def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["spendwatch", "report", *args])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


def test_the_report_is_written_and_listed(config: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "reports" / "2026-10"  # made, parents too
    code, said, err = run(monkeypatch, capsys, "-c", str(config), "--period", "2026-10",
                          "--format", "md,csv,html", "--out", str(out))
    assert code == 0, err
    names = {"report.md", "spend-per-day.png", "spend-vs-budget.png", "register.csv",
             "spend.csv", "budgets.csv", "report.html"}
    assert {p.name for p in out.iterdir()} == names
    assert "report for 2026-10: 4 anomalies, spend $3,255.00" in said
    assert all(name in said for name in names)
    register = list(csv.DictReader(io.StringIO((out / "register.csv").read_text())))
    assert [r["workload"] for r in register] == [
        "support-agent/prod", "search/prod", "support-agent/staging", "search/prod"]
    assert "Model (new model, version or SKU)" in register[0]["what_changed"]


@pytest.mark.parametrize(("args", "says"), [
    (["--period", "2026-13"], "is not a month; give it as YYYY-MM"),
    (["--period", "october"], "give it as YYYY-MM, e.g. 2026-10"),
    (["--period", "2026-10", "--format", "docx"], "--format 'docx' is unknown; use md, csv"),
])
def test_a_bad_period_or_format_writes_nothing(config: Path, tmp_path: Path, args: list[str],
                                               says: str, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code, _, err = run(monkeypatch, capsys, "-c", str(config), *args, "--out", str(out))
    assert code == 2 and says in err
    assert "Traceback" not in err
    assert not out.exists()


def test_an_output_that_cannot_be_a_folder_is_refused(config: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    taken = tmp_path / "taken"
    taken.write_text("")
    code, _, err = run(monkeypatch, capsys, "-c", str(config), "--period", "2026-10",
                       "--out", str(taken))
    assert code == 2 and "is a file; give a folder" in err
    code, _, err = run(monkeypatch, capsys, "-c", str(config), "--period", "2026-10",
                       "--out", str(taken / "inside"))
    assert code == 2 and "cannot be written" in err and "choose a folder" in err
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]


def test_a_pdf_without_chromium_says_to_install_it(config: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("bot.finance.report_pdf.CHROMIUM", str(tmp_path / "no-chromium"))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("SPENDWATCH_CHROMIUM", raising=False)
    out = tmp_path / "out"
    code, _, err = run(monkeypatch, capsys, "-c", str(config), "--period", "2026-10",
                       "--format", "pdf", "--out", str(out))
    assert code == 2 and "install the chromium package" in err
    assert not out.exists()


def test_a_pdf_that_fails_to_print_leaves_no_folder(config: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "chromium"
    broken.write_text("#!/bin/sh\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("SPENDWATCH_CHROMIUM", str(broken))
    out = tmp_path / "out"
    code, _, err = run(monkeypatch, capsys, "-c", str(config), "--period", "2026-10",
                       "--format", "md,pdf", "--out", str(out))
    assert code == 2 and "Chromium did not produce a PDF (exit 1)" in err
    assert not out.exists()
