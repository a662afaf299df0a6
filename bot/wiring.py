"""Composition root: everything a command needs, built once from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.engine import Engine

from bot.anomaly.chart import alert_chart, anomaly_chart
from bot.anomaly.desk import AnomalyDesk
from bot.anomaly.service import load_alert_view, load_library
from bot.changes.notes import use_change_window
from bot.chat.port import ChatSender
from bot.chat.text import use_currency
from bot.finance.digest_view import digest_chart
from bot.outbox.deliverer import Deliverer
from bot.playbook import Playbook
from bot.playbook.library import PlaybookLibrary
from bot.settings import Settings
from storage.db import make_engine, session_scope, upgrade

__all__ = ["Services", "build_services"]


@dataclass
class Services:
    settings: Settings
    engine: Engine

    def playbooks(self) -> PlaybookLibrary:
        """The configured playbook library (a broken playbook raises PlaybookError here)."""
        return load_library(self.settings)

    def desk(self, playbook: Playbook | PlaybookLibrary | None = None) -> AnomalyDesk:
        """The anomaly desk the chat adapters act through, with ``playbook`` (a library, or
        one playbook for every anomaly; default: the configured library)."""
        return AnomalyDesk(engine=self.engine, settings=self.settings,
                           playbook=playbook or self.playbooks())

    def deliverer(self, sender: ChatSender, *, playbook: Playbook | PlaybookLibrary,
                  min_interval: float) -> Deliverer:
        """The outbox's sending side: each alert drawn as the store says now, with its chart
        (and the weekly digest's chart under the digest)."""
        return Deliverer(
            engine=self.engine, sender=sender, chart=alert_chart, notice_chart=digest_chart,
            min_interval=min_interval,
            lease=timedelta(seconds=self.settings.schedule.lease_seconds),
            render=lambda session, alert: load_alert_view(
                db_session=session, anomaly_id=alert.anomaly_id, playbook=playbook))

    def chart_png(self, anomaly_id: int) -> bytes | None:
        """The PNG of the anomaly's chart, for platforms whose alert carries it (Teams)."""
        with session_scope(self.engine) as session:
            rendered = anomaly_chart(session, anomaly_id)
        return rendered[0] if rendered else None

    def close(self) -> None:
        self.engine.dispose()


def build_services(settings: Settings, *, migrate: bool = True) -> Services:
    """Create the engine and bring the schema to the newest revision (every start does)."""
    use_currency(settings.currency.base)  # amounts in chat and the CLI are in it
    use_change_window(settings.changes)  # how far back alerts list changes
    engine = make_engine(settings.database_url)
    if migrate:
        upgrade(engine)
    return Services(settings=settings, engine=engine)
