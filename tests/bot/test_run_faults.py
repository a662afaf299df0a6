"""`spendwatch run` through crashes, a second replica and a failing Slack: every alert once.

Real processes (``python -m bot run`` in HTTP mode), a real PostgreSQL store and the Slack
stub over real HTTP (``tests.support.fault_rig``); the scenarios are in
``tests.support.fault_scenarios``. The export raises six alerts in four channels. Each
scenario ends the same way: every alert is in its channel exactly once, every chart and thread
reply the outbox sent is in its thread exactly once, and nothing is left pending or set aside.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import fault_scenarios as scenarios
from tests.support.fault_rig import FaultRig
from tests.support.fault_story import SPIKING
from tests.support.slack_stub import SlackApiStub

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(900)]


@pytest.fixture
def rig(tmp_path: Path, postgres_url: str) -> Iterator[FaultRig]:
    with SlackApiStub(wall_clock=True) as stub:
        rig = FaultRig(root=tmp_path, database_url=postgres_url, stub=stub)
        try:
            yield rig
        finally:
            rig.close()


def assert_each_alert_once(rig: FaultRig, result: scenarios.Result) -> None:
    tally = result.tally
    assert (tally.lost, tally.duplicated) == (0, 0), (tally, rig.logs())
    assert tally.posted == tally.alerts == len(SPIKING)
    assert (tally.pending, tally.dead) == (0, 0), rig.logs()
    for project in SPIKING:
        assert rig.thread_of(project).count("chart") == 1, project


def test_a_bot_killed_mid_poll_posts_every_alert_once_after_a_restart(rig: FaultRig):
    result = scenarios.mid_poll(rig)

    assert result.notes["cut"], "the kill came after the poll had queued its alerts"
    assert_each_alert_once(rig, result)


def test_a_bot_killed_while_slack_holds_its_post_finds_the_post_after_a_restart(rig: FaultRig):
    result = scenarios.mid_send(rig)

    assert_each_alert_once(rig, result)
    assert result.notes["found_again"] == 1, "the restarted bot looked the held post up"
    for project in SPIKING:
        thread = rig.thread_of(project)
        assert thread.count("chart") == 1
        assert sum("back to normal" in text for text in thread) == 1, thread


def test_two_replicas_share_the_outbox_and_one_finishes_when_the_other_is_killed(
        rig: FaultRig):
    result = scenarios.replicas(rig)

    assert_each_alert_once(rig, result)
    assert result.notes["senders"] == 2, "both replicas posted alerts"
    assert result.notes["survivor_alive"]
    assert result.notes["found_again"] == 1, "the survivor found the killed replica's post"


def test_a_slack_failing_on_demand_still_gets_every_alert_once(rig: FaultRig):
    result = scenarios.failing_slack(rig, seed=14)

    assert_each_alert_once(rig, result)
    assert result.faults == result.notes["queued"], "every queued failure hit the bot"
    assert result.notes["found_again"] >= 3, "posts and charts Slack had kept were found"
