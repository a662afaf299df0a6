"""`spendwatch digest` on the hand-built store of ``tests/support/digest_store.py``: printed with
its chart, queued once with --send, and bad options refused with what to type instead."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import col, select
from typer.testing import CliRunner, Result

from bot import cli
from storage.db import make_engine, session_scope, upgrade
from storage.models import OutboxMessage
from tests.support.digest_store import build_store

WEEK_ENDING = "2026-11-30T09:00Z"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    url = f"sqlite:///{tmp_path / 'sw.db'}"
    engine = make_engine(url)
    upgrade(engine)
    build_store(engine)
    engine.dispose()
    path = tmp_path / "spendwatch.yml"
    path.write_text(json.dumps({  # JSON is YAML
        "database_url": url, "finance": {"channel": "C0FINANCE"},
        "budgets": [{"project": "web", "environment": "prod", "monthly": 1000}]}))
    return path


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli.app, list(args), env={"COLUMNS": "200", "SLACK_BOT_TOKEN": "",
                                                        "SLACK_APP_TOKEN": "",
                                                        "SLACK_SIGNING_SECRET": "",
                                                        **(env or {})})


def outbox(config: Path) -> list[tuple[str, str, str]]:
    url = json.loads(config.read_text())["database_url"]
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            return [(m.platform, m.operation, m.channel) for m in session.exec(
                select(OutboxMessage).order_by(col(OutboxMessage.id))).all()]
    finally:
        engine.dispose()


def test_the_digest_prints_its_figures_and_writes_its_chart(config: Path, tmp_path: Path
                                                           ) -> None:
    chart = tmp_path / "out" / "digest.png"
    result = run("digest", "-c", str(config), "--week-ending", WEEK_ENDING, "--chart", str(chart))
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Weekly spend digest · Nov 23 09:00 – Nov 30 09:00 UTC" in out
    assert "Spend: $744.00 (+$156.00, +26.5% on $588.00 the week before)" in out
    assert "web · prod: $840.00 of $1,000.00 (84%)" in out
    assert "Anomalies: 3 opened ($280.00 over expected), 3 resolved ($330.00)" in out
    assert "Spend caught early: $1,600.00" in out
    assert chart.read_bytes()[:4] == b"\x89PNG" and f"chart: {chart}" in out
    assert outbox(config) == [], "printing sends nothing"


def test_send_queues_it_once_per_week(config: Path) -> None:
    first = run("digest", "-c", str(config), "--week-ending", WEEK_ENDING, "--send")
    assert first.exit_code == 0, first.output
    assert "The digest digest:2026-W48 is queued for console" in first.output
    again = run("digest", "-c", str(config), "--week-ending", WEEK_ENDING, "--send")
    assert again.exit_code == 0 and "was queued before; not queued again" in again.output
    assert outbox(config) == [("console", "notice", "C0FINANCE"),
                              ("console", "chart", "C0FINANCE")]


@pytest.mark.parametrize(("value", "says"), [
    ("last monday", "is not an ISO 8601 date or time; use e.g. 2024-09-01"),
    ("2026-11-30T09:30Z", "is not on the hour"),
    ("2999-01-04T09:00Z", "is in the future; give a moment at or before now"),
])
def test_a_bad_week_ending_is_refused_with_what_to_give(config: Path, value: str, says: str
                                                        ) -> None:
    result = run("digest", "-c", str(config), "--week-ending", value)
    assert result.exit_code == 2
    assert says in " ".join(result.output.split())
