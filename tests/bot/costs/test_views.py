"""`/cost` answers as text: the anomaly, runbook, top and help answers.

The project answer, clipping of a project name and the empty answers are in test_command.py;
here what those leave out: lists longer than shown, notes clipped, names from tags escaped.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.costs.command import (
    TOP_MAX,
    AnomaliesAnswer,
    AnomalyLine,
    HelpAnswer,
    RunbookAnswer,
    RunbookLine,
    SpendLine,
    TopAnswer,
)
from bot.costs.periods import period_for
from bot.costs.views import format_mrkdwn, format_plain

AT = datetime(2025, 4, 10, 9, 0, tzinfo=UTC)


def anomaly(id_: int, owner: str = "team-support") -> AnomalyLine:
    return AnomalyLine(id=id_, project="support-agent", environment="prod", owner=owner,
                       kind="spike", status="open", started_at=AT, last_seen_at=AT,
                       impact_usd=1234.5, peak_hourly_usd=99.0)


def entry(anomaly_id: int | None, root_cause: str = "debug logging") -> RunbookLine:
    return RunbookLine(created_at=AT, environment="prod", service_name="AmazonCloudWatch",
                       anomaly_id=anomaly_id, root_cause=root_cause, fix="INFO level",
                       prevention="lint the level", author="U0ANY")


def test_open_anomalies_show_impact_and_owner_and_how_many_more():
    text = format_plain(AnomaliesAnswer((anomaly(12), anomaly(11)), total=5))
    lines = text.splitlines()
    assert lines[0] == "Open anomalies (5, newest first)"
    assert lines[1].startswith("• #12 support-agent / prod · spike · open: $1,234.50")
    assert "since Apr 10 09:00 UTC (peak $99.00/h) · owner team-support" in lines[1]
    assert lines[-1] == "…and 3 more"


def test_a_tag_value_cannot_mention_anyone():
    text = format_mrkdwn(AnomaliesAnswer((anomaly(1, owner="<!channel>"),), total=1))
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    assert "<!channel>" in format_plain(AnomaliesAnswer((anomaly(1, owner="<!channel>"),), 1))


def test_a_runbook_lists_cause_fix_and_prevention_with_long_notes_clipped():
    long = "x" * 1000
    text = format_plain(RunbookAnswer("support-agent", (entry(7, long), entry(None)), total=4))
    lines = text.splitlines()
    assert lines[0] == "Runbook for support-agent (4 entries, newest first)"
    assert lines[1] == ("• 2025-04-10 · prod / AmazonCloudWatch · anomaly #7 · by U0ANY")
    assert lines[2] == "   Cause: " + "x" * 199 + "…"
    assert lines[3:5] == ["   Fix: INFO level", "   Prevention: lint the level"]
    assert "anomaly #" not in lines[5]  # an entry written by hand names no anomaly
    assert lines[-1] == "…and 2 older"


def test_one_entry_is_an_entry():
    text = format_plain(RunbookAnswer("p", (entry(1),), total=1))
    assert text.startswith("Runbook for p (1 entry, newest first)")
    assert "older" not in text


def test_top_projects_are_ranked_with_their_change():
    period = period_for("7d", as_of=AT)
    answer = TopAnswer(period, 2, (SpendLine("web", 150.0, 100.0), SpendLine("batch", 5.0, 0.0)),
                       SpendLine("all", 160.0, 110.0), project_count=3)
    lines = format_mrkdwn(answer).splitlines()
    assert lines[0].startswith("*Top 2 projects* · last 7 days")
    assert lines[0].endswith("$160.00 across 3 projects, +45.5% vs. the period before")
    assert lines[1:] == ["1. *web* $150.00 (+50.0%, +$50.00)", "2. *batch* $5.00 (new, +$5.00)"]
    one = TopAnswer(period, 5, (SpendLine("web", 1.0, 2.0),), SpendLine("all", 1.0, 2.0), 1)
    assert "across 1 project," in format_plain(one)
    assert "(-50.0%, -$1.00)" in format_plain(one)


def test_help_lists_every_question_and_says_what_was_not_understood():
    text = format_plain(HelpAnswer(problem="`/cost foo`: no project foo"))
    lines = text.splitlines()
    assert lines[0] == "`/cost foo`: no project foo"
    for question in ("/cost <project>", "/cost top", "/cost anomalies", "/cost runbook",
                     "/cost help"):
        assert any(line.startswith(question) for line in lines), question
    assert f"at most {TOP_MAX}" in text
    # in Slack the usage's angle brackets are text, not a link
    assert "`/cost &lt;project&gt;" in format_mrkdwn(HelpAnswer())
