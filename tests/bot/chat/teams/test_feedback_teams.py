"""The "Not an anomaly" card action in Teams, through the real app on ``/api/messages`` with
signed tokens (the same runtime and stub as ``test_end_to_end``)."""

from __future__ import annotations

import json

from sqlmodel import Session, select

from bot.chat.teams.schema import validate_card
from storage.models import Anomaly, AuditLog, LineFeedback
from tests.bot.chat.teams import test_end_to_end as e2e
from tests.bot.chat.teams.test_end_to_end import announce, card_of, click
from tests.support.teams_requests import inputs

# the end-to-end runtime: the Teams app over HTTP, the Teams stub, the polled demo store
demo_data, polled, settings, stub = e2e.demo_data, e2e.polled, e2e.settings, e2e.stub
configured, runtime = e2e.configured, e2e.runtime


def test_not_an_anomaly_opens_a_note_panel_closes_the_alert_and_records_its_lines(runtime,
                                                                                    stub):
    anomaly, ref = announce(runtime, stub)

    panel = click(runtime, stub, card_of(stub, ref), "not_an_anomaly", ref=ref)["value"]
    assert validate_card({k: v for k, v in panel.items() if k != "msteams"}) == []
    [note] = [b for b in inputs(panel) if b["type"] == "Input.Text"]
    refused = click(runtime, stub, panel, "not_an_anomaly_save", typed={note["id"]: "x" * 501},
                    ref=ref)
    assert '"color": "Attention"' in json.dumps(refused["value"])  # over the limit: said so
    done = click(runtime, stub, refused["value"], "not_an_anomaly_save",
                 typed={note["id"]: "the nightly batch"}, ref=ref)

    card = json.dumps(done["value"], ensure_ascii=False)
    assert "Not an anomaly, said" in card and "Normal widened by feedback" in card
    assert '"not_an_anomaly"' not in card  # closed: nothing left to act on
    with Session(runtime.services.engine) as session:
        assert session.get(Anomaly, anomaly.id).response == "not-an-anomaly"
        lines = session.exec(select(LineFeedback)).all()
        audited = [a.action for a in session.exec(select(AuditLog)).all()]
    assert lines and {line.note for line in lines} == {"the nightly batch"}
    assert audited.count("not_an_anomaly") == 1
