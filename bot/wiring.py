"""Composition root: everything a command needs, built once from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from bot.chat.text import use_currency
from bot.settings import Settings
from storage.db import make_engine, upgrade

__all__ = ["Services", "build_services"]


@dataclass
class Services:
    settings: Settings
    engine: Engine

    def close(self) -> None:
        self.engine.dispose()


def build_services(settings: Settings, *, migrate: bool = True) -> Services:
    """Create the engine and bring the schema to the newest revision (every start does)."""
    use_currency(settings.currency.base)  # amounts in chat and the CLI are in it
    engine = make_engine(settings.database_url)
    if migrate:
        upgrade(engine)
    return Services(settings=settings, engine=engine)
