"""The chart of an alert: the workload's hourly spend against what was expected, from the store.

Expected is the detector's own seasonal baseline (``SeasonalDetector``) over the same history,
so the shaded gap is exactly what the alert calls "over expected".
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
from sqlmodel import Session

from bot.anomaly.chart_image import spend_chart
from bot.detection.series import SeasonalDetector
from storage import queries
from storage.models import Alert, Anomaly

__all__ = ["alert_chart", "anomaly_chart"]

SHOWN_HOURS = 72
HISTORY_DAYS = 28


def alert_chart(session: Session, alert: Alert) -> tuple[bytes, str] | None:
    """PNG and title for the alert's workload, or None when the store has no points for it."""
    return anomaly_chart(session, alert.anomaly_id)


def anomaly_chart(session: Session, anomaly_id: int) -> tuple[bytes, str] | None:
    """PNG and title for the anomaly's workload, or None when the store has no points for it."""
    anomaly = session.get(Anomaly, anomaly_id)
    if anomaly is None:
        return None
    end = pd.Timestamp(anomaly.last_seen_at).tz_convert("UTC") + pd.Timedelta(hours=1)
    start = end - pd.Timedelta(days=HISTORY_DAYS)
    points = queries.points.load_points(
        connection=session.connection(), start=start.to_pydatetime(),
        end=end.to_pydatetime(), project=anomaly.project, environment=anomaly.environment,
        columns=("charge_category",))
    usage = points[points["charge_category"] == "Usage"] if not points.empty else points
    if usage.empty:
        return None
    hourly = usage.groupby("hour")["effective_cost"].sum()
    index = pd.date_range(start, end - pd.Timedelta(hours=1), freq="h", tz="UTC")
    series = hourly.reindex(index, fill_value=0.0)
    shown_from = end - timedelta(hours=SHOWN_HOURS)
    detector = SeasonalDetector().fit(series[series.index < shown_from])
    verdicts = detector.detect(series[series.index >= shown_from])
    png = spend_chart(verdicts.index, verdicts["actual"].to_numpy(),
                      verdicts["expected"].to_numpy(),
                      title=f"{anomaly.project} · {anomaly.environment}: hourly spend",
                      started_at=anomaly.started_at)
    return png, f"{anomaly.project} {anomaly.environment} spend, actual vs expected"
