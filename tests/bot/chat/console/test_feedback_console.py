""""Not an anomaly" and ``/cost feedback`` at the console, typed as a person types them."""

from __future__ import annotations

from sqlmodel import Session, select

from storage.models import LineFeedback
from tests.bot.chat.console.test_chat import SERVICE, add_anomaly
from tests.bot.chat.console.test_commands import chat_on, response_of


def test_n_says_not_an_anomaly_with_a_note_and_cost_feedback_undoes_it(engine, settings):
    anomaly_id = add_anomaly(engine)
    chat, console = chat_on(engine, settings)

    chat.handle(f"n {anomaly_id} nightly batch moved")
    chat.handle("n")  # again, on the card printed last: nothing changes

    assert response_of(engine, anomaly_id).response == "not-an-anomaly"
    with Session(engine) as session:
        [line] = session.exec(select(LineFeedback)).all()
    assert (line.service_name, line.level_usd, line.baseline_usd, line.note) == (
        SERVICE, 43.0, 3.0, "nightly batch moved")
    shown = console.export_text()
    assert "Not an anomaly, said sam" in shown and "Normal widened by feedback" in shown
    assert "sam already said this was not an anomaly; nothing changed." in shown

    chat.handle("/cost feedback")
    chat.handle(f"/cost feedback undo {line.id}")
    chat.handle("/cost feedback undo 99")

    shown = console.export_text()
    assert f"Undo: /cost feedback undo {line.id}" in shown
    assert f"Undid feedback #{line.id}: {SERVICE} · us-east-1" in shown
    assert "feedback #99 does not exist; use /cost feedback" in shown
