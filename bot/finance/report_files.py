"""The board report's files: Markdown (charts as PNG files beside it), CSV, HTML and PDF.

Every file is written to a hidden staging folder inside the output folder first and moved
into place only once all of them exist, so a report that fails half way (Chromium missing,
a full disk) leaves nothing behind, and an earlier report in the same folder stays whole.
Names are fixed (``report.md``, ``register.csv``, ...): one folder holds one report, and
``--out reports/2026-10`` keeps months apart.

The CSV files are for spreadsheets: a header row, one row per anomaly (``register.csv``),
project (``spend.csv``) or budget (``budgets.csv``), amounts as plain numbers in
``currency.base`` and times in ISO 8601 UTC. In Markdown, text that came from people is
escaped so a ``|`` cannot break a table and ``<script>`` prints as text.
"""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bot.chat.text import money
from bot.finance.register import REGISTER_COLUMNS
from bot.finance.report import BoardReport
from bot.finance.report_html import render_html
from bot.finance.report_pdf import ReportError, find_chromium, print_pdf
from bot.finance.report_story import month_name

__all__ = ["BUDGET_COLUMNS", "FORMATS", "SPEND_COLUMNS", "file_names", "parse_formats",
           "prepare_out", "write_report"]

FORMATS = ("md", "csv", "html", "pdf")
SPEND_COLUMNS = ("project", "direct", "shared", "total", "previous", "change", "budget",
                 "budget_spent", "percent_of_budget", "forecast")
BUDGET_COLUMNS = ("budget", "project", "environment", "amount", "spent", "percent_spent",
                  "forecast", "percent_forecast", "set_by")
_MD_SPECIAL = str.maketrans({c: f"\\{c}" for c in "\\`*_[]|"} | {
    "<": "&lt;", ">": "&gt;", "&": "&amp;", "\n": " ", "\r": " "})


def parse_formats(text: str) -> tuple[str, ...]:
    """``md``, ``pdf``, ``md,csv`` or ``all`` as formats, or a :class:`ReportError`."""
    asked = [part.strip().lower() for part in text.split(",") if part.strip()]
    if asked == ["all"]:
        return FORMATS
    unknown = [part for part in asked if part not in FORMATS]
    if unknown or not asked:
        raise ReportError(f"--format {text!r} is unknown; use md, csv, html or pdf (or several "
                          "separated by commas, or all)")
    return tuple(dict.fromkeys(asked))


def file_names(report: BoardReport, formats: Sequence[str]) -> list[str]:
    """The files ``write_report`` writes for ``formats``."""
    names: list[str] = []
    if "md" in formats:
        names += ["report.md", *(chart.name for chart in report.charts)]
    if "csv" in formats:
        names += ["register.csv", "spend.csv", "budgets.csv"]
    if "html" in formats:
        names.append("report.html")
    if "pdf" in formats:
        names.append("report.pdf")
    return names


def prepare_out(out: Path) -> Path:
    """``out`` as a folder that exists and can be written, or a :class:`ReportError`."""
    if out.exists() and not out.is_dir():
        raise ReportError(f"--out {out} is a file; give a folder for the report's files")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise ReportError(f"--out {out} cannot be written ({exc.strerror}); choose a folder you "
                          "may write to") from None
    return out


def write_report(report: BoardReport, out: Path, formats: Sequence[str]) -> list[Path]:
    """Write the files of ``formats`` into ``out`` (all of them or none); their paths."""
    if "pdf" in formats:
        find_chromium()  # before any work: a missing Chromium is the likeliest failure
    prepare_out(out)
    staging = Path(tempfile.mkdtemp(prefix=".report-", dir=out))
    try:
        _write_all(report, staging, formats)
        written = []
        for name in file_names(report, formats):
            target = out / name
            (staging / name).replace(target)
            written.append(target)
        return written
    except OSError as exc:
        raise ReportError(f"the report could not be written to {out} ({exc.strerror}); "
                          "check the folder's space and permissions") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_all(report: BoardReport, folder: Path, formats: Sequence[str]) -> None:
    if "md" in formats:
        (folder / "report.md").write_text(render_markdown(report), encoding="utf-8")
        for chart in report.charts:
            (folder / chart.name).write_bytes(chart.png)
    if "csv" in formats:
        _write_csv(folder / "register.csv", REGISTER_COLUMNS,
                   [dict(r.record()) for r in report.register])
        _write_csv(folder / "spend.csv", SPEND_COLUMNS, _spend_records(report))
        _write_csv(folder / "budgets.csv", BUDGET_COLUMNS, _budget_records(report))
    if "html" in formats or "pdf" in formats:
        (folder / "report.html").write_text(render_html(report), encoding="utf-8")
    if "pdf" in formats:
        print_pdf(folder / "report.html", folder / "report.pdf")


def _write_csv(path: Path, columns: Sequence[str], rows: list[dict[str, object]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _number(value: float | None) -> float | str:
    return "" if value is None else round(value, 2)


def _spend_records(report: BoardReport) -> list[dict[str, object]]:
    return [{"project": p.project, "direct": _number(p.direct), "shared": _number(p.shared),
             "total": _number(p.total), "previous": _number(p.previous),
             "change": _number(p.change), "budget": _number(p.budget),
             "budget_spent": _number(p.budget_spent),
             "percent_of_budget": _number(p.percent_of_budget),
             "forecast": _number(p.forecast)} for p in report.projects]


def _budget_records(report: BoardReport) -> list[dict[str, object]]:
    return [{"budget": b.budget.label, "project": b.budget.project,
             "environment": b.budget.environment, "amount": _number(b.budget.amount),
             "spent": _number(b.spent), "percent_spent": _number(b.percent_spent),
             "forecast": _number(b.forecast), "percent_forecast": _number(b.percent_forecast),
             "set_by": b.budget.set_by or "config"}
            for b in report.budgets]


def md_text(text: str) -> str:
    """``text`` safe inside a Markdown table cell or paragraph."""
    return text.translate(_MD_SPECIAL)


def render_markdown(report: BoardReport) -> str:
    """The report as Markdown; the charts are the PNG files written beside it."""
    def m(amount: float | None) -> str:
        return "" if amount is None else money(amount, currency=report.currency)

    def when(moment: object) -> str:
        return "" if moment is None else f"{moment:%Y-%m-%d %H:%M}"

    out = io.StringIO()
    out.write(f"# Spend and anomaly report: {month_name(report.period)}\n\n")
    state = "the month is over" if report.complete else "month to date, with forecasts"
    out.write(f"Generated {report.generated_at:%Y-%m-%d %H:%M} UTC ({state}); amounts in "
              f"{report.currency}, effective cost; times in UTC.\n\n## The month in brief\n\n")
    out.write("".join(f"{md_text(p)}\n\n" for p in report.story))
    out.write(f"## Anomaly register\n\n{len(report.register)} detected.\n\n")
    if report.register:
        out.write("| id | workload | detected | acknowledged | resolved | impact | "
                  "what changed | resolution |\n|---:|---|---|---|---|---:|---|---|\n")
        for r in report.register:
            out.write(f"| {r.id} | {md_text(r.workload)} | {when(r.detected)} | "
                      f"{when(r.acknowledged)} | {when(r.resolved)} | {md_text(m(r.impact))} | "
                      f"{md_text(r.what_changed)} | {md_text(r.resolution)} |\n")
        out.write("\n")
    out.write("## Spend against budget per project\n\n| project | direct | shared | total | "
              f"{report.previous_period} | budget | counted by budget | % of budget | "
              "forecast |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
    for p in report.projects:
        pct = "" if p.percent_of_budget is None else f"{p.percent_of_budget:.0f}%"
        out.write(f"| {md_text(p.project)} | {md_text(m(p.direct))} | {md_text(m(p.shared))} | "
                  f"{md_text(m(p.total))} | {md_text(m(p.previous))} | {md_text(m(p.budget))} | "
                  f"{md_text(m(p.budget_spent))} | {pct} | {md_text(m(p.forecast))} |\n")
    out.write(f"| **total** | {md_text(m(report.direct))} | {md_text(m(report.shared))} | "
              f"{md_text(m(report.total))} | {md_text(m(report.previous))} | | | | |\n\n")
    out.write("Direct and shared spend come from showback; a budget counts every line tagged "
              "to its project, as the budget alerts in chat do.\n\n## Charts\n\n")
    for chart in report.charts:
        out.write(f"![{md_text(chart.alt)}]({chart.name})\n\n*{md_text(chart.title)}*\n\n")
    return out.getvalue()
