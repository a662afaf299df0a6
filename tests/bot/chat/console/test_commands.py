"""The console chat's keys, help and /cost, typed as a person types them, on a real store."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from rich.console import Console

from bot.anomaly.chart import alert_chart
from bot.anomaly.service import default_playbook, load_alert_view
from bot.chat.console.chat import ConsoleSender
from bot.chat.console.commands import ConsoleChat
from bot.finance.chat import SET_USAGE
from bot.outbox.deliverer import Deliverer
from bot.settings import RoutingSettings
from bot.wiring import Services
from storage.db import session_scope
from storage.models import Anomaly
from tests.bot.chat.console.test_chat import add_anomaly, flat
from tests.support.cost_points import put_points


class Typed(io.StringIO):
    echo = True


def chat_on(engine, settings, typed: str = "") -> tuple[ConsoleChat, Console]:
    console = Console(record=True, width=120)
    sender = ConsoleSender(console)
    playbook = default_playbook(settings)
    deliverer = Deliverer(engine=engine, sender=sender, chart=alert_chart, min_interval=0,
                          render=lambda session, alert: load_alert_view(
                              db_session=session, anomaly_id=alert.anomaly_id,
                              playbook=playbook))
    chat = ConsoleChat(services=Services(settings=settings, engine=engine), console=console,
                       user="sam", deliver=deliverer.drain, lines=Typed(typed),
                       newest=lambda: sender.last_anomaly)
    return chat, console


def response_of(engine, anomaly_id: int) -> Anomaly:
    with session_scope(engine) as session:
        anomaly = session.get(Anomaly, anomaly_id)
        assert anomaly is not None
        session.expunge(anomaly)
        return anomaly


def test_a_key_with_a_number_posts_the_card_and_acts_on_that_anomaly(engine, settings):
    anomaly_id = add_anomaly(engine)
    restricted = settings.model_copy(update={"routing": RoutingSettings(
        responders={"team-ai": ["U_AI_ONLY"]})})  # the console counts as FinOps
    chat, console = chat_on(engine, restricted)

    chat.handle(f"a {anomaly_id}")
    chat.handle("s 4")          # the card printed last; 4 is the hours
    chat.handle("x")

    out = console.export_text()
    assert "Spend anomaly: support-agent · production" in out
    assert f"anomaly {anomaly_id} · #C0FINOPS · console-1" in out
    assert "↳ sam: acknowledged this anomaly" in out and "Acknowledged by sam" in out
    assert "↳ sam: snoozed reminders for 4 h" in out and "escalated" in out
    anomaly = response_of(engine, anomaly_id)
    assert (anomaly.response, anomaly.response_by) == ("acknowledged", "sam")
    assert anomaly.snoozed_until is not None and anomaly.escalated_at is not None


@pytest.mark.parametrize(("typed", "says"), [
    ("zz", "“zz” is not a key here; type help for the keys"),
    ("a", "No alert has been printed yet; type /cost anomalies"),
    ("a 999", "anomaly 999 does not exist; type /cost anomalies for the open ones"),
    ("s {id} 5", "snooze for 1, 4, 24 hours, not 5"),
    ("s {id} soon", "snooze for 1, 4, 24 hours: type s and one of them (s 4)"),
    ("e {id} ok", "say in a few words why this spend is expected"),
])
def test_a_mistake_is_explained_in_one_line(engine, settings, typed, says):
    chat, console = chat_on(engine, settings)

    chat.handle(typed.format(id=add_anomaly(engine)))

    assert says in flat(console.export_text())


def test_expected_asks_for_the_reason_when_it_was_not_typed(engine, settings):
    anomaly_id = add_anomaly(engine)
    chat, console = chat_on(engine, settings,
                            "The quarterly load test, booked with FinOps\nnone\n")

    chat.handle(f"e {anomaly_id}")

    assert "Why is this spend expected?" in console.export_text()
    anomaly = response_of(engine, anomaly_id)
    assert anomaly.response == "expected"
    assert anomaly.response_note == "The quarterly load test, booked with FinOps"


def test_help_and_cost_answer_at_the_prompt(engine, settings):
    add_anomaly(engine)
    chat, console = chat_on(engine, settings)

    chat.handle("help")
    chat.handle("/cost help")
    chat.handle("/cost anomalies")
    chat.handle("/cost nosuchproject")

    out = console.export_text()
    assert "Keys, as the cards offer them." in out and "a             acknowledge" in out
    assert "/cost anomalies open anomalies, newest first" in out
    assert "Open anomalies (1, newest first)" in out and "support-agent" in out
    assert "nosuchproject" in out  # the problem first, then the help


def test_the_playbook_and_the_runbook_from_the_keys(engine, settings):
    anomaly_id = add_anomaly(engine)
    answers = ["priya", "", "6", "", "1", "LOG_LEVEL back to INFO", *["y"] * 6,
               "Debug logging left on", "INFO again", "Release check on log level"]
    chat, console = chat_on(engine, settings, "".join(f"{a}\n" for a in answers))

    chat.handle(f"p {anomaly_id}")
    chat.handle("r")

    out = console.export_text()
    assert "Playbook step 5 of 5: Document" in out and "responsible priya" in out
    runbook = flat(out[out.rindex("Runbook entry:"):])
    assert "What was done: LOG_LEVEL back to INFO" in runbook
    assert response_of(engine, anomaly_id).response == "resolved"


def test_the_walk_stops_when_the_input_ends(engine, settings):
    anomaly_id = add_anomaly(engine)
    chat, _ = chat_on(engine, settings, "priya\n\n")  # the owner step, then nothing more

    with pytest.raises(EOFError):
        chat.handle(f"p {anomaly_id}")

    assert response_of(engine, anomaly_id).response == "investigating"


def test_the_operator_sets_and_reads_budgets_at_the_prompt(engine, settings):
    newest = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    hours = [newest - timedelta(hours=h) for h in range(48)]
    put_points(engine, [{"hour": hour, "cost": 1.0} for hour in hours])
    # the budget's month is the newest hour's: early in a month, fewer than 48 of them are in it
    spent = sum(1 for hour in hours if hour >= newest.replace(day=1, hour=0))
    chat, console = chat_on(engine, settings)  # nobody is in routing.finops but the operator

    chat.handle("/cost budget")
    chat.handle("/cost budget set web prod 12k")
    chat.handle("/cost budget set web prod 12,000")
    chat.handle("/cost budget set web prod twelve")

    out = flat(console.export_text())
    assert f"No budget yet. FinOps sets one with {SET_USAGE}" in out
    assert "Budget set: web · prod, $12,000.00 a month (none before)" in out
    assert "The monthly budget of web · prod is already $12,000.00; nothing changed." in out
    assert "'twelve' is not an amount" in out
    chat.handle("/cost budget web")
    assert "• web · prod · " in (listed := flat(console.export_text()))
    assert f"$12,000.00 · set in chat by sam Spent ${spent:.2f} ({spent / 120:.1f} %)" in listed
