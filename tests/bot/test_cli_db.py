"""`spendwatch db prune` as a user runs it: a real process on a real store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.cli_db import db_prune
from bot.errors import UserError
from storage.db import make_engine, upgrade
from tests.bot.test_cli import spendwatch, write_config
from tests.support.cost_points import put_points

DAYS = 50


def a_store(tmp_path: Path) -> None:
    """Hourly points for the 50 days before today."""
    engine = make_engine(f"sqlite:///{tmp_path / 'sw.db'}")
    try:
        upgrade(engine)
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start = today - timedelta(days=DAYS)
        put_points(engine, [{"hour": start + timedelta(hours=n), "cost": 1.0}
                            for n in range(DAYS * 24)])
    finally:
        engine.dispose()


def points(tmp_path: Path) -> tuple[int, float]:
    engine = make_engine(f"sqlite:///{tmp_path / 'sw.db'}")
    try:
        with engine.connect() as connection:
            count, total = connection.execute(
                text("SELECT count(*), sum(effective_cost) FROM cost_point")).one()
    finally:
        engine.dispose()
    return int(count), float(total)


def test_prune_rolls_up_days_past_the_configured_age_and_a_dry_run_only_says_so(tmp_path):
    a_store(tmp_path)
    config = write_config(tmp_path, retention={"hourly_days": 40})
    dry = spendwatch("db", "prune", "--dry-run", "--config", str(config), cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "would roll up 10 days" in dry.stdout
    assert f"{DAYS * 24:,} -> {40 * 24 + 10:,} points" in dry.stdout
    assert points(tmp_path) == (DAYS * 24, DAYS * 24.0)
    done = spendwatch("db", "prune", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "rolled up 10 days" in done.stdout
    assert points(tmp_path) == (40 * 24 + 10, DAYS * 24.0)


def test_older_than_overrides_the_config(tmp_path):
    a_store(tmp_path)
    config = write_config(tmp_path)
    result = spendwatch("db", "prune", "--older-than", "45", "--config", str(config),
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "rolled up 5 days" in result.stdout


def test_prune_without_an_age_or_with_too_short_a_one_says_what_to_do(tmp_path):
    config = write_config(tmp_path)
    with pytest.raises(UserError, match="retention is off: set retention.hourly_days in the "
                                        "config, or pass --older-than DAYS"):
        db_prune(config=config)
    with pytest.raises(UserError, match="--older-than 7: 7 days is too short.*use 35 or more"):
        db_prune(config=config, older_than=7)
