"""Who may act on an anomaly, and who may see it: the rules live here and nowhere else.

Every action (acknowledge, snooze, expected, escalate, the playbook) and every view (the
runbook, App Home) asks these functions, whichever chat it comes from. A request names the
user and the channel it was made in (``None`` for the local console, whose operator runs the
bot and is trusted):

* **Act**: a ``routing.finops`` user may act on everything. When
  ``routing.responders.<owner>`` is set, only those users may act on that owner's anomalies,
  from any channel. When it is unset, anyone may, but only from a channel that shows the
  owner's alerts: the owner's channel (``routing.owners``) or the FinOps channel
  (``routing.default_channel``).
* **See** (a runbook): whoever may act, and anyone in a channel that sees the owner, as
  ``/cost runbook`` answers there.
* **App Home** lists the anomalies of the user's teams (FinOps: all; an install without
  responders: all).

Refusals are :class:`NotAllowed`, with a polite message that says what to do.
"""

from __future__ import annotations

from bot.settings import RoutingSettings

__all__ = [
    "NotAllowed",
    "NothingChanged",
    "ResponseError",
    "check_may_act",
    "check_may_see",
    "may_act",
    "may_see",
    "visible_owners",
]


class ResponseError(Exception):
    """Something a person asked for that cannot be done; the message says why and what to do."""


class NotAllowed(ResponseError):
    """The person may not act on (or see) this anomaly."""


class NothingChanged(ResponseError):
    """The request would change nothing (a repeated click, a replayed form): it is
    acknowledged and does nothing; the message says what the state already is."""


def _channel_sees(routing: RoutingSettings, channel: str | None, owner: str) -> bool:
    if channel is None:
        return True
    owners = routing.owners_of(channel)
    return owners is None or owner in owners


def may_act(routing: RoutingSettings, *, user: str, owner: str, channel: str | None) -> bool:
    if user in routing.finops:
        return True
    listed = routing.responders.get(owner)
    if listed is not None:
        return user in listed
    return _channel_sees(routing, channel, owner)


def may_see(routing: RoutingSettings, *, user: str, owner: str, channel: str | None) -> bool:
    return (may_act(routing, user=user, owner=owner, channel=channel)
            or _channel_sees(routing, channel, owner))


def check_may_act(routing: RoutingSettings, *, user: str, owner: str,
                  channel: str | None) -> None:
    if may_act(routing, user=user, owner=owner, channel=channel):
        return
    if owner in routing.responders:
        raise NotAllowed(f"Sorry, only the responders of {owner} (or FinOps) may act on this "
                         f"anomaly; ask them, or ask an admin to add you to "
                         f"routing.responders.{owner}.")
    raise NotAllowed(f"Sorry, this anomaly belongs to {owner}; act on it from its alert in "
                     f"{owner}'s channel or the FinOps channel.")


def check_may_see(routing: RoutingSettings, *, user: str, owner: str,
                  channel: str | None) -> None:
    if not may_see(routing, user=user, owner=owner, channel=channel):
        raise NotAllowed(f"Sorry, this runbook belongs to {owner}; open it from their alert "
                         f"or ask in the FinOps channel (`/cost runbook <project>` there).")


def visible_owners(routing: RoutingSettings, *, user: str) -> set[str] | None:
    """The owners whose anomalies ``user``'s App Home lists; None means all."""
    if user in routing.finops or not routing.responders:
        return None
    return {owner for owner, users in routing.responders.items() if user in users}
