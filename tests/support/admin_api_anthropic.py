"""The Anthropic side of the admin API stub: workspaces, messages usage, cost report."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.support.admin_api_stub import (
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

__all__ = ["route_anthropic"]

API_VERSION = "2023-06-01"


def _error(message: str, status: int = 400, kind: str = "invalid_request_error") -> Exception:
    return api_error(status, {"type": "error", "error": {"type": kind, "message": message}})


def route_anthropic(stub: AdminApiStub, path: str, params: Mapping[str, list[str]],
                    headers: Mapping[str, str]) -> JsonDict:
    if headers.get("x-api-key") != stub.anthropic_key:
        raise _error("invalid x-api-key", 401, "authentication_error")
    if headers.get("anthropic-version") != API_VERSION:
        raise _error("anthropic-version: header is required")
    if path == "/v1/organizations/workspaces":
        return _workspaces(stub, params)
    if path == "/v1/organizations/usage_report/messages":
        return _usage(stub, params)
    if path == "/v1/organizations/cost_report":
        return _costs(stub, params)
    raise _error(f"Not found: {path}", 404, "not_found_error")


def _workspaces(stub: AdminApiStub, params: Mapping[str, list[str]]) -> JsonDict:
    limit = limit_of(params, 20, 1000, _error)
    ids = sorted(stub.anthropic.projects)
    after = one(params, "after_id")
    if after is not None:
        ids = [wid for wid in ids if wid > after]
    chosen = ids[:limit]
    return {"data": [{"id": wid, "type": "workspace", "name": stub.anthropic.projects[wid],
                      "created_at": "2025-01-01T00:00:00Z", "archived_at": None,
                      "display_color": "#6C5BB9"} for wid in chosen],
            "has_more": len(ids) > limit,
            "first_id": chosen[0] if chosen else None,
            "last_id": chosen[-1] if chosen else None}


def _time(raw: str | None, name: str) -> datetime:
    if raw is None:
        raise _error(f"{name}: field required")
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise _error(f"{name}: not an RFC 3339 timestamp: {raw}") from None
    if moment.tzinfo is None:
        raise _error(f"{name}: a time zone is required")
    return moment.astimezone(UTC)


def _window(params: Mapping[str, list[str]], width: timedelta) -> tuple[datetime, datetime]:
    start = floor_to(_time(one(params, "starting_at"), "starting_at"), width)
    raw_end = one(params, "ending_at")
    end = start + width * 7 if raw_end is None else _time(raw_end, "ending_at")
    return start, end


def _groups(params: Mapping[str, list[str]]) -> list[str]:
    return [*params.get("group_by[]", []), *params.get("group_by", [])]


def _page(starts: list[datetime], width: timedelta, token: str | None,
          results: Any) -> JsonDict:
    return {"data": [{"starting_at": _rfc3339(start), "ending_at": _rfc3339(start + width),
                      "results": results(start)} for start in starts],
            "has_more": token is not None, "next_page": token}


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


_USAGE_FIELDS = {"workspace_id": "project", "model": "model"}


def _usage(stub: AdminApiStub, params: Mapping[str, list[str]]) -> JsonDict:
    name = one(params, "bucket_width") or "1d"
    if name not in WIDTHS:
        raise _error(f"bucket_width: must be one of 1d, 1h, 1m, got {name}")
    width = WIDTHS[name]
    default, maximum = USAGE_LIMITS[name]
    limit = limit_of(params, default, maximum, _error)
    start, end = _window(params, width)
    starts, token = bucket_pages(stub, start, end, width, limit, one(params, "page"))
    groups = _groups(params)

    def results(bucket: datetime) -> list[JsonDict]:
        inside = [u for u in stub.anthropic.usage if bucket <= u.hour < bucket + width]
        return [_usage_result(keys, members)
                for keys, members in grouped(inside, _USAGE_FIELDS, groups)]

    return _page(starts, width, token, results)


def _usage_result(keys: Mapping[str, Any], members: list[Usage]) -> JsonDict:
    return {"uncached_input_tokens": sum(u.input_tokens for u in members),
            "cache_creation": {
                "ephemeral_1h_input_tokens": sum(u.cache_write_1h for u in members),
                "ephemeral_5m_input_tokens": sum(u.cache_write_5m for u in members)},
            "cache_read_input_tokens": sum(u.cached_input_tokens for u in members),
            "output_tokens": sum(u.output_tokens for u in members),
            "server_tool_use": {"web_search_requests": 0},
            "api_key_id": None, "service_tier": None, "context_window": None, **keys}


_COST_FIELDS = {"workspace_id": "project", "description": "item"}


def _costs(stub: AdminApiStub, params: Mapping[str, list[str]]) -> JsonDict:
    name = one(params, "bucket_width") or "1d"
    if name != "1d":
        raise _error("bucket_width: only 1d is supported")
    width = WIDTHS["1d"]
    limit = limit_of(params, 7, 31, _error)
    start, end = _window(params, width)
    starts, token = bucket_pages(stub, start, end, width, limit, one(params, "page"))
    groups = _groups(params)

    def results(bucket: datetime) -> list[JsonDict]:
        inside = [c for c in stub.anthropic.costs if c.day == bucket]
        out = []
        for keys, members in grouped(inside, _COST_FIELDS, groups):
            described = keys["description"] is not None
            first = members[0]
            cents = sum((c.dollars * 100 for c in members), Decimal(0))
            out.append({"currency": "USD", "amount": _decimal_text(cents), **keys,
                        "cost_type": first.cost_type if described else None,
                        "model": first.model if described else None,
                        "token_type": first.token_type if described else None,
                        "context_window": "0-200k" if described and first.model else None,
                        "service_tier": "standard" if described and first.model else None})
        return out

    return _page(starts, width, token, results)


def _decimal_text(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text if "." in text else text + ".0"
