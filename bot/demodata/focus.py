"""FOCUS 1.2 rows for the generated spend, and the gzip CSV files they are delivered in."""

from __future__ import annotations

import gzip
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from bot.demodata.catalogue import PROVIDERS, DemoLine, tags_json

__all__ = ["commitment_rows", "usage_rows", "write_exports"]

# what one unit of usage costs, to give ConsumedQuantity a plausible size
UNIT_PRICE = {"Tokens": 4e-6, "GB": 0.09, "GB-Mo": 0.023 / 730, "TB": 6.25, "Hours": None}
COMMITTED_RATE = 0.72  # effective cost of covered usage against on-demand, after the purchase


OUR_FILES = re.compile(r"^focus-(?:[a-z]+-)?\d{4}-\d{2}\.csv\.gz$")


def iso(stamps: pd.DatetimeIndex) -> np.ndarray:
    text = np.datetime_as_string(stamps.tz_convert(None).to_numpy("datetime64[s]"), unit="s")
    return np.char.add(text, "Z").astype(object)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")

# a missing value in an object column (numpy's stubs take no bare None in np.where)
_NONE = np.array(None, dtype=object)


def usage_rows(line: DemoLine, hours: pd.DatetimeIndex, cost: np.ndarray, *,
               committed_from: int | None = None,
               usage: np.ndarray | None = None) -> pd.DataFrame:
    """One Usage row per hour with spend; from ``committed_from`` on, covered by a commitment.

    ``usage`` is what was consumed, in dollars at the line's usual price (``cost`` when
    omitted: the price never changed); ConsumedQuantity is that over the unit price.
    """
    keep = np.flatnonzero(cost > 0)
    stamps = hours[keep]
    on_demand = np.round(cost[keep], 6)
    consumed = on_demand if usage is None else np.round(usage[keep], 6)
    covered = np.zeros(len(keep), dtype=bool) if committed_from is None else keep >= committed_from
    effective = np.where(covered, np.round(on_demand * COMMITTED_RATE, 6), on_demand)
    month = stamps.tz_localize(None).to_period("M").start_time.tz_localize("UTC")
    provider, account, _ = PROVIDERS[line.provider]
    project = line.project or "shared-services"
    env = line.environment or "shared"
    price = UNIT_PRICE[line.unit] or line.hourly_usd
    resource = f"{PROVIDERS[line.provider][2]}/{project}/{env}/{_slug(line.service)}"
    commitment = f"{resource}/savings-plan"
    return pd.DataFrame({
        "BillingAccountId": account,
        "BillingAccountName": "Demo Corp",
        "BillingCurrency": "USD",
        "BillingPeriodStart": iso(month),
        "BillingPeriodEnd": iso(month + pd.offsets.MonthBegin(1)),
        "ChargeCategory": "Usage",
        "ChargeClass": None,
        "ChargeDescription": f"{line.service} usage",
        "ChargeFrequency": "Usage-Based",
        "ChargePeriodStart": iso(stamps),
        "ChargePeriodEnd": iso(stamps + pd.Timedelta(hours=1)),
        "BilledCost": np.where(covered, 0.0, on_demand),
        "EffectiveCost": effective,
        "ListCost": on_demand,
        "ContractedCost": effective,
        "CommitmentDiscountId": np.where(covered, commitment, _NONE),
        "CommitmentDiscountStatus": np.where(covered, "Used", _NONE),
        "ConsumedQuantity": np.round(consumed / price, 3),
        "ConsumedUnit": line.unit,
        "PricingCategory": np.where(covered, "Committed", "Standard"),
        "PricingQuantity": np.round(consumed / price, 3),
        "PricingUnit": line.unit,
        "ProviderName": provider,
        "PublisherName": provider,
        "InvoiceIssuerName": provider,
        "RegionId": line.region,
        "RegionName": line.region,
        "ResourceId": resource,
        "ResourceName": f"{project}-{_slug(line.service)}",
        "ServiceCategory": line.category,
        "ServiceName": line.service,
        "SubAccountId": f"{PROVIDERS[line.provider][2]}-{_slug(project)}",
        "SubAccountName": f"{project}-{env}",
        "Tags": tags_json(line),
    })


def commitment_rows(line: DemoLine, hours: pd.DatetimeIndex, cost: np.ndarray,
                    purchase: int, credit: int, credit_usd: float) -> pd.DataFrame:
    """A one-year savings plan bought at hour ``purchase`` and a credit at hour ``credit``."""
    yearly = float(np.mean(cost[:purchase])) * COMMITTED_RATE * 8760
    rows = usage_rows(line, hours[[purchase, credit]], np.array([1.0, 1.0]))
    commitment = f"{str(rows.at[0, 'ResourceId'])}/savings-plan"
    rows["ChargeFrequency"] = "One-Time"
    rows["ConsumedQuantity"] = rows["ConsumedUnit"] = None
    rows["PricingQuantity"] = rows["PricingUnit"] = None
    rows.loc[0, ["ChargeCategory", "ChargeDescription", "ServiceName", "ResourceId"]] = [
        "Purchase", "Compute Savings Plan, 1 year, all upfront", "Savings Plans for AWS Compute",
        commitment]
    rows.loc[0, ["BilledCost", "EffectiveCost", "ListCost", "ContractedCost"]] = [
        round(yearly, -2), 0.0, round(yearly, -2), round(yearly, -2)]
    rows.loc[0, "CommitmentDiscountId"] = commitment
    rows.loc[0, "ChargePeriodEnd"] = iso(hours[[purchase]] + pd.DateOffset(years=1))[0]
    amount = -abs(credit_usd)
    rows.loc[1, ["ChargeCategory", "ChargeDescription"]] = ["Credit", "Promotional credit"]
    rows.loc[1, ["BilledCost", "EffectiveCost", "ListCost", "ContractedCost"]] = [
        amount, amount, 0.0, 0.0]
    return rows


def write_exports(out: Path, rows: pd.DataFrame) -> list[Path]:
    """One gzip CSV per provider account and billing month, byte-for-byte reproducible."""
    out.mkdir(parents=True, exist_ok=True)
    slugs = {account: slug for _, account, slug in PROVIDERS.values()}
    written = []
    groups = rows.groupby(["BillingAccountId", "BillingPeriodStart"], sort=True)
    for (account, period), part in groups:
        path = out / f"focus-{slugs[str(account)]}-{str(period)[:7]}.csv.gz"
        part = part.sort_values("ChargePeriodStart", kind="stable")
        buffer = io.BytesIO()
        pacsv.write_csv(pa.Table.from_pandas(part, preserve_index=False), buffer,
                        pacsv.WriteOptions(quoting_style="needed"))
        data = buffer.getvalue()
        path.write_bytes(gzip.compress(data, compresslevel=6, mtime=0))
        written.append(path)
    for stale in out.glob("focus-*.csv.gz"):  # an earlier run's months that are gone now
        if stale not in written and OUR_FILES.match(stale.name):
            stale.unlink()
    return sorted(written)
