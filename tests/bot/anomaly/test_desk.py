"""The anomaly desk: each call one transaction over the domain services, views back."""

from __future__ import annotations

import threading

import pytest

from bot.anomaly.desk import AnomalyDesk, NotAllowed, NothingChanged, ResponseError
from bot.anomaly.service import default_playbook
from bot.wiring import Services
from tests.support.anomalies import (
    DATA,
    FINOPS,
    SUPPORT,
    add_anomaly,
    audit,
    get_anomaly,
    with_routing,
)


@pytest.fixture
def desk(engine, settings) -> AnomalyDesk:
    return Services(settings=with_routing(settings), engine=engine).desk()


def test_an_action_commits_its_change_and_a_refusal_leaves_nothing(engine, desk):
    anomaly_id = add_anomaly(engine)
    with pytest.raises(NotAllowed, match="belongs to team-support"):
        desk.acknowledge(anomaly_id, user="U0ANY", channel=DATA)
    assert audit(engine) == []

    desk.acknowledge(anomaly_id, user="U0ANY", channel=SUPPORT)
    with pytest.raises(NothingChanged):
        desk.acknowledge(anomaly_id, user="U0ANY", channel=SUPPORT)

    assert get_anomaly(engine, anomaly_id).response == "acknowledged"
    assert audit(engine) == [("U0ANY", "acknowledged")]


def test_an_unknown_anomaly_is_said_so(desk):
    assert not desk.exists(999)
    with pytest.raises(ResponseError, match="does not exist"):
        desk.escalate(999, user="U0FIN")


def test_a_step_saved_opens_the_next_one_until_the_walk_is_done(engine, desk):
    anomaly_id = add_anomaly(engine)
    started = desk.open_step(anomaly_id, user="U0ANY", channel=SUPPORT)
    assert started.position == (1, len(desk.playbook.steps))
    values = {f.id: "U0ANY" if f.kind == "user" else "answered" for f in started.step.fields}

    saved = desk.save_step(anomaly_id, step_id=started.step.id, values=values, user="U0ANY",
                           channel=SUPPORT)

    assert saved.following is not None and saved.following.position == (2, started.position[1])
    assert started.step.id in saved.state.steps
    assert get_anomaly(engine, anomaly_id).response == "investigating"


def test_home_lists_what_the_users_teams_may_see(engine, desk):
    support = add_anomaly(engine, owner="team-support", project="support-agent")
    data = add_anomaly(engine, owner="team-data", project="warehouse")

    assert {a.anomaly_id for a in desk.home(user="U0FIN").open_alerts} == {support, data}
    assert [a.anomaly_id for a in desk.home(user="U0DATA").open_alerts] == [data]
    assert desk.home(user="U0ANY").open_alerts == []


def test_runbooks_are_shown_to_whoever_may_see_them(engine, desk):
    anomaly_id = add_anomaly(engine, owner="team-data")
    with pytest.raises(NotAllowed, match="runbook belongs to team-data"):
        desk.runbook(anomaly_id, user="U0ANY", channel=SUPPORT)
    assert desk.runbook(anomaly_id, user="U0ANY", channel=DATA) == ("support-agent · prod", [])
    workload = desk.workload_runbook(anomaly_id, user="U0FIN", channel=SUPPORT)
    assert workload.workload == ("support-agent", "prod", "AmazonCloudWatch")
    assert workload.entries == [] and workload.filed is None


def test_the_console_operator_acts_as_finops(engine, desk):
    anomaly_id = add_anomaly(engine, owner="team-data")
    with pytest.raises(NotAllowed):
        desk.acknowledge(anomaly_id, user="sam")

    desk.with_operator("sam").acknowledge(anomaly_id, user="sam")

    assert get_anomaly(engine, anomaly_id).response_by == "sam"
    assert "sam" not in desk.settings.routing.finops  # the desk it came from is unchanged


def test_a_channel_sees_its_owners_spend(desk):
    assert desk.channel_owners(channel=FINOPS) is None
    assert desk.channel_owners(channel=None) is None
    assert desk.channel_owners(channel=SUPPORT) == frozenset({"team-support"})
    assert desk.channel_owners(channel="C0ELSEWHERE") == frozenset()


def test_desks_on_one_store_take_turns(engine, settings, desk):
    other = AnomalyDesk(engine=engine, settings=desk.settings,
                        playbook=default_playbook(with_routing(settings)))
    anomaly_id = add_anomaly(engine)
    done = threading.Event()
    with other._lock:  # another action on the same store is in its transaction
        worker = threading.Thread(target=lambda: (desk.escalate(anomaly_id, user="U0FIN"),
                                                  done.set()))
        worker.start()
        assert not done.wait(0.3)
    worker.join(10)
    assert done.is_set()
