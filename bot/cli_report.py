"""``spendwatch report``: the anomaly register and board report of a month, as files.

Everything a user can get wrong (a period that is not YYYY-MM, an unknown format, an output
folder that cannot be written, a PDF without Chromium) is checked before the store is read,
printed as one line saying what to do, and exits with status 2; no file is written unless
all of them are (``bot.finance.report_files``).
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from bot.anomaly.service import load_library
from bot.chat.console.render import console
from bot.chat.text import money
from bot.cli_errors import fail
from bot.finance.report import build_report
from bot.finance.report_files import parse_formats, prepare_out, write_report
from bot.finance.report_pdf import ReportError, find_chromium
from bot.finance.showback import ShowbackError, month_bounds
from bot.playbook.library import PlaybookLibrary
from bot.playbook.loader import PlaybookError
from bot.settings import Settings, load_settings
from bot.wiring import build_services

__all__ = ["report_command"]


def report_command(
    period: Annotated[str, typer.Option(help="The month, as YYYY-MM, e.g. 2026-10.")],
    output_format: Annotated[str, typer.Option(
        "--format", help="md, csv, html or pdf; several separated by commas, or all.")] = "html",
    out: Annotated[Path | None, typer.Option(
        help="Folder for the files (default: ./spendwatch-report-PERIOD).")] = None,
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", help="YAML config file (default: $SPENDWATCH_CONFIG).")] = None,
) -> None:
    """The anomaly register, spend against budget with direct and shared spend, the month's
    story and charts, written as files."""
    folder = out if out is not None else Path(f"spendwatch-report-{period}")
    try:
        month_bounds(period)
        formats = parse_formats(output_format)
        if "pdf" in formats:
            find_chromium()
    except (ReportError, ShowbackError) as exc:
        raise fail(str(exc)) from None
    settings = load_settings(config)
    made = not folder.exists()
    try:
        prepare_out(folder)
    except ReportError as exc:
        _remove_if_empty(folder, made)
        raise fail(str(exc)) from None
    services = build_services(settings)
    try:
        report = build_report(engine=services.engine, settings=settings, period=period,
                              now=datetime.now(UTC), playbook=_playbook(settings))
        written = write_report(report, folder, formats)
    except (ReportError, ShowbackError) as exc:
        _remove_if_empty(folder, made)
        raise fail(str(exc)) from None
    except BaseException:
        _remove_if_empty(folder, made)
        raise
    finally:
        services.close()
    console.print(f"report for {escape(period)}: {len(report.register)} anomalies, spend "
                  f"{escape(money(report.total, currency=report.currency))}", highlight=False)
    for path in written:
        console.print(f"  {escape(str(path))}", highlight=False)


def _remove_if_empty(folder: Path, made: bool) -> None:
    """A folder this command made for a report that failed goes again (only if empty)."""
    if made:
        with contextlib.suppress(OSError):
            folder.rmdir()


def _playbook(settings: Settings) -> PlaybookLibrary | None:
    """The configured playbooks, whose walks name the "what changed" answer; a broken or
    missing folder leaves the register to the runbook entries' copies of the answers."""
    try:
        return load_library(settings)
    except (PlaybookError, OSError, StopIteration, ValueError):
        return None
