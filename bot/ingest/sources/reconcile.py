"""Hourly priced usage until the day's bill is out, then the bill, in the same hourly shape.

The AI providers report usage by the hour (tokens, no money) and cost by the day (money, a few
hours late). Hourly detection needs hours, and the bill is the truth; so each hour is first an
estimate (usage times list price) and, once its UTC day is over and the cost report has it, the
day's cost of each line (project or workspace, model) is spread over that day's hours in
proportion to the line's priced usage: the hourly shape stays, the day adds up to the bill.

A line's identity (provider, service, account, SKU = model) is the same in estimated and billed
rows, so detection sees one series whose values get corrected, never a line that vanishes and
another that appears. Bill lines that match no usage (tools, storage, fine-tuning) are lines of
their own, spread evenly over the day.

A complete day the cost report has no charges for while usage was seen is taken as a bill not
yet out (the report lags), not as a free day: its estimate stays, provisional, for up to
:data:`BILL_WAIT`; after that it stays an estimate but is no longer waited for (and a note
says so), so the next reads can move on.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from bot.ingest.sources.base import ReadStats, Window, focus_table

__all__ = ["Account", "DayCharge", "Provider", "UsageHour", "day_ceil", "day_floor",
           "reconcile"]

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
SERVICE_CATEGORY = "AI and Machine Learning"
REGION = "global"
# a day whose bill has not come this long after it ended is no longer waited for: its
# estimate stays, said in a note, so one missing bill cannot hold every later read back
BILL_WAIT = timedelta(days=3)


@dataclass(frozen=True, slots=True)
class Provider:
    """Who the rows are from: ``name`` is ServiceProviderName, ``service`` the ServiceName."""

    name: str
    service: str
    billing_account: str


@dataclass(frozen=True, slots=True)
class Account:
    """A project (OpenAI) or workspace (Anthropic): SubAccountId and SubAccountName."""

    id: str
    name: str


@dataclass(frozen=True, slots=True)
class UsageHour:
    """One line's usage in one hour; ``dollars`` None when its model has no price."""

    hour: datetime
    account: Account
    sku: str
    quantity: float
    unit: str
    dollars: float | None


@dataclass(frozen=True, slots=True)
class DayCharge:
    """One line of a day's bill; ``sku`` the model where the bill names one."""

    day: datetime
    account: Account
    sku: str
    dollars: float


def day_floor(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def day_ceil(moment: datetime) -> datetime:
    floor = day_floor(moment)
    return floor if floor == moment else floor + DAY


def reconcile(*, usage: Iterable[UsageHour], charges: Iterable[DayCharge], window: Window,
              provider: Provider, stats: ReadStats) -> pa.Table:
    """FOCUS rows for ``window``: billed days from ``charges``, the others estimated.

    ``charges`` and ``usage`` may start before ``window.start`` (from its day's start), so a
    day is always spread whole; only hours in the window are returned. A day is billed once
    it is over and has charges (or had no usage at all).
    """
    usage_by_day: dict[datetime, list[UsageHour]] = defaultdict(list)
    for item in usage:
        usage_by_day[day_floor(item.hour)].append(item)
    charges_by_day: dict[datetime, list[DayCharge]] = defaultdict(list)
    for charge in charges:
        charges_by_day[day_floor(charge.day)].append(charge)

    rows: list[dict[str, Any]] = []
    unpriced: set[str] = set()
    unbilled: list[datetime] = []
    day = day_floor(window.start)
    while day < window.end:
        hours = usage_by_day.get(day, [])
        billed = charges_by_day.get(day, [])
        over = day + DAY <= window.now
        if over and (billed or not hours):
            rows.extend(_billed_rows(day, hours, billed, provider))
        else:
            if day + DAY + BILL_WAIT > window.now:
                stats.provisional(day)
            else:
                unbilled.append(day)
            rows.extend(_row(provider, u.hour, u.account, u.sku, u.dollars or 0.0,
                             u.quantity, u.unit) for u in hours)
            unpriced.update(u.sku for u in hours if u.dollars is None)
        day += DAY
    for sku in sorted(unpriced):
        stats.notes.append(
            f"{provider.name}: no price for model {sku!r}; its usage counts as $0 until its "
            f"day's bill replaces it. Add prices.{sku} (input/output USD per million tokens) "
            "to the source's settings.")
    if unbilled:
        days = ", ".join(f"{d:%Y-%m-%d}" for d in unbilled)
        stats.notes.append(
            f"{provider.name}: the cost report still has nothing for {days} "
            f"{BILL_WAIT.days} days on, though usage was seen; those hours stay priced "
            "estimates. Check the provider's cost console for that day.")
    rows = [row for row in rows if window.start <= row["ChargePeriodStart"] < window.end]
    rows.sort(key=lambda row: (row["ChargePeriodStart"], row["SubAccountId"], row["SkuId"]))
    return focus_table(rows)


def _billed_rows(day: datetime, hours: list[UsageHour], billed: list[DayCharge],
                 provider: Provider) -> Iterator[dict[str, Any]]:
    """The day's bill spread over its hours, per line, in proportion to the line's usage."""
    used: dict[tuple[str, str], dict[datetime, list[UsageHour]]] = defaultdict(
        lambda: defaultdict(list))
    skus: dict[tuple[str, str], str] = {}
    for item in hours:
        key = (item.account.id, item.sku.lower())
        used[key][item.hour].append(item)
        skus.setdefault(key, item.sku)
    owed: dict[tuple[str, str], float] = defaultdict(float)
    accounts: dict[str, Account] = {}
    for charge in billed:
        key = (charge.account.id, charge.sku.lower())
        owed[key] += charge.dollars
        skus.setdefault(key, charge.sku)
        accounts[charge.account.id] = charge.account
    for item in hours:
        accounts.setdefault(item.account.id, item.account)

    for key, dollars in owed.items():
        account, sku = accounts[key[0]], skus[key]
        by_hour = used.get(key, {})
        spread = _spread(dollars, day, by_hour)
        for hour, share in spread:
            items = by_hour.get(hour, [])
            quantity = sum(u.quantity for u in items) if items else None
            unit = items[0].unit if items else None
            yield _row(provider, hour, account, sku, share, quantity, unit)


def _spread(dollars: float, day: datetime,
            by_hour: dict[datetime, list[UsageHour]]) -> list[tuple[datetime, float]]:
    """``dollars`` over the day's hours: by priced usage, else by quantity, else evenly."""
    weights = {hour: sum(u.dollars or 0.0 for u in items) for hour, items in by_hour.items()}
    if sum(weights.values()) <= 0:
        weights = {hour: sum(u.quantity for u in items) for hour, items in by_hour.items()}
    if sum(weights.values()) <= 0:
        weights = {day + HOUR * n: 1.0 for n in range(24)}
    weights = {hour: w for hour, w in sorted(weights.items()) if w > 0}
    total = sum(weights.values())
    shares = [(hour, dollars * w / total) for hour, w in weights.items()]
    # the last hour takes what rounding left, so the day adds up to the bill exactly
    rest = dollars - sum(share for _, share in shares[:-1])
    return [*shares[:-1], (shares[-1][0], rest)]


def _row(provider: Provider, hour: datetime, account: Account, sku: str, dollars: float,
         quantity: float | None, unit: str | None) -> dict[str, Any]:
    month = hour.replace(day=1, hour=0)
    next_month = (month + timedelta(days=32)).replace(day=1)
    return {
        "ChargePeriodStart": hour,
        "ChargePeriodEnd": hour + HOUR,
        "BillingPeriodStart": month,
        "BillingPeriodEnd": next_month,
        "ChargeCategory": "Usage",
        "BilledCost": dollars,
        "EffectiveCost": dollars,
        "BillingCurrency": "USD",
        "ServiceProviderName": provider.name,
        "BillingAccountId": provider.billing_account,
        "SubAccountId": account.id,
        "SubAccountName": account.name,
        "ServiceName": provider.service,
        "ServiceCategory": SERVICE_CATEGORY,
        "RegionId": REGION,
        "SkuId": sku,
        "ConsumedQuantity": quantity,
        "ConsumedUnit": unit,
        "Tags": json.dumps({"project": account.name}, sort_keys=True),
    }
