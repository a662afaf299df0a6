"""The alert note that says the price per unit rose, not the traffic."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import Session

from bot.anomaly.notes import alert_notes
from bot.anomaly.price_note import per_unit, unit_cost_note
from storage.db import make_engine, upgrade
from storage.models import Anomaly

NOW = datetime(2026, 11, 2, 9, tzinfo=UTC)


@pytest.fixture
def session():
    """A store with every table and nothing in it: the other note sources find nothing."""
    engine = make_engine("sqlite://")
    upgrade(engine)
    with Session(engine) as session:
        yield session


def anomaly(**evidence) -> Anomaly:
    return Anomaly(id=1, project="agent", environment="prod", owner="team-a", phase="run",
                   kind="unit-cost", status="open", started_at=NOW, detected_at=NOW,
                   last_seen_at=NOW, evidence={"baseline": "median", **evidence})


PRICED = {"unit_cost_service": "Anthropic API", "unit_cost_sku": "claude-input",
          "unit_cost_unit": "Tokens", "unit_cost_before": 0.0003, "unit_cost_after": 0.0006}


def test_steady_usage_reads_as_a_price_change_not_more_traffic(session):
    note = unit_cost_note(session, anomaly(**PRICED, usage_change=0.02))
    assert note is not None
    assert note.heading == "The price per unit rose, not the traffic"
    assert note.lines == (
        "Anthropic API (claude-input): price per 1k tokens rose from $0.30 to $0.60 on steady "
        "usage (+2 %): a price change, a prompt cache turned off or a pricier tier, not more "
        "traffic.",)


def test_usage_that_moved_too_is_said_so(session):
    note = unit_cost_note(session, anomaly(**PRICED, usage_change=0.8))
    assert note is not None and note.heading == "The price per unit rose"
    assert "usage moved too (+80 %)" in note.lines[0]
    assert "not more traffic" not in note.lines[0]


def test_no_note_without_a_price_change(session):
    assert unit_cost_note(session, anomaly()) is None


def test_every_alert_gets_the_note_through_the_note_sources(session):
    notes = alert_notes(session, anomaly(**PRICED, usage_change=-0.01))
    assert [n.heading for n in notes] == ["The price per unit rose, not the traffic"]


@pytest.mark.parametrize(("price", "unit", "expected"), [
    (0.0003, "Tokens", (0.3, "1k tokens")),
    (4e-6, "Tokens", (4.0, "1M tokens")),
    (2.5, "Hours", (2.5, "hour")),
    (0.09, "GB", (0.09, "GB")),
    (0.5, "", (0.5, "unit")),
])
def test_prices_read_in_cents_or_more(price, unit, expected):
    value, label = per_unit(price, unit)
    assert (round(value, 6), label) == expected
