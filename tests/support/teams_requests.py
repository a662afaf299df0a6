"""Activities as Teams sends them to a bot, and the bot running with Teams for tests.

The shapes follow the Bot Framework activity schema as Teams fills it (``channelId`` msteams,
``from.aadObjectId``, ``conversation.conversationType``, ``channelData.team/channel/tenant``,
an ``adaptiveCard/action`` invoke's ``value.action``).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.chat.teams.auth import TeamsCredentials
from bot.runner import Mode, Runtime
from bot.settings import Settings, TeamsSettings
from bot.wiring import build_services
from tests.support.slack_requests import post as http_post
from tests.support.teams_stub import TeamsStub

APP_ID = "6f1c9a52-3b7e-4d0a-9c1e-5a2b8d7e4f10"
SECRET = "stub-secret"
TEAM = "19:7d2c0e4f5a1b4c3d9e8f@thread.tacv2"
_ids = itertools.count(1)


def credentials(stub: TeamsStub) -> TeamsCredentials:
    return TeamsCredentials(APP_ID, SECRET, stub.tenant)


def teams_settings(stub: TeamsStub) -> TeamsSettings:
    return TeamsSettings(openid_metadata_url=stub.openid_metadata_url,
                         token_url=stub.token_url.replace(stub.tenant, "{tenant}"),
                         pace_seconds=0.05)


@contextmanager
def teams_runtime(settings: Settings, stub: TeamsStub, *, mode: Mode | None = None
                  ) -> Iterator[Runtime]:
    """The bot serving Teams on a free port of 127.0.0.1, trusting ``stub`` as Microsoft;
    no scheduler (tests poll when they mean to)."""
    settings = settings.model_copy(update={"teams": teams_settings(stub)})
    services = build_services(settings)
    mode = mode or Mode("none", teams=credentials(stub))
    running = Runtime(services, mode, port=0, host="127.0.0.1", schedule=False).start()
    try:
        yield running
    finally:
        running.stop()
        services.close()


def activity(stub: TeamsStub, kind: str, *, conversation: str, user: str = "aad-ann",
             user_name: str = "Ann", conversation_type: str = "channel", **fields: Any
             ) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": kind, "id": f"f:{next(_ids)}", "channelId": "msteams",
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "serviceUrl": stub.url, "locale": "en-US",
        "from": {"id": f"29:{user}", "aadObjectId": user, "name": user_name},
        "conversation": {"id": conversation, "conversationType": conversation_type,
                         "tenantId": stub.tenant, "isGroup": conversation_type != "personal"},
        "recipient": {"id": f"28:{APP_ID}", "name": "spendwatch"},
        "channelData": {"tenant": {"id": stub.tenant}},
    }
    if conversation_type == "channel":
        base["channelData"].update(team={"id": TEAM, "name": "Platform"},
                                   channel={"id": conversation.partition(";")[0],
                                            "name": "support-alerts"})
    base.update(fields)
    return base


def bot_added(stub: TeamsStub, conversation: str, **kw: Any) -> dict[str, Any]:
    return activity(stub, "conversationUpdate", conversation=conversation,
                    membersAdded=[{"id": f"28:{APP_ID}"}], **kw)


def card_action(stub: TeamsStub, conversation: str, ref: str, action: dict[str, Any],
                inputs: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    """The invoke Teams sends when someone clicks ``action`` (an ``Action.Execute`` of the
    card), with what they typed merged into its data, as Teams does."""
    data = {**(action.get("data") or {}), **(inputs or {})}
    return activity(stub, "invoke", conversation=f"{conversation};messageid={ref}",
                    name="adaptiveCard/action", replyToId=ref,
                    value={"action": {"type": "Action.Execute", "verb": action.get("verb"),
                                      "data": data}, "trigger": "manual"}, **kw)


def message(stub: TeamsStub, conversation: str, text: str, **kw: Any) -> dict[str, Any]:
    return activity(stub, "message", conversation=conversation, text=text,
                    textFormat="plain", **kw)


@dataclass(frozen=True)
class Answer:
    status_code: int
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


def post(runtime: Runtime, stub: TeamsStub, body: dict[str, Any] | bytes, *,
         token: str | None = None) -> Answer:
    """POST an activity to /api/messages with a token ``stub`` signed (or ``token``)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    bearer = token if token is not None else stub.token()
    headers = {"Content-Type": "application/json"}
    if bearer:  # "": no Authorization header at all
        headers["Authorization"] = f"Bearer {bearer}"
    status, _, text = http_post(f"http://127.0.0.1:{runtime.http_port}/api/messages", raw,
                                headers, timeout=30)
    return Answer(status, text)


def _elements(node: Any) -> Iterator[dict[str, Any]]:
    """Every element of a card, wherever it sits (body, containers, ActionSets, actions)."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _elements(value)
    elif isinstance(node, list):
        for value in node:
            yield from _elements(value)


def actions(card: dict[str, Any]) -> list[dict[str, Any]]:
    """Every Action.Execute of a card, wherever it sits (card actions and ActionSets)."""
    return [e for e in _elements(card) if e.get("type") == "Action.Execute"]


def action(card: dict[str, Any], verb: str) -> dict[str, Any]:
    matching = [a for a in actions(card) if a.get("verb") == verb]
    assert matching, f"no {verb!r} action on the card: {[a.get('verb') for a in actions(card)]}"
    return matching[0]


def inputs(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in _elements(card) if str(e.get("type", "")).startswith("Input.")]
