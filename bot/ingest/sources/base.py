"""What a windowed cost source is: FOCUS-shaped rows for a window of hours, behind one interface.

A provider API or a warehouse is read by window, not by file: ``read(window, stats)`` yields
Arrow tables whose columns carry FOCUS names (:data:`FOCUS_FIELDS`), one row per line of spend
and hour (or day, where the provider has nothing finer; days are spread evenly over their
hours). The window runner (``bot.ingest.window``) does the rest the same way for every source:
parsing and validation (the FOCUS file code), allocation, the write, the watermark, retries.

A read is the whole truth for the source from ``window.start`` on: what is stored for it from
that hour replaces, never adds. So a source returns everything it knows from the start (final
and provisional rows alike), and says in ``stats.provisional_from`` the first hour that is
still an estimate; the next read starts no later than that hour.

Errors are :class:`SourceError` with a message that says what to fix; ``retryable`` ones
(quota, network, a server error) are tried again with backoff, the others (auth, a malformed
response) wait for the next poll. Messages never carry a secret: :func:`redact`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import pyarrow as pa

__all__ = [
    "FOCUS_FIELDS",
    "ReadStats",
    "SourceError",
    "Window",
    "WindowSource",
    "focus_table",
    "redact",
]

# The FOCUS columns a windowed source fills (others are ignored), with their Arrow types.
FOCUS_FIELDS: dict[str, pa.DataType] = {
    "ChargePeriodStart": pa.timestamp("us", tz="UTC"),
    "ChargePeriodEnd": pa.timestamp("us", tz="UTC"),
    "BillingPeriodStart": pa.timestamp("us", tz="UTC"),
    "BillingPeriodEnd": pa.timestamp("us", tz="UTC"),
    "ChargeCategory": pa.string(),  # Usage, Purchase, Tax, Credit, Adjustment
    "BilledCost": pa.float64(),
    "EffectiveCost": pa.float64(),
    "BillingCurrency": pa.string(),
    "ServiceProviderName": pa.string(),
    "BillingAccountId": pa.string(),
    "SubAccountId": pa.string(),
    "SubAccountName": pa.string(),
    "ServiceName": pa.string(),
    "ServiceCategory": pa.string(),
    "RegionId": pa.string(),
    "SkuId": pa.string(),
    "ConsumedQuantity": pa.float64(),
    "ConsumedUnit": pa.string(),
    "Tags": pa.string(),  # a JSON object, as in FOCUS exports
}


@dataclass(frozen=True, slots=True)
class Window:
    """The hours to read: ``[start, end)``, aware UTC, on hour boundaries; ``now`` is when."""

    start: datetime
    end: datetime
    now: datetime


@dataclass(slots=True)
class ReadStats:
    """What a read learnt besides its rows; the source fills it in as it goes."""

    requests: int = 0  # requests made (Cost Explorer bills each one)
    paid_requests: int = 0
    # the first hour still an estimate (usage priced by the bot, Cost Explorer's Estimated)
    provisional_from: datetime | None = None
    # the newest hour the provider has data for; None: taken from the rows read
    newest_hour: datetime | None = None
    notes: list[str] = field(default_factory=list)  # worth a line in the log and `sources`

    def provisional(self, hour: datetime) -> None:
        if self.provisional_from is None or hour < self.provisional_from:
            self.provisional_from = hour


class SourceError(Exception):
    """A read that failed; the message says what went wrong and what to do about it."""

    def __init__(self, message: str, *, retryable: bool = False,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class WindowSource(Protocol):
    """A source read by window (every type but ``focus``)."""

    @property
    def label(self) -> str: ...

    def read(self, window: Window, stats: ReadStats) -> Iterator[pa.Table]:
        """FOCUS-shaped tables for ``window``; raise :class:`SourceError` on failure."""
        ...


def focus_table(rows: Iterable[Mapping[str, Any]] | Sequence[Mapping[str, Any]]) -> pa.Table:
    """A table of FOCUS columns from row dicts (missing keys are null; ``Tags`` may be a dict)."""
    rows = list(rows)
    columns: dict[str, list[Any]] = {name: [] for name in FOCUS_FIELDS}
    for row in rows:
        unknown = set(row) - set(FOCUS_FIELDS)
        if unknown:
            raise ValueError(f"not FOCUS columns a source fills: {sorted(unknown)}")
        for name, values in columns.items():
            value = row.get(name)
            if name == "Tags" and isinstance(value, Mapping):
                value = json.dumps(value, sort_keys=True)
            values.append(value)
    return pa.table({name: pa.array(values, type=FOCUS_FIELDS[name])
                     for name, values in columns.items()})


_SECRET_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)(x-api-key[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"),
    re.compile(r"(sk-(?:admin-|ant-admin\d*-|proj-)?)[A-Za-z0-9_-]{8,}"),
    re.compile(r"(://[^/:@\s]+:)[^@/\s]+(@)"),  # a password in a URL
)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` without the given secrets or anything that looks like a key or a password."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + "***" + (m.group(2) if m.lastindex == 2
                                                            else ""), text)
    return text
