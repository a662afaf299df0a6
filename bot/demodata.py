"""Generated FOCUS demo data: a few weeks of hourly AI and cloud spend, with a seeded incident.

Realistic enough to exercise the whole pipeline: daily and weekly rhythm, tags written the way
real teams write them (``Project`` / ``proj``, ``env`` / ``environment``, ``team`` / ``owner``),
a line with no tags at all, a commitment purchase and a credit among the usage, and the classic
incident: an agent published with verbose logging on a high-volume workload, so CloudWatch
spend rises sharply within hours.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["DemoLine", "LINES", "write_demo_data"]


@dataclass(frozen=True)
class DemoLine:
    project: str | None
    environment: str | None
    owner: str | None
    provider: str
    service: str
    category: str
    unit: str
    hourly_usd: float
    business_hours: bool = False
    tag_style: str = "plain"  # plain | aliases | capitalised | none


LINES: tuple[DemoLine, ...] = (
    DemoLine("support-agent", "prod", "team-support", "AWS", "Amazon Bedrock",
             "AI and Machine Learning", "Tokens", 18.0),
    DemoLine("support-agent", "prod", "team-support", "AWS", "AmazonCloudWatch",
             "Management and Governance", "GB", 1.2),
    DemoLine("support-agent", "prod", "team-support", "AWS", "Amazon EC2", "Compute", "Hours",
             6.0),
    DemoLine("research-agent", "prod", "team-research", "Anthropic", "Anthropic API",
             "AI and Machine Learning", "Tokens", 9.0, tag_style="capitalised"),
    DemoLine("docs-copilot", "prod", "team-docs", "Microsoft", "Azure OpenAI",
             "AI and Machine Learning", "Tokens", 7.5),
    DemoLine("vision-train", "dev", "team-vision", "AWS", "Amazon SageMaker",
             "AI and Machine Learning", "Hours", 14.0, business_hours=True),
    DemoLine("feature-store", "prod", "team-data", "AWS", "AWS Data Transfer", "Networking",
             "GB", 2.5, tag_style="aliases"),
    DemoLine("feature-store", "prod", "team-data", "AWS", "Amazon S3", "Storage", "GB-Mo",
             3.0, tag_style="aliases"),
    DemoLine("recsys", "staging", "team-recs", "Google Cloud", "Compute Engine", "Compute",
             "Hours", 4.0),
    DemoLine("pricing-poc", "dev", "team-pricing", "OpenAI", "OpenAI API",
             "AI and Machine Learning", "Tokens", 0.8),
    DemoLine(None, None, None, "AWS", "Amazon RDS", "Databases", "Hours", 2.2,
             tag_style="none"),
)
INCIDENT = ("support-agent", "AmazonCloudWatch")


def _tags(line: DemoLine) -> str:
    if line.tag_style == "none":
        return ""
    keys = {
        "plain": ("project", "environment", "owner"),
        "aliases": ("proj", "env", "team"),
        "capitalised": ("Project", " Environment ", "Owner"),
    }[line.tag_style]
    return json.dumps(dict(zip(keys, (line.project, line.environment, line.owner), strict=True)))


def _shape(line: DemoLine, hours: pd.DatetimeIndex, rng: np.random.Generator) -> np.ndarray:
    hour = hours.hour.to_numpy()
    weekday = hours.dayofweek.to_numpy()
    if line.business_hours:
        on = (hour >= 8) & (hour < 19) & (weekday < 5)
        return np.where(on, 1.0, 0.02) * rng.normal(1.0, 0.05, len(hours)).clip(0.5)
    daily = 1.0 + 0.35 * np.sin((hour - 9) / 24 * 2 * np.pi)
    weekly = np.where(weekday >= 5, 0.75, 1.0)
    return daily * weekly * rng.lognormal(0.0, 0.08, len(hours))


def write_demo_data(out: Path, *, days: int = 28, end: datetime | None = None,
                    seed: int = 42) -> list[Path]:
    """Write one gzip FOCUS 1.2 CSV per billing month under ``out``; returns the paths."""
    rng = np.random.default_rng(seed)
    if end is None:
        end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)
    hours = pd.date_range(start, end, freq="h", inclusive="left", tz="UTC")
    incident_start = hours[-30]
    frames = []
    for index, line in enumerate(LINES):
        cost = line.hourly_usd * _shape(line, hours, rng)
        if (line.project, line.service) == INCIDENT:
            ramp = np.clip((hours - incident_start) / pd.Timedelta(hours=3), 0, 1)
            cost = cost * (1 + 11 * np.asarray(ramp))
        frames.append(_rows(line, index, hours, cost))
    rows = pd.concat(frames, ignore_index=True)
    rows = pd.concat([rows, _one_time_rows(hours)], ignore_index=True)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for period, part in rows.groupby("BillingPeriodStart", sort=True):
        path = out / f"focus-{str(period)[:7]}.csv.gz"
        part.to_csv(path, index=False, compression="gzip")
        written.append(path)
    return written


def _iso(values: pd.DatetimeIndex | pd.Series) -> np.ndarray:
    return np.asarray(pd.DatetimeIndex(values).strftime("%Y-%m-%dT%H:%M:%SZ"))


def _rows(line: DemoLine, index: int, hours: pd.DatetimeIndex, cost: np.ndarray) -> pd.DataFrame:
    month = hours.tz_localize(None).to_period("M").start_time.tz_localize("UTC")
    return pd.DataFrame({
        "BillingAccountId": "demo-billing-001",
        "BillingAccountName": "Demo Corp",
        "BillingCurrency": "USD",
        "BillingPeriodStart": _iso(month),
        "BillingPeriodEnd": _iso(month + pd.offsets.MonthBegin(1)),
        "ChargePeriodStart": _iso(hours),
        "ChargePeriodEnd": _iso(hours + pd.Timedelta(hours=1)),
        "ChargeCategory": "Usage",
        "ChargeFrequency": "Usage-Based",
        "BilledCost": np.round(cost, 6),
        "EffectiveCost": np.round(cost, 6),
        "ListCost": np.round(cost * 1.1, 6),
        "ConsumedQuantity": np.round(cost * 500, 3),
        "ConsumedUnit": line.unit,
        "ProviderName": line.provider,
        "ServiceName": line.service,
        "ServiceCategory": line.category,
        "SubAccountId": f"acct-{index % 4:03d}",
        "SubAccountName": f"{line.project or 'shared'}-account",
        "RegionId": "us-east-1",
        "ResourceId": f"{(line.project or 'shared')}-{index}",
        "Tags": _tags(line),
    })


def _one_time_rows(hours: pd.DatetimeIndex) -> pd.DataFrame:
    """A savings plan purchase and a credit: stored, never mistaken for usage."""
    first = hours[len(hours) // 3]
    later = hours[2 * len(hours) // 3]
    line = LINES[2]
    purchase = _rows(line, 2, pd.DatetimeIndex([first]), np.array([5000.0]))
    purchase = purchase.assign(ChargeCategory="Purchase", ChargeFrequency="One-Time",
                               EffectiveCost=0.0, ServiceName="Savings Plans for AWS Compute")
    credit = _rows(line, 2, pd.DatetimeIndex([later]), np.array([-750.0]))
    credit = credit.assign(ChargeCategory="Credit", ChargeFrequency="One-Time")
    return pd.concat([purchase, credit], ignore_index=True)
