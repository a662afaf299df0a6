"""OpenAI spend by the hour: the Usage API priced with the configured prices, then the bill.

``read`` asks the organization Usage API for hourly buckets per project and model (one
endpoint per usage kind: completions, embeddings, images, audio), prices them with
``settings.prices``, and asks the Costs API for the daily bill per project and line item. A
line item names its model first (``gpt-4o-2024-08-06, input``), so a complete day's bill
replaces that model's estimate in that project (``reconcile``); line items without a model
(tools, storage, fine-tuning) are lines of their own.

Everything is gathered before anything is yielded, so a failed page fails the read whole.
Polling is free; the key is an organization admin key read from the environment at each read.
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
from bot.ingest.sources.config import OpenAISourceSettings
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

__all__ = ["OpenAISource"]

KEY_HINT = ("an OpenAI organization admin key (sk-admin-...; an organization Owner creates one "
            "at https://platform.openai.com/settings/organization/admin-keys)")
AUTH_HINT = ("the key is not an organization admin key, or it was revoked. Put an admin key "
             "(sk-admin-..., created by an organization Owner at https://platform.openai.com/"
             "settings/organization/admin-keys; project keys cannot read usage or costs) in "
             "the variable named by api_key_env.")
USAGE_LIMIT = 168  # hourly buckets per page, the API's maximum for bucket_width=1h
COSTS_LIMIT = 180
PROJECTS_LIMIT = 100
NO_PROJECT = Account("default", "Default project")

def _num(result: Mapping[str, Any], field: str, where: str) -> float:
    return count_field(result, field)  # ``where`` is named by the page's error


def _completions(r: Mapping[str, Any], where: str) -> Quantities:
    cached = _num(r, "input_cached_tokens", where)
    return Quantities(input=max(_num(r, "input_tokens", where) - cached, 0.0),
                      cached_input=cached, output=_num(r, "output_tokens", where))


# usage kind -> (unit, what a result used)
_KINDS: dict[str, tuple[str, Callable[[Mapping[str, Any], str], Quantities]]] = {
    "completions": ("Tokens", _completions),
    "embeddings": ("Tokens", lambda r, w: Quantities(input=_num(r, "input_tokens", w))),
    "moderations": ("Tokens", lambda r, w: Quantities(input=_num(r, "input_tokens", w))),
    "images": ("Images", lambda r, w: Quantities(units=_num(r, "images", w))),
    "audio_speeches": ("Characters", lambda r, w: Quantities(units=_num(r, "characters", w))),
    "audio_transcriptions": ("Seconds", lambda r, w: Quantities(units=_num(r, "seconds", w))),
}


class OpenAISource:
    """The ``openai`` window source (see the module docstring)."""

    def __init__(self, settings: OpenAISourceSettings,
                 environ: Mapping[str, str] = os.environ, *,
                 transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self._environ = environ
        self._transport = transport
        self._sleep = sleep
        self._prices = PriceBook(settings.prices)
        self._provider = Provider(name="OpenAI", service="OpenAI API",
                                  billing_account=settings.organization or "openai")

    @property
    def label(self) -> str:
        return self.settings.label

    def read(self, window: Window, stats: ReadStats) -> Iterator[pa.Table]:
        key = read_key(self._environ, self.settings.api_key_env, provider=self.label,
                       hint=KEY_HINT)
        start = day_floor(window.start)
        end = day_ceil(window.end)
        with self._api(key) as api:
            projects = self._projects(api, stats)
            usage = [item for kind in self.settings.usage_kinds
                     for item in self._usage(api, kind, start, window.end, projects, stats)]
            charges = self._costs(api, start, end, projects, stats)
        table = reconcile(usage=usage, charges=charges, window=window,
                          provider=self._provider, stats=stats)
        if table.num_rows:
            yield table

    def _api(self, key: str) -> JsonApi:
        s = self.settings
        retry = retry_policy(s, self._sleep)
        return JsonApi(provider=self.label, base_url=s.base_url,
                       headers={"Authorization": f"Bearer {key}"}, secret=key,
                       auth_hint=AUTH_HINT, retry=retry, timeout=s.timeout_seconds,
                       transport=self._transport)

    def _projects(self, api: JsonApi, stats: ReadStats) -> dict[str, str]:
        pages = api.pages("/v1/organization/projects",
                          {"limit": PROJECTS_LIMIT, "include_archived": "true"},
                          stats=stats, cursor="last_id", cursor_param="after")
        return {p["id"]: p.get("name") or p["id"] for page in pages for p in page["data"]
                if isinstance(p, dict) and isinstance(p.get("id"), str)}

    def _usage(self, api: JsonApi, kind: str, start: datetime, end: datetime,
               projects: Mapping[str, str], stats: ReadStats) -> Iterator[UsageHour]:
        path = f"/v1/organization/usage/{kind}"
        unit, quantities = _KINDS[kind]
        pages = api.pages(path, {"start_time": _unix(start), "end_time": _unix(end),
                                 "bucket_width": "1h", "group_by": ["project_id", "model"],
                                 "limit": USAGE_LIMIT}, stats=stats)
        for number, page in enumerate(pages, 1):
            where = f"{self.label} {path} page {number}"
            for bucket in page["data"]:
                try:
                    hour = _bucket_start(bucket)
                    for result in bucket.get("results") or []:
                        model = result.get("model") or kind
                        used = quantities(result, where)
                        account = _account(result.get("project_id"), None, projects)
                        yield UsageHour(hour=hour, account=account, sku=model,
                                        quantity=used.tokens or used.units, unit=unit,
                                        dollars=self._prices.cost(model, used))
                except (AttributeError, KeyError, TypeError, ValueError) as exc:
                    raise malformed(where, exc) from None

    def _costs(self, api: JsonApi, start: datetime, end: datetime,
               projects: Mapping[str, str],
               stats: ReadStats) -> list[DayCharge]:
        path = "/v1/organization/costs"
        pages = api.pages(path, {"start_time": _unix(start), "end_time": _unix(end),
                                 "bucket_width": "1d", "group_by": ["project_id", "line_item"],
                                 "limit": COSTS_LIMIT}, stats=stats)
        charges: list[DayCharge] = []
        for number, page in enumerate(pages, 1):
            where = f"{self.label} {path} page {number}"
            for bucket in page["data"]:
                try:
                    day = day_floor(_bucket_start(bucket))
                    for result in bucket.get("results") or []:
                        charges.append(self._charge(day, result, projects, where))
                except (AttributeError, KeyError, TypeError, ValueError,
                        InvalidOperation) as exc:
                    raise malformed(where, exc) from None
        return charges

    def _charge(self, day: datetime, result: Mapping[str, Any], projects: Mapping[str, str],
                where: str) -> DayCharge:
        amount = result["amount"]
        currency = str(amount.get("currency") or "usd")
        if currency.lower() != "usd":
            raise SourceError(f"{where}: a cost in {currency}; spendwatch reads OpenAI costs "
                              "in USD only (the API reports USD): report this.")
        value = amount["value"]
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError(f"amount.value is {value!r}, not a number")
        line_item = result.get("line_item") or "other"
        # "gpt-4o-2024-08-06, input" -> the model; "web search tool calls" stays whole
        sku = line_item.split(", ")[0] if ", " in line_item else line_item
        return DayCharge(day=day, sku=sku, dollars=float(Decimal(str(value))),
                         account=_account(result.get("project_id"),
                                          result.get("project_name"), projects))


def _account(project_id: object, name: object, projects: Mapping[str, str]) -> Account:
    if not isinstance(project_id, str) or not project_id:
        return NO_PROJECT
    known = projects.get(project_id)
    return Account(project_id, known or (name if isinstance(name, str) and name
                                         else project_id))


def _bucket_start(bucket: Mapping[str, Any]) -> datetime:
    start = bucket["start_time"]
    if isinstance(start, bool) or not isinstance(start, int | float):
        raise ValueError(f"start_time is {start!r}, not unix seconds")
    return datetime.fromtimestamp(int(start), UTC).replace(minute=0, second=0)


def _unix(moment: datetime) -> int:
    return int(moment.timestamp())
