"""Anthropic spend by the hour: the messages usage report priced, then the cost report.

``read`` asks the Admin API usage report (``/v1/organizations/usage_report/messages``) for
hourly buckets per workspace and model, prices the token counts with ``settings.prices``
(uncached input, cache reads, 5-minute and 1-hour cache writes, output), and asks the cost
report for the daily bill per workspace and description. Cost amounts are decimal strings in
cents ("12345.678" is $123.45678). A complete day's cost of a model in a workspace replaces
that model's estimate (``reconcile``); costs without a model (web search, code execution) are
lines of their own. ``workspace_id`` null is the organization's default workspace.

Everything is gathered before anything is yielded, so a failed page fails the read whole.
Polling is free; the key is an Admin API key read from the environment at each read.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
import pyarrow as pa

from bot.ingest.sources.base import ReadStats, SourceError, Window
from bot.ingest.sources.config import AnthropicSourceSettings
from bot.ingest.sources.http import JsonApi, count_field, malformed, read_key, retry_policy
from bot.ingest.sources.pricing import PriceBook, Quantities
from bot.ingest.sources.reconcile import (
    Account,
    DayCharge,
    Provider,
    UsageHour,
    day_ceil,
    day_floor,
    reconcile,
)

__all__ = ["AnthropicSource", "cents_to_dollars"]

API_VERSION = "2023-06-01"
KEY_HINT = ("an Anthropic Admin API key (sk-ant-admin...; an organization admin creates one "
            "at https://console.anthropic.com/settings/admin-keys)")
AUTH_HINT = ("the key is not an Admin API key, or it was revoked. Put an Admin API key "
             "(sk-ant-admin..., created by an organization admin at https://console.anthropic"
             ".com/settings/admin-keys; a regular API key cannot read usage or cost reports) "
             "in the variable named by api_key_env.")
USAGE_LIMIT = 168  # hourly buckets per page, the report's maximum for bucket_width=1h
COSTS_LIMIT = 31
WORKSPACES_LIMIT = 100
DEFAULT_WORKSPACE = Account("default", "Default Workspace")


def cents_to_dollars(amount: object) -> float:
    """A cost report ``amount`` (a decimal string in cents) in dollars."""
    if not isinstance(amount, str):
        raise ValueError(f"amount is {amount!r}, not a decimal string of cents")
    return float(Decimal(amount) / 100)


class AnthropicSource:
    """The ``anthropic`` window source (see the module docstring)."""

    def __init__(self, settings: AnthropicSourceSettings,
                 environ: Mapping[str, str] = os.environ, *,
                 transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self._environ = environ
        self._transport = transport
        self._sleep = sleep
        self._prices = PriceBook(settings.prices)
        self._provider = Provider(name="Anthropic", service="Claude API",
                                  billing_account=settings.organization or "anthropic")

    @property
    def label(self) -> str:
        return self.settings.label

    def read(self, window: Window, stats: ReadStats) -> Iterator[pa.Table]:
        key = read_key(self._environ, self.settings.api_key_env, provider=self.label,
                       hint=KEY_HINT)
        start = day_floor(window.start)
        with self._api(key) as api:
            workspaces = self._workspaces(api, stats)
            usage = list(self._usage(api, start, window.end, workspaces, stats))
            charges = self._costs(api, start, day_ceil(window.end), workspaces,
                                            stats)
        table = reconcile(usage=usage, charges=charges, window=window,
                          provider=self._provider, stats=stats)
        if table.num_rows:
            yield table

    def _api(self, key: str) -> JsonApi:
        s = self.settings
        retry = retry_policy(s, self._sleep)
        return JsonApi(provider=self.label, base_url=s.base_url,
                       headers={"x-api-key": key, "anthropic-version": API_VERSION},
                       secret=key, auth_hint=AUTH_HINT, retry=retry,
                       timeout=s.timeout_seconds, transport=self._transport)

    def _workspaces(self, api: JsonApi, stats: ReadStats) -> dict[str, str]:
        pages = api.pages("/v1/organizations/workspaces",
                          {"limit": WORKSPACES_LIMIT, "include_archived": "true"},
                          stats=stats, cursor="last_id", cursor_param="after_id")
        return {w["id"]: w.get("name") or w["id"] for page in pages for w in page["data"]
                if isinstance(w, dict) and isinstance(w.get("id"), str)}

    def _usage(self, api: JsonApi, start: datetime, end: datetime,
               workspaces: Mapping[str, str], stats: ReadStats) -> Iterator[UsageHour]:
        path = "/v1/organizations/usage_report/messages"
        pages = api.pages(path, {"starting_at": _rfc3339(start), "ending_at": _rfc3339(end),
                                 "bucket_width": "1h", "group_by[]": ["workspace_id", "model"],
                                 "limit": USAGE_LIMIT}, stats=stats)
        for number, page in enumerate(pages, 1):
            where = f"{self.label} {path} page {number}"
            for bucket in page["data"]:
                try:
                    hour = _bucket_start(bucket).replace(minute=0, second=0, microsecond=0)
                    for result in bucket.get("results") or []:
                        model = result.get("model") or "unknown model"
                        used = _quantities(result)
                        yield UsageHour(hour=hour, sku=model, quantity=used.tokens,
                                        unit="Tokens", dollars=self._prices.cost(model, used),
                                        account=_account(result.get("workspace_id"),
                                                         workspaces))
                except (AttributeError, KeyError, TypeError, ValueError) as exc:
                    raise malformed(where, exc) from None

    def _costs(self, api: JsonApi, start: datetime, end: datetime,
               workspaces: Mapping[str, str],
               stats: ReadStats) -> list[DayCharge]:
        path = "/v1/organizations/cost_report"
        pages = api.pages(path, {"starting_at": _rfc3339(start), "ending_at": _rfc3339(end),
                                 "bucket_width": "1d",
                                 "group_by[]": ["workspace_id", "description"],
                                 "limit": COSTS_LIMIT}, stats=stats)
        charges: list[DayCharge] = []
        for number, page in enumerate(pages, 1):
            where = f"{self.label} {path} page {number}"
            for bucket in page["data"]:
                try:
                    day = day_floor(_bucket_start(bucket))
                    for result in bucket.get("results") or []:
                        currency = str(result.get("currency") or "USD")
                        if currency.upper() != "USD":
                            raise SourceError(
                                f"{where}: a cost in {currency}; spendwatch reads Anthropic "
                                "costs in USD only (the report uses USD): report this.")
                        sku = (result.get("model") or result.get("description")
                               or result.get("cost_type") or "other")
                        charges.append(DayCharge(
                            day=day, sku=str(sku), dollars=cents_to_dollars(result["amount"]),
                            account=_account(result.get("workspace_id"), workspaces)))
                except (AttributeError, KeyError, TypeError, ValueError,
                        InvalidOperation) as exc:
                    raise malformed(where, exc) from None
        return charges


def _quantities(result: Mapping[str, Any]) -> Quantities:
    creation = result.get("cache_creation") or {}
    return Quantities(input=count_field(result, "uncached_input_tokens"),
                      cached_input=count_field(result, "cache_read_input_tokens"),
                      cache_write=count_field(creation, "ephemeral_5m_input_tokens"),
                      cache_write_1h=count_field(creation, "ephemeral_1h_input_tokens"),
                      output=count_field(result, "output_tokens"))


def _account(workspace_id: object, workspaces: Mapping[str, str]) -> Account:
    if not isinstance(workspace_id, str) or not workspace_id:
        return DEFAULT_WORKSPACE
    return Account(workspace_id, workspaces.get(workspace_id, workspace_id))


def _bucket_start(bucket: Mapping[str, Any]) -> datetime:
    value = bucket["starting_at"]
    if not isinstance(value, str):
        raise ValueError(f"starting_at is {value!r}, not an RFC 3339 time")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"starting_at {value!r} has no time zone")
    return moment.astimezone(UTC)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
