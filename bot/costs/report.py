"""``spendwatch costs``: the summary a report asks ``bot.costs.service`` for, and the report as a
table, JSON or CSV.

The table is ``bot.chat.console.render``'s. JSON and CSV have one row per key's usage and one
per key's
other charges (credits, purchases, tax, adjustments, told apart by ``charge_category``), every
key of the period with nothing cut off: the rows' ``cost`` adds up to the total the table
shows and ``previous_cost`` to the previous period's. There is no total row; sum the rows.
JSON is a list of objects, CSV a header row with the same fields; nothing else goes to stdout.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy.engine import Connection

from bot.chat.console import render
from bot.costs import service
from bot.costs.periods import ReportError, choose_period
from bot.costs.service import USAGE, CostSummary
from bot.finance.config import SharedCost
from bot.finance.showback import Showback, load_showback

__all__ = ["FORMATS", "Report", "check_options", "fields", "load", "records", "show", "write"]

FORMATS = ("table", "json", "csv")
DECIMALS = 6  # finer than any invoice line, short enough to read


def check_options(*, fmt: str, top: int, unallocated: bool, project: str | None) -> None:
    """Options that cannot work, refused before anything is read or printed."""
    if fmt not in FORMATS:
        raise ReportError(f"--format {fmt!r} is unknown; use table, json or csv")
    if top < 1:
        raise ReportError(f"--top {top} shows nothing; give 1 or more rows")
    if unallocated and project is not None:
        raise ReportError("--unallocated is the spend with no project; leave out --project")


def fields(summary: CostSummary) -> list[str]:
    """Field names: the ``--by`` key first, then the charge category and the amounts."""
    return [summary.by, "charge_category", "cost", "previous_cost", "change", "change_pct",
            "metric"]


def records(summary: CostSummary) -> list[dict[str, Any]]:
    """Usage rows largest first, then the other charges; they add up to the totals."""
    usage = summary.rows.assign(charge_category=USAGE)
    out = []
    for frame in (usage, summary.other):
        columns = ["key", "charge_category", "cost", "previous", "change", "change_pct"]
        for key, category, cost, previous, change, pct in frame[columns].itertuples(
                index=False, name=None):
            out.append({
                summary.by: str(key), "charge_category": str(category),
                "cost": round(float(cost), DECIMALS),
                "previous_cost": round(float(previous), DECIMALS),
                "change": round(float(change), DECIMALS),
                "change_pct": None if pct is None else round(float(pct), 2),
                "metric": summary.metric,
            })
    return out


def write(summary: CostSummary, *, fmt: str, stream: TextIO) -> None:
    """The summary's rows as JSON (a list of objects) or CSV (a header row, then the rows)."""
    rows = records(summary)
    if fmt == "json":
        json.dump(rows, stream, indent=2)
        stream.write("\n")
        return
    writer = csv.DictWriter(stream, fieldnames=fields(summary), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


@dataclass(frozen=True)
class Report:
    """What ``spendwatch costs`` shows: the summary, and with ``--unallocated`` all spend;
    by project with shared pools configured, also direct and shared spend side by side."""

    summary: CostSummary
    everything: float | None = None  # the total of all spend, when the summary is unallocated
    showback: Showback | None = None


def load(
    *, connection: Connection, by: str, metric: str, unallocated: bool, project: str | None,
    environment: str | None, last: str | None, start: str | None, end: str | None,
    as_of: datetime | None, pools: Sequence[SharedCost] = (),
) -> Report:
    """The summary the options ask for, summed in the database. With ``pools``
    (``showback.shared``) and ``by == "project"``, the showback of the same period too."""
    data_end = service.data_end(connection)
    if data_end is None:
        raise ReportError("no cost data yet; run `spendwatch ingest PATH` first")
    period = choose_period(last=last, start=start, end=end, as_of=as_of, data_end=data_end)
    if unallocated:
        loose, everything = service.unallocated(connection, period=period, by=by, metric=metric,
                                                environment=environment)
        return Report(loose, everything)
    summary = service.summarise(connection, period=period, by=by, metric=metric,
                                project=project, environment=environment)
    shared = None
    if pools and by == "project" and project is None and environment is None:
        shared = load_showback(connection=connection, pools=pools, start=period.start,
                               end=period.end, metric=metric)
    return Report(summary, showback=shared)


def show(report: Report, *, fmt: str, project: str | None, environment: str | None,
         top: int) -> None:
    """The report on stdout: a table (with notes), or JSON or CSV and nothing else."""
    if fmt != "table":
        write(report.summary, fmt=fmt, stream=sys.stdout)
    elif report.everything is not None:
        render.print_unallocated(report.summary, report.everything, environment=environment,
                                 top=top)
    else:
        render.print_summary(report.summary, project=project, environment=environment, top=top)
        if report.showback is not None:
            render.print_showback(
                report.showback, pools_configured=True,
                heading=f"the same {report.summary.metric} cost with shared pools split "
                        f"(showback.shared): direct and shared spend per project")
