"""How the local Slack stub answers views.* and the v2 file upload flow.

``WebClient.files_upload_v2`` makes three requests: ``files.getUploadURLExternal`` (the stub
issues an upload URL pointing back at itself), a bare POST of the bytes to that URL (no token,
as with Slack's pre-signed URLs), and ``files.completeUploadExternal``, which shares the file in
a channel or thread. Views get an id and a fresh ``hash`` on every change, so an update with a
stale hash is refused with ``hash_conflict`` as Slack does.
"""

from __future__ import annotations

from typing import Any

from tests.support.slack_stub_blocks import view_problems
from tests.support.slack_stub_chat import required
from tests.support.slack_stub_state import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    TEAM_DOMAIN,
    TEAM_ID,
    WORKSPACE_URL,
    ApiError,
    Handler,
    JsonDict,
    Message,
    Upload,
    Workspace,
)

_VIEW_DEFAULTS: JsonDict = {
    "blocks": [], "private_metadata": "", "callback_id": "", "external_id": "",
    "clear_on_close": False, "notify_on_close": False, "close": None, "submit": None,
}


def _checked_view(view: Any, *, kinds: tuple[str, ...]) -> JsonDict:
    """``view`` if Slack would accept it, else ``invalid_arguments`` naming the problems."""
    if view is None:
        raise ApiError("invalid_arguments", ["[ERROR] missing required field: view"])
    problems = view_problems(view, kinds=kinds)
    if problems:
        raise ApiError("invalid_arguments", problems)
    return view


def _store_view(ws: Workspace, view: JsonDict, *, view_id: str,
                previous: JsonDict | None = None) -> JsonDict:
    """Save ``view`` under ``view_id`` with a new hash; the ``{"ok": true, "view": ...}`` body."""
    stored = {**_VIEW_DEFAULTS, **view, "id": view_id, "team_id": TEAM_ID,
              "state": {"values": {}}, "hash": ws.next_ts(), "app_id": APP_ID,
              "app_installed_team_id": TEAM_ID, "bot_id": BOT_ID,
              "root_view_id": (previous or {}).get("root_view_id", view_id),
              "previous_view_id": (previous or {}).get("previous_view_id")}
    ws.views[view_id] = stored
    return {"ok": True, "view": stored}


def _require_trigger(params: JsonDict) -> None:
    if not (params.get("trigger_id") or params.get("interactivity_pointer")):
        raise ApiError("invalid_arguments", ["[ERROR] missing required field: trigger_id"])


def _views_open(ws: Workspace, params: JsonDict) -> JsonDict:
    _require_trigger(params)
    view = _checked_view(params.get("view"), kinds=("modal",))
    return _store_view(ws, view, view_id=ws.new_id("V"))


def _views_push(ws: Workspace, params: JsonDict) -> JsonDict:
    _require_trigger(params)
    view = _checked_view(params.get("view"), kinds=("modal",))
    return _store_view(ws, view, view_id=ws.new_id("V"))


def _view_id_for_update(ws: Workspace, params: JsonDict) -> str:
    """The id of the view ``views.update`` targets, by ``view_id`` or ``external_id``."""
    if params.get("view_id"):
        return str(params["view_id"])
    external_id = required(params, "external_id", "invalid_arguments",
                           "[ERROR] missing required field: view_id")
    for view_id, view in ws.views.items():
        if view.get("external_id") == external_id:
            return view_id
    raise ApiError("not_found")


def _views_update(ws: Workspace, params: JsonDict) -> JsonDict:
    """Replace a view; one the stub never opened (opened by Slack itself) is accepted too."""
    view_id = _view_id_for_update(ws, params)
    current = ws.views.get(view_id)
    if current is not None and params.get("hash") and params["hash"] != current["hash"]:
        raise ApiError("hash_conflict")
    view = _checked_view(params.get("view"), kinds=("modal", "home"))
    return _store_view(ws, view, view_id=view_id, previous=current)


def _views_publish(ws: Workspace, params: JsonDict) -> JsonDict:
    user_id = required(params, "user_id", "invalid_arguments",
                       "[ERROR] missing required field: user_id")
    current = ws.home_views.get(user_id)
    if current is not None and params.get("hash") and params["hash"] != current["hash"]:
        raise ApiError("hash_conflict")
    view = _checked_view(params.get("view"), kinds=("home",))
    view_id = current["id"] if current else ws.new_id("V")
    answer = _store_view(ws, view, view_id=view_id, previous=current)
    ws.home_views[user_id] = answer["view"]
    return answer


def _files_get_upload_url(ws: Workspace, params: JsonDict) -> JsonDict:
    filename = required(params, "filename", "invalid_arguments",
                        "[ERROR] missing required field: filename")
    length = str(params.get("length") or "")
    if not length.isdigit() or int(length) <= 0:
        raise ApiError("invalid_arguments", ["[ERROR] missing required field: length"])
    file_id = ws.new_id("F")
    ws.uploads[file_id] = Upload(file_id=file_id, filename=filename, length=int(length))
    return {"ok": True, "upload_url": f"{ws.root_url}/upload/{file_id}", "file_id": file_id}


def receive_upload(ws: Workspace, file_id: str, data: bytes) -> tuple[int, str]:
    """Store the bytes POSTed to an upload URL; the status and plain-text body Slack answers."""
    upload = ws.uploads.get(file_id)
    if upload is None:
        return 404, "Not Found"
    upload.content = data
    return 200, f"OK - {len(data)}"


def _uploads_to_complete(ws: Workspace, files: Any) -> list[tuple[Upload, JsonDict]]:
    """The uploads ``files`` names, each with its entry; ``file_not_found`` if bytes are missing."""
    if not isinstance(files, list) or not files:
        raise ApiError("invalid_arguments", ["[ERROR] missing required field: files"])
    found = []
    for entry in files:
        upload = ws.uploads.get(entry.get("id")) if isinstance(entry, dict) else None
        if upload is None or upload.content is None:
            raise ApiError("file_not_found")
        found.append((upload, entry))
    return found


def _files_complete_upload(ws: Workspace, params: JsonDict) -> JsonDict:
    found = _uploads_to_complete(ws, params.get("files"))
    target = params.get("channel_id") or str(params.get("channels") or "").split(",")[0]
    channel = ws.resolve_channel(target) if target else None
    thread_ts = params.get("thread_ts") or None
    for upload, entry in found:
        upload.title = entry.get("title") or upload.filename
        upload.channel_id, upload.thread_ts = channel, thread_ts
        upload.initial_comment = params.get("initial_comment")
        upload.completed = True
    if channel is not None:
        share = Message(channel=channel, ts=ws.next_ts(), thread_ts=thread_ts,
                        text=params.get("initial_comment") or "",
                        files=tuple(upload.file_id for upload, _ in found))
        ws.messages[(channel, share.ts)] = share
    return {"ok": True, "files": [_file_object(ws, upload) for upload, _ in found]}


def _file_object(ws: Workspace, upload: Upload) -> JsonDict:
    """The file object ``files.completeUploadExternal`` lists for a completed upload."""
    return {
        "id": upload.file_id, "created": ws.reference_time, "timestamp": ws.reference_time,
        "name": upload.filename, "title": upload.title, "mimetype": "application/octet-stream",
        "filetype": "binary", "user": BOT_USER_ID, "user_team": TEAM_ID, "size": upload.length,
        "is_external": False, "is_public": upload.channel_id is not None,
        "url_private": f"https://files.slack.com/files-pri/{TEAM_ID}-{upload.file_id}/"
                       f"{upload.filename}",
        "permalink": f"{WORKSPACE_URL}files/{BOT_USER_ID}/{upload.file_id}/{upload.filename}",
        "app_id": APP_ID, "team_domain": TEAM_DOMAIN,
    }


def _files_upload_retired(ws: Workspace, params: JsonDict) -> JsonDict:
    """The legacy ``files.upload`` is retired: Slack refuses it; use ``files_upload_v2``."""
    raise ApiError("method_deprecated")


VIEW_AND_FILE_HANDLERS: dict[str, Handler] = {
    "views.open": _views_open,
    "views.push": _views_push,
    "views.update": _views_update,
    "views.publish": _views_publish,
    "files.getUploadURLExternal": _files_get_upload_url,
    "files.completeUploadExternal": _files_complete_upload,
    "files.upload": _files_upload_retired,
}
