"""The OpenAI side of the admin API stub: projects, usage per kind, costs, as published."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.admin_api_stub import (
    OPENAI_USAGE_KINDS,
    USAGE_LIMITS,
    WIDTHS,
    AdminApiStub,
    JsonDict,
    Usage,
    api_error,
    bucket_pages,
    floor_to,
    grouped,
    limit_of,
    one,
)

__all__ = ["route_openai"]


def _error(message: str, status: int = 400, code: str | None = None) -> Exception:
    return api_error(status, {"error": {"message": message, "type": "invalid_request_error",
                                        "param": None, "code": code}})


def route_openai(stub: AdminApiStub, path: str, params: Mapping[str, list[str]],
                 headers: Mapping[str, str]) -> JsonDict:
    presented = headers.get("authorization", "")
    if presented != f"Bearer {stub.openai_key}":
        # the real API echoes the key it was given (partly masked); this stub echoes it
        # whole, so a test can check that the source never repeats it
        raise _error(f"Incorrect API key provided: {presented.removeprefix('Bearer ')}.",
                     401, "invalid_api_key")
    if "group_by[]" in params:
        raise _error("Unknown parameter: 'group_by[]'. Repeat group_by instead.")
    if path == "/v1/organization/projects":
        return _projects(stub, params)
    if path == "/v1/organization/costs":
        return _costs(stub, params)
    kind = path.removeprefix("/v1/organization/usage/")
    if kind in OPENAI_USAGE_KINDS:
        return _usage(stub, kind, params)
    raise _error(f"Invalid URL (GET {path})", 404)


def _projects(stub: AdminApiStub, params: Mapping[str, list[str]]) -> JsonDict:
    limit = limit_of(params, 20, 100, _error)
    ids = sorted(stub.openai.projects)
    after = one(params, "after")
    if after is not None:
        ids = [pid for pid in ids if pid > after]
    chosen = ids[:limit]
    return {"object": "list",
            "data": [{"id": pid, "object": "organization.project",
                      "name": stub.openai.projects[pid], "created_at": 1711471533,
                      "archived_at": None, "status": "active"} for pid in chosen],
            "first_id": chosen[0] if chosen else None,
            "last_id": chosen[-1] if chosen else None,
            "has_more": len(ids) > limit}


def _window(params: Mapping[str, list[str]], width: timedelta) -> tuple[datetime, datetime]:
    raw_start, raw_end = one(params, "start_time"), one(params, "end_time")
    if raw_start is None or not raw_start.isdigit():
        raise _error("start_time is required (unix seconds)")
    start = floor_to(datetime.fromtimestamp(int(raw_start), UTC), width)
    if raw_end is None:
        end = start + width * 7
    elif not raw_end.isdigit():
        raise _error("end_time must be unix seconds")
    else:
        end = datetime.fromtimestamp(int(raw_end), UTC)
    return start, end


def _page(starts: list[datetime], width: timedelta, token: str | None,
          results: Any) -> JsonDict:
    return {"object": "page",
            "data": [{"object": "bucket", "start_time": int(start.timestamp()),
                      "end_time": int((start + width).timestamp()),
                      "results": results(start)} for start in starts],
            "has_more": token is not None, "next_page": token}


_USAGE_FIELDS = {"project_id": "project", "model": "model"}


def _usage(stub: AdminApiStub, kind: str, params: Mapping[str, list[str]]) -> JsonDict:
    name = one(params, "bucket_width") or "1d"
    if name not in WIDTHS:
        raise _error(f"bucket_width must be one of 1m, 1h, 1d, got {name}")
    width = WIDTHS[name]
    default, maximum = USAGE_LIMITS[name]
    limit = limit_of(params, default, maximum, _error)
    start, end = _window(params, width)
    starts, token = bucket_pages(stub, start, end, width, limit, one(params, "page"))
    groups = params.get("group_by", [])
    records = [u for u in stub.openai.usage if u.kind == kind]

    def results(bucket: datetime) -> list[JsonDict]:
        inside = [u for u in records if bucket <= u.hour < bucket + width]
        return [_usage_result(kind, keys, members)
                for keys, members in grouped(inside, _USAGE_FIELDS, groups)]

    return _page(starts, width, token, results)


def _usage_result(kind: str, keys: Mapping[str, Any], members: list[Usage]) -> JsonDict:
    result: JsonDict = {"object": f"organization.usage.{kind}.result",
                        "num_model_requests": sum(u.requests for u in members),
                        "user_id": None, "api_key_id": None, **keys}
    if kind == "completions":
        result |= {"input_tokens": sum(u.input_tokens for u in members),
                   "output_tokens": sum(u.output_tokens for u in members),
                   "input_cached_tokens": sum(u.cached_input_tokens for u in members),
                   "input_audio_tokens": 0, "output_audio_tokens": 0, "batch": None}
    elif kind in ("embeddings", "moderations"):
        result |= {"input_tokens": sum(u.input_tokens for u in members)}
    elif kind == "images":
        result |= {"images": sum(u.units for u in members), "size": None, "source": None}
    elif kind == "audio_speeches":
        result |= {"characters": sum(u.units for u in members)}
    elif kind == "audio_transcriptions":
        result |= {"seconds": sum(u.units for u in members)}
    return result


_COST_FIELDS = {"project_id": "project", "line_item": "item"}


def _costs(stub: AdminApiStub, params: Mapping[str, list[str]]) -> JsonDict:
    name = one(params, "bucket_width") or "1d"
    if name != "1d":
        raise _error("bucket_width: only 1d is supported")
    width = WIDTHS["1d"]
    limit = limit_of(params, 7, 180, _error)
    start, end = _window(params, width)
    starts, token = bucket_pages(stub, start, end, width, limit, one(params, "page"))
    groups = params.get("group_by", [])

    def results(bucket: datetime) -> list[JsonDict]:
        inside = [c for c in stub.openai.costs if c.day == bucket]
        out = []
        for keys, members in grouped(inside, _COST_FIELDS, groups):
            pid = keys["project_id"]
            out.append({"object": "organization.costs.result",
                        "amount": {"value": float(sum(c.dollars for c in members)),
                                   "currency": "usd"},
                        **keys,
                        "project_name": stub.openai.projects.get(pid) if pid else None})
        return out

    return _page(starts, width, token, results)
