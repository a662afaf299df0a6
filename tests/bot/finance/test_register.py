"""The anomaly register: October's anomalies with who acted when and what they recorded, read
from a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, delete

from bot.finance.register import RegisterRow, load_register, register_rows
from bot.playbook import Playbook, start, submit
from storage.models import Anomaly, PlaybookRun
from tests.support.board_report import (
    EXPECTED_NOTE,
    PLAYBOOK,
    SCRIPT,
    WHAT_CHANGED_NOTE,
    at,
    fill_anomalies,
)

OCTOBER = (at(1), at(1, month=11))


@pytest.fixture
def ids(engine: Engine) -> dict[str, int]:
    return fill_anomalies(engine)


def register(engine: Engine, playbook: Playbook | None = PLAYBOOK) -> dict[int, RegisterRow]:
    with Session(engine) as session:
        rows = load_register(db_session=session, start=OCTOBER[0], end=OCTOBER[1],
                             playbook=playbook)
    return {row.id: row for row in rows}


def test_the_register_holds_the_months_anomalies_oldest_first(engine: Engine,
                                                              ids: dict[str, int]) -> None:
    rows = register(engine)
    assert list(rows) == [ids["resolved"], ids["expected"], ids["auto"], ids["open"]]
    assert ids["september"] not in rows and ids["november"] not in rows
    assert [r.workload for r in rows.values()] == [
        "support-agent/prod", "search/prod", "support-agent/staging", "search/prod"]
    assert [r.impact for r in rows.values()] == [420.0, 180.5, 35.25, 99.0]


def test_a_playbook_walk_gives_times_cause_and_fix(engine: Engine, ids: dict[str, int]) -> None:
    row = register(engine)[ids["resolved"]]
    assert row.detected == at(5, 9)
    assert row.acknowledged == at(5, 9) + timedelta(minutes=20)  # the first thing anyone did
    assert row.resolved == at(6, 10)
    assert row.what_changed == f"Model (new model, version or SKU) — {WHAT_CHANGED_NOTE}"
    assert row.root_cause == "a deploy pointed the summariser at the large model"
    assert row.resolution.startswith("pinned the small model")
    assert "prevention: a cost test in CI" in row.resolution
    assert not row.open


def test_expected_spend_is_closed_with_its_reason(engine: Engine, ids: dict[str, int]) -> None:
    row = register(engine)[ids["expected"]]
    assert row.acknowledged == row.resolved == at(12, 8)
    assert row.resolution == f"Marked expected by U0BOB: {EXPECTED_NOTE}"
    assert row.what_changed == ""


def test_spend_back_to_normal_and_open_anomalies(engine: Engine, ids: dict[str, int]) -> None:
    rows = register(engine)
    auto, still = rows[ids["auto"]], rows[ids["open"]]
    assert auto.acknowledged is None and auto.resolved == at(21, 2) and not auto.open
    assert "back to normal on its own" in auto.resolution
    assert still.acknowledged is None and still.resolved is None and still.open
    assert still.resolution == "Open: no response yet"


def test_without_the_walk_the_runbook_entrys_answers_say_what_changed(
        engine: Engine, ids: dict[str, int]) -> None:
    with Session(engine) as session:
        session.exec(delete(PlaybookRun))  # type: ignore[call-overload]
        session.commit()
    row = register(engine)[ids["resolved"]]
    assert row.what_changed == f"Model (new model, version or SKU) — {WHAT_CHANGED_NOTE}"
    # no playbook configured: the step named what_changed is still found in the entry
    assert register(engine, playbook=None)[ids["resolved"]].what_changed == row.what_changed


def test_a_walk_in_progress_already_says_what_changed(engine: Engine,
                                                      ids: dict[str, int]) -> None:
    with Session(engine) as session:
        anomaly = session.get(Anomaly, ids["open"])
        assert anomaly is not None
        state = start(PLAYBOOK, by="U0CAROL", at=at(29, 8))
        state = submit(PLAYBOOK, state, "what_changed",
                       {"change": "traffic", "note": "a crawler | found in the logs"},
                       by="U0CAROL", at=at(29, 9))
        run = PlaybookRun(anomaly_id=ids["open"], playbook=PLAYBOOK.name,
                          current_step="stabilise", answers=state.model_dump(mode="json"),
                          started_by="U0CAROL", started_at=at(29, 8))
        anomaly.response, anomaly.response_by, anomaly.response_at = (
            "investigating", "U0CAROL", at(29, 8))
        rows = register_rows([anomaly], runs={ids["open"]: run}, entries={}, actions={},
                             playbook=PLAYBOOK)
    row = rows[0]
    assert row.what_changed == ("Traffic (more users, a retry loop, a crawler) — a crawler | "
                                "found in the logs")
    assert row.acknowledged == at(29, 8)  # no audit row: the response time stands in
    assert row.resolution == "Open: playbook in progress" and row.open


def test_the_csv_record_keeps_text_as_typed(engine: Engine, ids: dict[str, int]) -> None:
    record = register(engine)[ids["resolved"]].record()
    assert record["detected"] == "2026-10-05T09:00:00+00:00"
    assert SCRIPT in str(record["what_changed"])  # escaping is each writer's job
    assert record["resolved"] == "2026-10-06T10:00:00+00:00" and record["impact"] == 420.0
