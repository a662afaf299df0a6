"""Inbound Slack traffic for an app in HTTP mode: signed slash commands and interactions.

Bodies are built byte for byte as Slack sends them (form-encoded; interactions as a ``payload``
form field holding JSON), so the app's real signature verification, parsing and routing run.
The workspace ids match the local Web API stub's (``slack_stub_state``), so a test can click a
button on a message the stub holds:

    body = block_actions_body(action_id="ack", value="42", user_id="U1", channel_id="C1",
                              message_ts=ts, response_url=stub.new_response_url())
    status, _, _ = post(app_url, body, sign(body, SIGNING_SECRET))
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from tests.support.slack_stub_state import APP_ID, BOT_ID, BOT_USER_ID, TEAM_DOMAIN, TEAM_ID

__all__ = [
    "FORM_CONTENT_TYPE", "VERIFICATION_TOKEN", "block_actions_body", "checkboxes_value",
    "plain_text_value", "post", "sign", "slash_command_body", "static_select_value",
    "new_trigger_id", "option", "users_select_value", "view_submission_body",
]

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
VERIFICATION_TOKEN = "spendwatch-verification-token"
"""The deprecated per-app token Slack still puts in every payload; apps must not rely on it."""

JsonDict = dict[str, Any]


def sign(body: bytes, secret: str, timestamp: int | None = None, *,
         content_type: str = FORM_CONTENT_TYPE) -> dict[str, str]:
    """The headers Slack adds: ``X-Slack-Request-Timestamp``, ``X-Slack-Signature`` (``v0=`` +
    HMAC-SHA256 hex of ``v0:{timestamp}:{body}`` keyed by the signing secret), Content-Type.

    ``timestamp`` defaults to now; pass an old one to check the app refuses replays (> 300 s).
    """
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + stamp.encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}",
            "Content-Type": content_type}


def new_trigger_id() -> str:
    """A fresh Slack-shaped ``trigger_id`` (``<digits>.<digits>.<hex>``)."""
    return f"{int(time.time() * 1000)}.{TEAM_ID.encode().hex()[:10]}.{uuid.uuid4().hex}"


def _user(user_id: str, user_name: str) -> JsonDict:
    return {"id": user_id, "username": user_name, "name": user_name, "team_id": TEAM_ID}


def _team() -> JsonDict:
    return {"id": TEAM_ID, "domain": TEAM_DOMAIN}


def _payload_body(payload: JsonDict) -> bytes:
    """An interaction as Slack posts it: one form field ``payload`` holding compact JSON."""
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()


def slash_command_body(*, command: str = "/cost", text: str, user_id: str, channel_id: str,
                       response_url: str, trigger_id: str | None = None,
                       team_id: str = TEAM_ID, user_name: str | None = None,
                       channel_name: str = "finops") -> bytes:
    """A slash command invocation, form-encoded with every field Slack sends."""
    fields = {
        "token": VERIFICATION_TOKEN, "team_id": team_id, "team_domain": TEAM_DOMAIN,
        "channel_id": channel_id, "channel_name": channel_name, "user_id": user_id,
        "user_name": user_name or user_id.lower(), "command": command, "text": text,
        "api_app_id": APP_ID, "is_enterprise_install": "false", "response_url": response_url,
        "trigger_id": trigger_id or new_trigger_id(),
    }
    return urlencode(fields).encode()


def _action(*, action_id: str, block_id: str, value: str | None,
            selected_option: JsonDict | None, text: str) -> JsonDict:
    """One entry of ``actions``: a button click, or a static_select choice."""
    action: JsonDict = {"action_id": action_id, "block_id": block_id,
                        "action_ts": f"{time.time():.6f}"}
    if selected_option is not None:
        action.update(type="static_select", selected_option=selected_option,
                      placeholder={"type": "plain_text", "text": "Choose", "emoji": True})
    else:
        action.update(type="button", value=value,
                      text={"type": "plain_text", "text": text, "emoji": True})
    return action


def block_actions_body(*, action_id: str, value: str | None = None, user_id: str,
                       channel_id: str, message_ts: str, block_id: str = "actions",
                       response_url: str = f"https://hooks.slack.com/actions/{TEAM_ID}/1/x",
                       trigger_id: str | None = None, selected_option: JsonDict | None = None,
                       button_text: str = "Button", message_text: str = "",
                       message_blocks: Sequence[JsonDict] = (), user_name: str | None = None,
                       channel_name: str = "finops", is_ephemeral: bool = False) -> bytes:
    """A click on a button (``value``) or a choice in a static_select (``selected_option``,
    built with :func:`option`) in a message; pass the message's current text and blocks
    (e.g. from ``stub.messages``) as ``message_text`` / ``message_blocks``."""
    payload = {
        "type": "block_actions", "user": _user(user_id, user_name or user_id.lower()),
        "api_app_id": APP_ID, "token": VERIFICATION_TOKEN,
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel_id,
                      "is_ephemeral": is_ephemeral},
        "trigger_id": trigger_id or new_trigger_id(), "team": _team(),
        "enterprise": None, "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": channel_name},
        "message": {"type": "message", "ts": message_ts, "text": message_text,
                    "blocks": list(message_blocks), "user": BOT_USER_ID, "app_id": APP_ID},
        "state": {"values": {}}, "response_url": response_url,
        "actions": [_action(action_id=action_id, block_id=block_id, value=value,
                            selected_option=selected_option, text=button_text)],
    }
    return _payload_body(payload)


def view_submission_body(*, callback_id: str, private_metadata: str = "",
                         values: dict[str, dict[str, JsonDict]], user_id: str,
                         view_id: str = "V0000000099", trigger_id: str | None = None,
                         title: str = "Spendwatch", blocks: Sequence[JsonDict] = (),
                         user_name: str | None = None) -> bytes:
    """A modal's submission; ``values`` is ``state.values``: ``[block_id][action_id]`` → the
    element value built with :func:`plain_text_value`, :func:`static_select_value`..."""
    view = {
        "id": view_id, "team_id": TEAM_ID, "type": "modal", "blocks": list(blocks),
        "private_metadata": private_metadata, "callback_id": callback_id,
        "state": {"values": values}, "hash": f"{int(time.time())}.{uuid.uuid4().hex[:8]}",
        "title": {"type": "plain_text", "text": title, "emoji": True},
        "clear_on_close": False, "notify_on_close": False, "close": None,
        "submit": {"type": "plain_text", "text": "Submit", "emoji": True},
        "previous_view_id": None, "root_view_id": view_id, "app_id": APP_ID,
        "external_id": "", "app_installed_team_id": TEAM_ID, "bot_id": BOT_ID,
    }
    payload = {
        "type": "view_submission", "team": _team(),
        "user": _user(user_id, user_name or user_id.lower()), "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN, "trigger_id": trigger_id or new_trigger_id(),
        "view": view, "response_urls": [], "is_enterprise_install": False, "enterprise": None,
    }
    return _payload_body(payload)


def option(value: str, text: str | None = None) -> JsonDict:
    """An option object: a static_select's ``selected_option`` (pass it to
    :func:`block_actions_body`) or one ticked checkbox."""
    return {"text": {"type": "plain_text", "text": text or value, "emoji": True}, "value": value}


def plain_text_value(value: str | None) -> JsonDict:
    """A plain_text_input's state (``value`` None when the user left it empty)."""
    return {"type": "plain_text_input", "value": value}


def static_select_value(value: str | None, text: str | None = None) -> JsonDict:
    """A static_select's state in a modal; ``value`` None when nothing is chosen."""
    selected = option(value, text) if value is not None else None
    return {"type": "static_select", "selected_option": selected}


def users_select_value(user_id: str | None) -> JsonDict:
    """A users_select's state."""
    return {"type": "users_select", "selected_user": user_id}


def checkboxes_value(values: Sequence[str], texts: Sequence[str] | None = None) -> JsonDict:
    """A checkboxes element's state: the ticked options, in order."""
    labels = list(texts) if texts is not None else list(values)
    selected = [option(value, label) for value, label in zip(values, labels, strict=True)]
    return {"type": "checkboxes", "selected_options": selected}


def post(url: str, body: bytes, headers: dict[str, str],
         timeout: float = 5) -> tuple[int, dict[str, str], str]:
    """POST ``body`` as Slack would; ``(status, headers, body text)``, HTTP errors included."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, dict(response.headers.items()), response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers.items()), error.read().decode()
