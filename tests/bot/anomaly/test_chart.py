"""The chart attached to an alert, drawn from the store."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session

from bot.anomaly.chart import alert_chart
from bot.anomaly.poll import poll_store
from bot.demodata import write_demo_data
from bot.ingest.service import ingest_path
from storage.models import Anomaly
from storage.queries import outbox


def test_the_chart_shows_the_workload_of_the_alert(engine, settings, tmp_path):
    data = tmp_path / "demo"
    write_demo_data(data, days=21, seed=42)
    ingest_path(engine=engine, settings=settings, path=data)
    incident = max(poll_store(engine=engine, settings=settings).open,
                   key=lambda i: i.impact_usd)
    with Session(engine) as session:
        alert = outbox.create_alert(db_session=session, anomaly_id=incident.id,
                                    platform="slack", channel="C1", now=datetime.now(UTC))
        png, title = alert_chart(session, alert)
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert incident.project in title and incident.environment in title


def test_no_points_no_chart(engine):
    now = datetime(2026, 11, 28, 12, tzinfo=UTC)
    with Session(engine) as session:
        anomaly = Anomaly(project="ghost", environment="prod", owner="o", phase="run",
                          kind="spike", started_at=now, detected_at=now, last_seen_at=now)
        session.add(anomaly)
        session.flush()
        alert = outbox.create_alert(db_session=session, anomaly_id=anomaly.id,
                                    platform="slack", channel="C1", now=now)
        assert alert_chart(session, alert) is None
