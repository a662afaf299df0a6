"""Who may act and see: the cases test_service_rules' matrix leaves out, and the refusals' text.

test_service_rules.py checks the main matrix through ``may_act``/``may_see``; here the
``check_*`` functions every chat calls, and the edges of the configuration.
"""

from __future__ import annotations

import pytest

from bot.anomaly.access import (
    NotAllowed,
    ResponseError,
    check_may_act,
    check_may_see,
    may_act,
    may_see,
    visible_owners,
)
from bot.settings import RoutingSettings

ROUTING = RoutingSettings(
    default_channel="C0FINOPS",
    owners={"team-support": "C0SUPPORT", "team-web": "C0SUPPORT", "team-data": "C0DATA"},
    responders={"team-data": ["U0DATA", "U0BOTH"], "team-ml": ["U0BOTH"], "team-frozen": []},
    finops=["U0FIN"])


def test_a_responder_of_one_team_acts_on_another_only_from_its_channel():
    # U0DATA is listed for team-data only; team-support has no responders
    assert may_act(ROUTING, user="U0DATA", owner="team-support", channel="C0SUPPORT")
    assert not may_act(ROUTING, user="U0DATA", owner="team-support", channel="C0DATA")


def test_a_channel_shared_by_two_owners_acts_for_both():
    for owner in ("team-support", "team-web"):
        assert may_act(ROUTING, user="U0ANY", owner=owner, channel="C0SUPPORT")


def test_a_channel_no_owner_is_mapped_to_sees_nothing():
    assert not may_act(ROUTING, user="U0ANY", owner="team-support", channel="C0RANDOM")
    assert not may_see(ROUTING, user="U0ANY", owner="team-support", channel="C0RANDOM")
    # an owner without a channel of its own is followed in the FinOps channel
    assert may_act(ROUTING, user="U0ANY", owner="team-unmapped", channel="C0FINOPS")


def test_an_empty_responders_list_leaves_only_finops():
    assert not may_act(ROUTING, user="U0ANY", owner="team-frozen", channel="C0FINOPS")
    assert not may_act(ROUTING, user="U0ANY", owner="team-frozen", channel=None)
    assert may_act(ROUTING, user="U0FIN", owner="team-frozen", channel="C0RANDOM")


def test_the_refusals_say_what_to_do():
    with pytest.raises(NotAllowed, match="only the responders of team-data \\(or FinOps\\)"
                                         ".*routing.responders.team-data"):
        check_may_act(ROUTING, user="U0ANY", owner="team-data", channel="C0DATA")
    with pytest.raises(NotAllowed, match="belongs to team-support; act on it from its alert"):
        check_may_act(ROUTING, user="U0ANY", owner="team-support", channel="C0DATA")
    with pytest.raises(NotAllowed, match="runbook belongs to team-support.*/cost runbook"):
        check_may_see(ROUTING, user="U0ANY", owner="team-support", channel="C0DATA")
    # a refusal is a ResponseError: every chat shows its text to the person
    assert issubclass(NotAllowed, ResponseError)


def test_those_allowed_pass_the_checks_silently():
    check_may_act(ROUTING, user="U0DATA", owner="team-data", channel="C0SUPPORT")
    check_may_see(ROUTING, user="U0ANY", owner="team-data", channel="C0DATA")
    check_may_see(ROUTING, user="U0ANY", owner="team-data", channel=None)


def test_app_home_of_someone_on_two_teams_lists_both():
    assert visible_owners(ROUTING, user="U0BOTH") == {"team-data", "team-ml"}
