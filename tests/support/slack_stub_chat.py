"""How the local Slack stub answers messaging calls: chat.*, reactions, users, conversations.

Every handler takes the :class:`Workspace` and the call's merged parameters and returns the JSON
body of a successful answer, or raises :class:`ApiError` *before* changing anything, so a refused
call leaves the workspace as it was. Shapes follow Slack's documented example responses.
``response_url`` posts are answered here too, since they post, replace or delete messages.
"""

from __future__ import annotations

import copy
from dataclasses import replace

from tests.support.slack_stub_blocks import MESSAGE_MAX_BLOCKS, blocks_problems
from tests.support.slack_stub_state import (
    BOT_ID,
    BOT_USER_ID,
    TEAM_ID,
    TEAM_NAME,
    WORKSPACE_URL,
    ApiError,
    Handler,
    JsonDict,
    Message,
    ResponseUrl,
    Workspace,
)

MAX_TEXT_CHARS = 40_000
RESPONSE_URL_MAX_POSTS = 5
_CONTENT_KEYS = ("text", "blocks", "attachments", "metadata")


def message_content(params: JsonDict) -> JsonDict:
    """The content fields present in ``params``, checked: ``no_text``, ``invalid_blocks``...

    Only the keys the call sent are returned (copies, so the recorded call and the stored
    message never share state), so ``chat.update`` keeps what it does not replace (Slack keeps
    a message's blocks and attachments when an update omits them).
    """
    content = {key: copy.deepcopy(params[key]) for key in _CONTENT_KEYS
               if params.get(key) is not None}
    if params.get("markdown_text") and "text" not in content:
        content["text"] = params["markdown_text"]
    if not (content.get("text") or content.get("blocks") or content.get("attachments")):
        raise ApiError("no_text")
    if len(content.get("text") or "") > MAX_TEXT_CHARS:
        raise ApiError("msg_too_long")
    if "blocks" in content:
        if not isinstance(content["blocks"], list):
            raise ApiError("invalid_blocks_format")
        problems = blocks_problems(content["blocks"], max_blocks=MESSAGE_MAX_BLOCKS)
        if problems:
            raise ApiError("invalid_blocks", problems)
    return content


def required(params: JsonDict, key: str, error: str, *messages: str) -> str:
    """``params[key]`` as a non-empty string, else the Slack ``error`` (with ``messages``)."""
    value = params.get(key)
    if not isinstance(value, str) or not value:
        raise ApiError(error, list(messages))
    return value


def _auth_test(ws: Workspace, params: JsonDict) -> JsonDict:
    return {"ok": True, "url": WORKSPACE_URL, "team": TEAM_NAME, "user": "spendwatch",
            "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID,
            "is_enterprise_install": False}


def _chat_post_message(ws: Workspace, params: JsonDict) -> JsonDict:
    channel = ws.resolve_channel(params.get("channel"))
    content = message_content(params)
    message = Message(channel=channel, ts=ws.next_ts(), thread_ts=params.get("thread_ts") or None,
                      **content)
    ws.messages[(channel, message.ts)] = message
    return {"ok": True, "channel": channel, "ts": message.ts, "message": message.as_api()}


def _chat_update(ws: Workspace, params: JsonDict) -> JsonDict:
    channel = ws.resolve_channel(params.get("channel"))
    content = message_content(params)
    key = (channel, str(params.get("ts") or ""))
    current = ws.messages.get(key)
    if current is None:
        raise ApiError("message_not_found")
    updated = replace(current, **content, edits=current.edits + 1)
    ws.messages[key] = updated
    return {"ok": True, "channel": channel, "ts": updated.ts, "text": updated.text,
            "message": updated.as_api()}


def _chat_delete(ws: Workspace, params: JsonDict) -> JsonDict:
    channel = ws.resolve_channel(params.get("channel"))
    key = (channel, str(params.get("ts") or ""))
    if ws.messages.pop(key, None) is None:
        raise ApiError("message_not_found")
    return {"ok": True, "channel": channel, "ts": key[1]}


def _chat_post_ephemeral(ws: Workspace, params: JsonDict) -> JsonDict:
    channel = ws.resolve_channel(params.get("channel"))
    user = required(params, "user", "user_not_in_channel")
    content = message_content(params)
    message = Message(channel=channel, ts=ws.next_ts(), thread_ts=params.get("thread_ts") or None,
                      visible_to=user, **content)
    ws.ephemerals.append(message)
    return {"ok": True, "message_ts": message.ts}


def _chat_get_permalink(ws: Workspace, params: JsonDict) -> JsonDict:
    channel = ws.resolve_channel(params.get("channel"))
    ts = required(params, "message_ts", "message_not_found")
    permalink = f"{WORKSPACE_URL}archives/{channel}/p{ts.replace('.', '')}"
    message = ws.messages.get((channel, ts))
    if message is not None and message.thread_ts not in (None, ts):
        permalink += f"?thread_ts={message.thread_ts}&cid={channel}"
    return {"ok": True, "channel": channel, "permalink": permalink}


def _reactions_add(ws: Workspace, params: JsonDict) -> JsonDict:
    channel = ws.resolve_channel(params.get("channel"))
    ts = required(params, "timestamp", "no_item_specified")
    name = required(params, "name", "invalid_name")
    if name in ws.reactions.get((channel, ts), []):
        raise ApiError("already_reacted")
    ws.reactions.setdefault((channel, ts), []).append(name)
    return {"ok": True}


def _users_info(ws: Workspace, params: JsonDict) -> JsonDict:
    user_id = params.get("user")
    if not isinstance(user_id, str) or not (user_id in ws.users or user_id[:1] in ("U", "W")):
        raise ApiError("user_not_found")
    return {"ok": True, "user": ws.user(user_id)}


def _conversations_info(ws: Workspace, params: JsonDict) -> JsonDict:
    channel = ws.resolve_channel(params.get("channel"))
    return {"ok": True, "channel": ws.channel(channel)}


def _conversations_open(ws: Workspace, params: JsonDict) -> JsonDict:
    first_user = str(params.get("users") or "").split(",")[0]
    if not first_user:
        raise ApiError("users_list_not_supplied")
    return {"ok": True, "channel": {"id": ws.resolve_channel(first_user)}}


def _history(ws: Workspace, params: JsonDict, *, thread: str | None) -> JsonDict:
    """Newest first, like Slack; metadata only with ``include_all_metadata`` (as Slack does)."""
    channel = ws.resolve_channel(params.get("channel"))
    oldest = float(params.get("oldest") or 0)
    with_metadata = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
    found = []
    for (where, ts), message in ws.messages.items():
        if where != channel or float(ts) < oldest:
            continue
        if thread is None and message.thread_ts not in (None, ts):
            continue  # replies are not in the channel history
        if thread is not None and ts != thread and message.thread_ts != thread:
            continue
        shown = message.as_api()
        if message.files:  # Slack lists the shared files' objects on the message
            shown["files"] = [{"id": fid, "name": ws.uploads[fid].filename,
                               "title": ws.uploads[fid].title}
                              for fid in message.files if fid in ws.uploads]
        if not with_metadata:
            shown.pop("metadata", None)
        found.append(shown)
    found.sort(key=lambda m: float(m["ts"]), reverse=thread is None)
    return {"ok": True, "messages": found, "has_more": False}


def _conversations_history(ws: Workspace, params: JsonDict) -> JsonDict:
    return _history(ws, params, thread=None)


def _conversations_replies(ws: Workspace, params: JsonDict) -> JsonDict:
    thread = required(params, "ts", "thread_not_found")
    return _history(ws, params, thread=thread)


CHAT_HANDLERS: dict[str, Handler] = {
    "conversations.history": _conversations_history,
    "conversations.replies": _conversations_replies,
    "auth.test": _auth_test,
    "chat.postMessage": _chat_post_message,
    "chat.update": _chat_update,
    "chat.delete": _chat_delete,
    "chat.postEphemeral": _chat_post_ephemeral,
    "chat.getPermalink": _chat_get_permalink,
    "reactions.add": _reactions_add,
    "users.info": _users_info,
    "conversations.info": _conversations_info,
    "conversations.open": _conversations_open,
}


def new_response_url(ws: Workspace, *, channel: str | None, message_ts: str | None,
                     user_id: str | None) -> str:
    """A fresh ``response_url`` on the stub, bound to a message when ``message_ts`` is given."""
    url_id = ws.new_id("R")
    ws.response_urls[url_id] = ResponseUrl(url_id=url_id, channel=channel,
                                           message_ts=message_ts, user_id=user_id)
    return f"{ws.root_url}/response/{url_id}"


def respond(ws: Workspace, url_id: str, payload: object) -> tuple[int, JsonDict]:
    """Apply a post to a ``response_url`` as Slack does; the HTTP status and body it answers.

    A URL takes five posts; after that, or for an id the stub never issued, Slack answers 404.
    """
    target = ws.response_urls.get(url_id)
    if target is None:
        return 404, {"ok": False, "error": "expired_url"}
    if len(target.payloads) >= RESPONSE_URL_MAX_POSTS:
        return 404, {"ok": False, "error": "used_url"}
    if not isinstance(payload, dict):
        return 400, {"ok": False, "error": "invalid_payload"}
    try:
        _apply_response(ws, target, payload)
    except ApiError as refusal:
        return 400, refusal.body()
    target.payloads.append(payload)
    return 200, {"ok": True}


def _apply_response(ws: Workspace, target: ResponseUrl, payload: JsonDict) -> None:
    """Delete, replace, post in channel, or show ephemerally, as the payload asks."""
    key = (target.channel or "", target.message_ts or "")
    if payload.get("delete_original"):
        ws.messages.pop(key, None)
        return
    content = message_content(payload)
    current = ws.messages.get(key)
    if payload.get("replace_original") and current is not None:
        ws.messages[key] = replace(current, **content, edits=current.edits + 1)
    elif payload.get("response_type") == "in_channel" and target.channel:
        message = Message(channel=target.channel, ts=ws.next_ts(),
                          thread_ts=payload.get("thread_ts") or None, **content)
        ws.messages[(message.channel, message.ts)] = message
    else:
        ws.ephemerals.append(Message(channel=target.channel or "", ts=ws.next_ts(),
                                     visible_to=target.user_id, **content))
