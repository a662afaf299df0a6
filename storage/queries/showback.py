"""The SQL behind showback: spend per line of spend (series) over a period, summed in the
database, so a month of hourly points costs one row per series whatever the store's size.
Series are read first and each costs one range scan of the ``(series_id, hour)`` index, the
only index ``cost_point`` has; filtering hours alone would scan every point of the store."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlmodel import col

from storage.models import SERIES_COLUMNS, CostPoint, CostSeries

__all__ = ["series_spend"]


def series_spend(
    *, connection: Connection, start: datetime, end: datetime, metric: str = "effective",
) -> pd.DataFrame:
    """One row per series with spend in ``[start, end)``: its identity columns and ``cost``
    (EffectiveCost, or BilledCost with ``metric="billed"``)."""
    amount = CostPoint.billed_cost if metric == "billed" else CostPoint.effective_cost
    columns = [getattr(CostSeries, name) for name in SERIES_COLUMNS]
    # series first, then a range of hours per series: the (series_id, hour) index answers it
    statement = (
        select(*columns, func.sum(amount).label("cost"))
        .join(CostPoint, col(CostPoint.series_id) == col(CostSeries.id))
        .where(col(CostPoint.hour) >= start, col(CostPoint.hour) < end)
        .group_by(col(CostSeries.id))
    )
    rows = connection.execute(statement).all()
    return pd.DataFrame(rows, columns=[*SERIES_COLUMNS, "cost"])
