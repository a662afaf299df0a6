"""``spendwatch costs``: the points a report reads, and the report as a table.

The table is ``bot.render``'s; this module reads what the options ask for and picks the table.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy.engine import Connection

from bot import render, reports
from bot.reports import Period, ReportError
from storage import repositories as repo

__all__ = ["check_options", "load", "show"]


def check_options(*, top: int, unallocated: bool, project: str | None) -> None:
    """Options that cannot work, refused before anything is read or printed."""
    if top < 1:
        raise ReportError(f"--top {top} shows nothing; give 1 or more rows")
    if unallocated and project is not None:
        raise ReportError("--unallocated is the spend with no project; leave out --project")


def load(
    *, connection: Connection, project: str | None, environment: str | None,
    last: str | None, start: str | None, end: str | None, as_of: datetime | None,
) -> tuple[Period, pd.DataFrame]:
    """The period the options ask for, and its points and the previous period's."""
    _, newest = repo.data_range(connection=connection)
    if newest is None:
        raise ReportError("no cost data yet; run `spendwatch ingest PATH` first")
    period = reports.choose_period(last=last, start=start, end=end, as_of=as_of,
                                   data_end=newest + timedelta(hours=1))
    return period, repo.load_points(connection=connection, start=period.previous_start,
                                    end=period.end, project=project, environment=environment)


def show(
    points: pd.DataFrame, *, period: Period, by: str, metric: str, unallocated: bool,
    project: str | None, environment: str | None, top: int,
) -> None:
    """The report on stdout: the table and its notes."""
    if unallocated:
        render.print_unallocated(points, period, by=by, metric=metric, environment=environment,
                                 top=top)
        return
    summary = reports.summarise(points, period=period, by=by, metric=metric)
    render.print_summary(summary, project=project, environment=environment, top=top)
