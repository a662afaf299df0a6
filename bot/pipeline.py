"""The detection pass over the store: what the scheduler runs each poll, and `spendwatch detect`.

Loads the last ``days`` of usage spend per line from the store, builds the spend matrix and
runs the same engine and lifecycle as ``replay``. This pass keeps no state between runs: each
run is a first run over history, so it announces only the incidents still going on at the
newest hour (``catch_up``). Keeping incidents across polls (the ``anomaly`` table) belongs to
the scheduler.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
from sqlalchemy.engine import Engine

from bot.anomalies import Lifecycle, LifecycleEvent, catch_up
from bot.detection.engine import SpendMatrix
from bot.replay import thresholds_table
from bot.settings import Settings
from storage import repositories as repo

__all__ = ["detect_from_store"]

COLUMNS = ("project", "environment", "service_name", "region", "owner", "phase",
           "charge_category")


def detect_from_store(
    *, engine: Engine, settings: Settings, as_of: pd.Timestamp | None = None, days: int = 28
) -> list[LifecycleEvent]:
    """Incidents going on at the newest hour of data (or at ``as_of``), with their evidence."""
    with engine.connect() as connection:
        _, newest = repo.data_range(connection=connection)
        if newest is None:
            return []
        end = pd.Timestamp(as_of) if as_of is not None else pd.Timestamp(newest) + pd.Timedelta(
            hours=1)
        start = end - pd.Timedelta(days=days)
        points = repo.load_points(connection=connection, start=start.to_pydatetime(),
                                  end=end.to_pydatetime(), columns=COLUMNS)
    usage = points[points["charge_category"] == "Usage"].rename(columns={"effective_cost": "cost"})
    if usage.empty:
        return []
    matrix = SpendMatrix.from_points(usage, start=start, end=end)
    detection = settings.detection
    lifecycle = Lifecycle(quiet_hours=detection.quiet_hours_to_resolve,
                          reopen_hours=detection.reopen_within_hours)
    return catch_up(
        matrix, lifecycle, first_index=0, thresholds_for=thresholds_table(settings, matrix),
        warmup_hours=int(timedelta(days=detection.warmup_days) / timedelta(hours=1)),
    )
