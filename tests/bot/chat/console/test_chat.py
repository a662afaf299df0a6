"""The console chat as a person reads it: the whole alert loop in a terminal, on a real store."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy.engine import Engine
from sqlmodel import select

from bot.anomaly.service import default_playbook, load_alert_view
from bot.anomaly.views import AlertView
from bot.chat.console.chat import (
    DEMO_ANSWERS,
    ConsoleSender,
    PreferOption,
    alert_panel,
    run_console_loop,
)
from bot.chat.port import Notice
from bot.playbook import Option
from bot.settings import Settings
from bot.wiring import Services
from storage.db import session_scope
from storage.models import Anomaly, RunbookEntry

SERVICE = "CloudWatch Logs"


def add_anomaly(engine: Engine, *, project: str = "support-agent",
                environment: str = "production") -> int:
    start = datetime(2026, 9, 14, 8, tzinfo=UTC)
    anomaly = Anomaly(
        project=project, environment=environment, owner="team-ai", phase="run",
        kind="level_shift", status="open", response="none", started_at=start,
        detected_at=start + timedelta(hours=2), last_seen_at=start + timedelta(hours=3),
        expected_cost=3.0, actual_cost=43.0, impact_usd=120.0, peak_hourly_usd=44.0,
        evidence={
            "contributors": [{"service": SERVICE, "region": "us-east-1", "sku": "",
                              "impact_usd": 40.0, "expected": 3.0, "actual": 43.0}],
            "baseline": "same hour of the week, median of the last 4 weeks",
        },
    )
    with session_scope(engine) as session:
        session.add(anomaly)
        session.flush()
        return int(anomaly.id or 0)


def run(engine: Engine, settings: Settings, anomaly_id: int, **options: object) -> str:
    console = Console(record=True, width=120)
    run_console_loop(services=Services(settings=settings, engine=engine),
                     anomaly_id=anomaly_id, console=console, **options)  # type: ignore[arg-type]
    return console.export_text()


def flat(out: str) -> str:
    """The text without panel borders and line breaks, as one line of words."""
    return " ".join(out.replace("│", " ").split())


def test_the_whole_loop_reads_like_the_chat(engine, settings):
    anomaly_id = add_anomaly(engine)

    out = run(engine, settings, anomaly_id)

    assert "Spend anomaly: support-agent · production" in out
    assert "$120.00 over expected so far" in out and "$960.00 per day if it continues" in out
    assert "+1,333% over" in out and "owner team-ai" in out and "phase run" in out
    assert "CloudWatch Logs · us-east-1: +$40.00/h" in out
    assert "Lower log verbosity and sample debug logs —" in out
    assert "[a]cknowledge  [p]laybook  [s]nooze  [e]xpected  [x] escalate" in out
    assert "(updated)" in out
    assert "↳ demo-user: acknowledged this anomaly" in out
    assert "Status: Acknowledged by demo-user" in out
    for step in default_playbook(settings).steps:
        assert f": {step.title}" in out
    assert "Logging (verbosity, retention, ingestion)" in out  # the select, as its label
    assert "☑ A second person reviewed the change" in out
    assert "stabilised" in out
    assert "✓ Document — demo-user" in out and "Playbook (5/5 done)" in out
    assert "Runbook entry: support-agent · production · CloudWatch Logs" in out
    assert "Agent release 2.14 shipped with DEBUG logging enabled" in out
    assert "(lever: Lower log verbosity and sample debug logs; what was done:" in flat(out)
    closed_panel = out[out.rindex("Spend anomaly:"):]
    assert "Resolved by demo-user" in closed_panel
    assert "[p]laybook" not in closed_panel and "[r]unbook" in closed_panel

    with session_scope(engine) as session:
        anomaly = session.get(Anomaly, anomaly_id)
        assert anomaly is not None and anomaly.response == "resolved"
        entries = session.exec(select(RunbookEntry)).all()
    assert [(e.project, e.environment, e.service_name) for e in entries] == [
        ("support-agent", "production", SERVICE)]


def test_the_next_anomaly_on_the_workload_shows_what_fixed_it(engine, settings):
    run(engine, settings, add_anomaly(engine))

    out = run(engine, settings, add_anomaly(engine))

    first_panel = out[:out.index("acknowledges the alert")]
    assert "What fixed it last time" in first_panel
    assert "Root cause: Agent release 2.14 shipped with DEBUG logging enabled" in first_panel
    assert "[r]unbook" in first_panel
    assert "2 entries in this workload's runbook" in out


def test_markup_in_names_and_answers_prints_literally(engine, settings):
    anomaly_id = add_anomaly(engine, project="[bold red]x[/]", environment="[link=y]prod")

    out = run(engine, settings, anomaly_id)

    assert "Spend anomaly: [bold red]x[/] · [link=y]prod" in out
    assert "Runbook entry: [bold red]x[/] · [link=y]prod · CloudWatch Logs" in out


def test_a_typed_walk_asks_again_with_the_error_under_the_field(engine, settings,
                                                                 monkeypatch):
    anomaly_id = add_anomaly(engine)
    typed = iter([
        "", "",                      # owner: the acting user, no note
        "9", "",                     # what changed: "Unknown" and nothing checked ...
        "Nothing deployed; log ingestion doubled at 08:00",  # ... asked again with the error
        "1", "LOG_LEVEL back to INFO",   # the first lever offered
        "y", "y", "y", "y", "n", "y",    # one item not ticked
        "short",                         # a reason too short ...
        "second review booked with Sam for Friday",  # ... asked again
        "Debug logging left on", "INFO again", "Release check on log level",
    ])
    monkeypatch.setattr("builtins.input", lambda *_: next(typed))

    out = run(engine, settings, anomaly_id, interactive=True)

    assert "Required when “What most likely changed?” is “Unknown, still investigating”" in out
    assert "(at least 10 characters)" in out  # the reason, asked again without the ticks
    assert "Runbook entry: support-agent · production · CloudWatch Logs" in out
    assert "Debug logging left on (changed: Unknown, still investigating)" in out
    with session_scope(engine) as session:
        anomaly = session.get(Anomaly, anomaly_id)
        assert anomaly is not None and anomaly.response == "resolved"


def test_the_sender_remembers_what_it_printed_and_writes_charts(tmp_path: Path):
    console = Console(record=True, width=120)
    sender = ConsoleSender(console, chart_dir=tmp_path / "charts")

    ref = sender.reply("C1", "console-0", Notice("done [b]it[/b]", actor="U1"), key="k1")
    sender.upload_chart("C1", ref, b"\x89PNG", title="spend", key="k-chart")
    notice = sender.post_notice("C9", Notice("escalated"), key="k2", link=("C1", ref))

    since = datetime.now(UTC)
    assert (ref, notice) == ("console-1", "console-2")
    assert sender.find_sent("C1", "k1", since=since) == "console-1"
    assert sender.find_sent("C1", "k2", since=since) is None
    assert (tmp_path / "charts" / "console-1-chart.png").read_bytes() == b"\x89PNG"
    out = console.export_text()
    assert "↳ U1: done [b]it[/b]" in out
    assert "#C9: escalated (alert console-1 in #C1)" in out


@pytest.mark.parametrize(("offered", "chosen"), [
    (["tokens.cap", "logging.verbosity", "other"], "logging.verbosity"),
    (["tokens.cap", "other"], "other"),
])
def test_the_scripted_lever_is_the_logging_one_when_offered(offered, chosen):
    prefer = DEMO_ANSWERS["stabilise"]["lever"]
    assert isinstance(prefer, PreferOption)
    assert prefer.choose([Option(value=v, label=v) for v in offered]) == chosen


def fresh_view(engine: Engine) -> AlertView:
    with session_scope(engine) as session:
        return load_alert_view(db_session=session, anomaly_id=add_anomaly(engine),
                               playbook=None)


def panel_text(view: AlertView) -> str:
    console = Console(record=True, width=120)
    console.print(alert_panel(view, channel="C1", ref="console-7", updated=True))
    return console.export_text()


def test_a_fresh_alert_has_every_button_and_no_playbook(engine, settings):
    out = panel_text(fresh_view(engine))
    assert "Spend anomaly: support-agent · production (updated)" in out and "#C1 · console-7" in out
    assert "Status: Not acknowledged yet" in out and "Playbook" not in out
    assert "[a]cknowledge  [p]laybook  [s]nooze  [e]xpected  [x] escalate" in out
    assert "[r]unbook" not in out


@pytest.mark.parametrize(("change", "status", "still_open"), [
    ({"response": "expected", "response_by": "U2", "response_note": "a [b]load[/b] test"},
     "Expected: a [b]load[/b] test (marked by U2)", False),
    ({"response": "acknowledged", "response_by": "U2",
      "snoozed_until": datetime(2026, 9, 14, 14, tzinfo=UTC), "escalated": True},
     "Acknowledged by U2 · snoozed until Sep 14 14:00 UTC · escalated",
     True),
    ({"status": "auto-resolved"}, "back to normal (auto-resolved)", False),
])
def test_the_status_line_and_the_buttons_that_still_apply(engine, settings, change, status,
                                                          still_open):
    out = panel_text(replace(fresh_view(engine), **change))
    assert status in out
    assert ("[p]laybook  [s]nooze  [e]xpected" in out) == still_open
    assert "[x] escalate" not in out and "[a]cknowledge" not in out


def test_a_choice_out_of_range_is_refused_as_it_is_typed(engine, settings, monkeypatch):
    anomaly_id = add_anomaly(engine)
    typed = iter([
        "", "",                          # owner: the acting user, no note
        "12",                            # nine causes are offered: refused at once ...
        "logging",                       # ... the option's value is fine too
        "DEBUG left on after the release",
        "0", "1", "LOG_LEVEL back to INFO",
        *["y"] * 6,
        "Debug logging left on", "INFO again", "Release check on log level",
    ])
    asked: list[str] = []

    def answer(*_: object) -> str:
        value = next(typed)
        asked.append(value)
        return value

    monkeypatch.setattr("builtins.input", answer)

    out = run(engine, settings, anomaly_id, interactive=True)

    refused = out[out.index("number: "):out.index("What do you see?")]
    assert "12 is not one of the choices; type a number from 1 to 9." in refused
    assert "0 is not one of the choices; type a number from 1 to" in out
    assert "Debug logging left on (changed: Logging (verbosity, retention, ingestion))" in out
    assert asked[-1] == "Release check on log level"  # every answer was used, none twice


def test_the_runbook_entry_keeps_every_answer_of_every_step(engine, settings):
    anomaly_id = add_anomaly(engine)

    out = run(engine, settings, anomaly_id)

    entry = out[out.index("Runbook entry:"):]
    action = "Set LOG_LEVEL=INFO on the agent workers and sampled request logs at 5%."
    summary = flat(entry)
    assert f"what was done: {action})" in summary  # in the fix, which Slack and /cost show
    for step in default_playbook(settings).steps:
        assert f"{step.title} (demo-user, " in entry
    for text in ("Responsible person: priya",
                 "Note: Priya is on call for the agent team this week.",
                 "What most likely changed?: Logging (verbosity, retention, ingestion)",
                 "What do you see?: Log ingestion jumped right after the agent release;",
                 f"What was done: {action}",
                 "Before re-enabling full capacity: Done: A cost alert or budget guardrail"):
        assert text in summary, text
    with session_scope(engine) as session:
        stored = session.exec(select(RunbookEntry)).one()
    fields = {(s["step"], f["label"]): f["text"] for s in stored.answers for f in s["fields"]}
    assert fields[("stabilise", "What was done")] == action
    assert len(fields) == 10


def test_the_card_names_the_person_the_owner_step_made_responsible(engine, settings):
    anomaly_id = add_anomaly(engine)

    out = run(engine, settings, anomaly_id)

    before, after = out.split("Playbook step 2 of 5", 1)
    assert "responsible" not in before[:before.index("Playbook step 1 of 5")]
    assert "owner team-ai · responsible priya · phase run" in after  # the tag owner stays
    assert "owner team-ai · responsible priya" in out[out.rindex("Spend anomaly:"):]


def test_the_panel_says_as_of_when_each_source_has_data(engine, settings):
    view = replace(fresh_view(engine), data_as_of=(
        ("openai", datetime(2026, 11, 20, 14, tzinfo=UTC)),
        ("aws-cur", datetime(2026, 11, 19, tzinfo=UTC))))
    out = panel_text(view)
    assert "Data as of Nov 20 14:00 UTC (openai), Nov 19 00:00 UTC (aws-cur)" in out
