"""A poll that stops between detecting and queueing (a crash, a failure) loses no alert.

Exports often bring many hours at once, so one pass can open an incident and resolve it
(a burst that is over); the pass posts it all the same. If the process died after the
detection pass was stored and before its news was queued, the next pass would find the
incident already resolved, with no new hours to judge, and its alert would never be sent.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from bot import scheduler
from bot.settings import Settings
from bot.wiring import build_services
from storage.db import session_scope
from storage.models import Alert, Anomaly, OutboxMessage
from tests.support.fault_story import CHANNELS, SPIKING, write_calm_hours, write_story


class Crash(BaseException):
    """The process dying at this point (not an error anything catches)."""


def test_an_alert_whose_poll_died_before_queueing_it_is_posted_by_the_next_poll(
        tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch):
    exports = tmp_path / "exports"
    write_story(exports, days=10, skus=1, spike=False)
    settings = Settings.model_validate({
        "database_url": sqlite_url, "sources": [{"path": str(exports)}],
        "routing": {"owners": dict(CHANNELS)}, "detection": {"warmup_days": 5},
        "quarantine_dir": str(tmp_path / "quarantine")})
    services = build_services(settings)
    scheduler.poll(services, platforms=("slack",))  # quiet history, nothing to say
    write_calm_hours(exports, hours=10, skus=1, spike=True)  # a burst, over 7 hours later

    def crash(**_: object) -> None:
        raise Crash
    with monkeypatch.context() as patched:
        patched.setattr(scheduler, "queue_news", crash)
        with pytest.raises(Crash):
            scheduler.poll(services, platforms=("slack",))
    scheduler.poll(services, platforms=("slack",))  # the restarted process

    with session_scope(services.engine) as session:
        anomalies = session.exec(select(Anomaly)).all()
        posted = {alert.anomaly_id for alert in session.exec(select(Alert)).all()}
        posts = session.exec(select(OutboxMessage).where(OutboxMessage.operation == "post")).all()
    burst = {a.id for a in anomalies if a.project in SPIKING}
    assert len(burst) == len(SPIKING) and all(
        a.status != "open" for a in anomalies), "each burst opened and ended in one pass"
    assert posted == burst
    assert len(posts) == len(SPIKING)
    services.close()
