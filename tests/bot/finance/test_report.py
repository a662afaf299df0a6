"""The board report of October on a hand-built store: its figures, its story, and the files
it writes (Markdown with its charts, CSV, one self-contained HTML file), all or nothing."""

from __future__ import annotations

import csv
import io
import os
import re
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy.engine import Engine

from bot.finance.register import REGISTER_COLUMNS
from bot.finance.report import BoardReport, build_report
from bot.finance.report_charts import HEIGHT_PX, WIDTH_PX
from bot.finance.report_files import (
    BUDGET_COLUMNS,
    SPEND_COLUMNS,
    parse_formats,
    write_report,
)
from bot.finance.report_pdf import ReportError
from bot.finance.showback import ShowbackError
from bot.settings import Settings
from storage.db import make_engine, upgrade
from tests.support.board_report import (
    EXPECTED_NOTE,
    OCTOBER_TOTAL,
    PLAYBOOK,
    SCRIPT,
    SEPTEMBER_TOTAL,
    at,
    fill_store,
    report_settings,
)

AFTER_OCTOBER = datetime(2026, 11, 30, 9, tzinfo=UTC)


def build(engine: Engine, settings: Settings, *, now: datetime = AFTER_OCTOBER,
          period: str = "2026-10") -> BoardReport:
    return build_report(engine=engine, settings=report_settings(settings), period=period,
                        now=now, playbook=PLAYBOOK)


@pytest.fixture(scope="module")
def october(tmp_path_factory: pytest.TempPathFactory) -> BoardReport:
    """October's report from one SQLite store, built once for the file tests."""
    folder = tmp_path_factory.mktemp("board")
    settings = Settings(database_url=f"sqlite:///{folder / 'sw.db'}",
                        quarantine_dir=folder / "q")
    engine = make_engine(settings.database_url)
    upgrade(engine)
    try:
        fill_store(engine)
        return build(engine, settings)
    finally:
        engine.dispose()


def test_figures_add_up_and_compare_with_september(engine: Engine, settings: Settings) -> None:
    fill_store(engine)
    report = build(engine, settings)
    assert report.complete and report.previous_period == "2026-09"
    assert report.total == OCTOBER_TOTAL and report.previous == SEPTEMBER_TOTAL
    projects = {p.project: p for p in report.projects}
    # the shared account's 310 split 1395:1550 by direct spend, to the cent
    assert (projects["support-agent"].direct, projects["support-agent"].shared) == (1395, 146.84)
    assert (projects["search"].direct, projects["search"].shared) == (1550, 163.16)
    assert report.shared == 310
    # the project-wide budget counts every line of the project, the shared account's too
    assert projects["support-agent"].budget == 1000
    assert projects["support-agent"].budget_spent == 1395 + 310
    assert projects["search"].budget == 2000 and projects["search"].budget_spent == 1550
    assert {b.budget.label: b.forecast for b in report.budgets} == {
        "support-agent · all environments": 1705, "search · prod": 1550}  # the month is over
    assert report.daily.shape == (31, 2)
    assert report.daily["support-agent"].iloc[0] == 55  # prod, staging and the shared account
    assert [r.id for r in report.register] == sorted(r.id for r in report.register)
    assert len(report.register) == 4


def test_the_story_says_what_changed_why_and_where_the_money_went(october: BoardReport
                                                                  ) -> None:
    story = "\n".join(october.story)
    assert "Spend in October 2026 was $3,255.00" in story
    assert "up 20.6% (+$555.00) on September 2026 ($2,700.00)" in story
    assert "support-agent +$529.34, +52.3%" in story  # the biggest change comes first
    assert "4 spend anomalies were detected, $734.75 over expected" in story
    assert "3 closed, 1 still open" in story
    assert "why: a deploy pointed the summariser at the large model" in story
    assert EXPECTED_NOTE in story
    assert "1 went over: support-agent · all environments spent $1,705.00 of $1,000.00" in story
    assert "search $1,713.16 (53% of the total), largest service Amazon OpenSearch" in story


def test_a_month_in_progress_reads_to_date_with_forecasts(engine: Engine,
                                                          settings: Settings) -> None:
    fill_store(engine)
    report = build(engine, settings, now=at(20, 9))
    assert not report.complete
    assert "so far (the month is not over)" in report.story[0]
    forecasts = {b.budget.project: (b.spent, b.forecast) for b in report.budgets}
    spent, forecast = forecasts["support-agent"]
    assert forecast is not None and spent < forecast  # read as of Oct 20, forecast to Oct 31


def test_every_file_is_written_and_holds_the_rows(october: BoardReport, tmp_path: Path) -> None:
    written = write_report(october, tmp_path, ("md", "csv", "html"))
    names = sorted(p.name for p in written)
    assert names == sorted(["report.md", "spend-per-day.png", "spend-vs-budget.png",
                            "register.csv", "spend.csv", "budgets.csv", "report.html"])
    assert sorted(p.name for p in tmp_path.iterdir()) == names  # no staging left behind
    markdown = (tmp_path / "report.md").read_text()
    for row in october.register:
        assert re.search(rf"^\| {row.id} \| {row.workload} \| {row.detected:%Y-%m-%d %H:%M} \|",
                         markdown, re.MULTILINE)
    assert "](spend-per-day.png)" in markdown and "](spend-vs-budget.png)" in markdown
    assert "&lt;script&gt;" in markdown and SCRIPT not in markdown
    assert "planned reindex \\| approved by finance" in markdown  # a | cannot split a cell
    for chart in ("spend-per-day.png", "spend-vs-budget.png"):
        with Image.open(tmp_path / chart) as image:
            assert image.format == "PNG" and image.size == (WIDTH_PX, HEIGHT_PX)


def test_the_csv_files_parse_with_their_columns(october: BoardReport, tmp_path: Path) -> None:
    write_report(october, tmp_path, ("csv",))
    register = list(csv.DictReader(io.StringIO((tmp_path / "register.csv").read_text())))
    assert tuple(register[0]) == REGISTER_COLUMNS
    assert [int(r["id"]) for r in register] == [r.id for r in october.register]
    assert [float(r["impact"]) for r in register] == [420.0, 180.5, 35.25, 99.0]
    assert register[0]["acknowledged"] == "2026-10-05T09:20:00+00:00"
    assert register[3]["resolved"] == ""  # still open
    assert SCRIPT in register[0]["what_changed"]  # data, as typed, for a spreadsheet
    spend = list(csv.DictReader(io.StringIO((tmp_path / "spend.csv").read_text())))
    assert tuple(spend[0]) == SPEND_COLUMNS
    assert sum(float(r["total"]) for r in spend) == pytest.approx(OCTOBER_TOTAL)
    budgets = list(csv.DictReader(io.StringIO((tmp_path / "budgets.csv").read_text())))
    assert tuple(budgets[0]) == BUDGET_COLUMNS
    assert {(r["project"], r["environment"], r["amount"]) for r in budgets} == {
        ("support-agent", "*", "1000.0"), ("search", "prod", "2000.0")}


def test_the_html_is_one_file_that_loads_nothing_and_escapes_answers(october: BoardReport,
                                                                     tmp_path: Path) -> None:
    write_report(october, tmp_path, ("html",))
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    page = (tmp_path / "report.html").read_text()
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:)""", page)  # only data: URIs
    assert "<script" not in page
    assert "&lt;script&gt;alert(&#x27;owned&#x27;)&lt;/script&gt;" in page
    assert page.count('src="data:image/png;base64,') == 2
    for row in october.register:
        assert f'<tr id="anomaly-{row.id}"><td class="num">{row.id}</td>' in page


def test_a_failure_half_way_leaves_the_folder_as_it_was(october: BoardReport, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "report.md").write_text("last month's report")
    broken = tmp_path.parent / f"{tmp_path.name}-chromium"
    broken.write_text("#!/bin/sh\necho 'ERROR: cannot print' >&2\nexit 3\n")
    broken.chmod(broken.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("SPENDWATCH_CHROMIUM", str(broken))
    with pytest.raises(ReportError, match="Chromium did not produce a PDF"):
        write_report(october, tmp_path, ("md", "csv", "html", "pdf"))
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]
    assert (tmp_path / "report.md").read_text() == "last month's report"


def test_an_output_that_is_a_file_is_refused(october: BoardReport, tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.write_text("")
    with pytest.raises(ReportError, match="is a file; give a folder"):
        write_report(october, target, ("md",))
    with pytest.raises(ReportError, match="cannot be written"):
        write_report(october, target / "inside", ("md",))
    assert os.listdir(tmp_path) == ["taken"]


@pytest.mark.parametrize(("text", "formats"), [
    ("md", ("md",)), ("PDF", ("pdf",)), ("md, csv,md", ("md", "csv")),
    ("all", ("md", "csv", "html", "pdf"))])
def test_formats_are_read_from_one_option(text: str, formats: tuple[str, ...]) -> None:
    assert parse_formats(text) == formats


@pytest.mark.parametrize("text", ["docx", "", "md,xlsx"])
def test_an_unknown_format_says_which_exist(text: str) -> None:
    with pytest.raises(ReportError, match="use md, csv, html or pdf"):
        parse_formats(text)


def test_a_period_that_is_not_a_month_is_refused(engine: Engine, settings: Settings) -> None:
    with pytest.raises(ShowbackError, match="YYYY-MM"):
        build(engine, settings, period="2026-13")


def test_an_empty_month_still_makes_every_file_and_says_so(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}",
                        quarantine_dir=tmp_path / "q")
    engine = make_engine(settings.database_url)
    upgrade(engine)
    try:
        report = build(engine, settings)
    finally:
        engine.dispose()
    assert report.total == 0 and report.register == [] and report.projects == []
    assert "September 2026 had no recorded spend" in report.story[0]
    assert "No spend anomalies were detected this month." in report.story
    written = write_report(report, tmp_path / "out", ("md", "csv", "html"))
    assert len(written) == 7
    register = (tmp_path / "out" / "register.csv").read_text()
    assert register == ",".join(REGISTER_COLUMNS) + "\n"  # the header, no rows
