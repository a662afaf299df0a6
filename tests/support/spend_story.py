"""Three weeks of hourly AI spend with two incidents, to replay through every kind of source.

One line per project (one model each), so every source, whatever it can group by, carries the
same lines: a FOCUS export, a warehouse table, the OpenAI and Anthropic admin APIs (usage by
project and model) and Cost Explorer (by service and project tag). Amounts are whole cents,
so a provider that reports cents as strings loses nothing.

The incidents: ``search`` runs 2.5 times higher from the 20th day on (a model switched to a
bigger tier), and ``support-agent`` spikes to six times its usual spend for three hours on the
21st day (an agent loop), two hours before the story ends.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

__all__ = ["END", "INCIDENTS", "MODELS", "START", "focus_rows", "hourly_spend"]

START = datetime(2026, 10, 1, tzinfo=UTC)
# exclusive: the story's last hour is END - 1 h, two hours after the spike, so both incidents
# are still open when it ends
END = START + timedelta(days=20, hours=19)
MODELS = {"support-agent": "gpt-4o", "search": "gpt-4o-mini", "batch-jobs": "gpt-4.1"}
BASE = {"support-agent": 12.0, "search": 4.0, "batch-jobs": 7.0}  # $/h at the daily peak
SPIKE = (START + timedelta(days=20, hours=14), 3, 6.0)  # start, hours, factor
SHIFT = (START + timedelta(days=19, hours=6), 2.5)  # from, factor
INCIDENTS = {("support-agent", SPIKE[0]), ("search", SHIFT[0])}


def hourly_spend() -> pd.DataFrame:
    """Columns hour (aware UTC), project, model, cost (dollars, whole cents, > 0)."""
    rng = np.random.default_rng(20261001)
    hours = pd.date_range(START, END, freq="h", inclusive="left")
    frames = []
    for project, model in MODELS.items():
        daily = 0.55 + 0.45 * np.sin((hours.hour.to_numpy() - 8) / 24 * 2 * np.pi).clip(0)
        weekly = np.where(hours.day_of_week.to_numpy() >= 5, 0.8, 1.0)
        noise = rng.normal(1.0, 0.04, len(hours)).clip(0.85, 1.15)
        cost = BASE[project] * daily * weekly * noise
        if project == "support-agent":
            start, length, factor = SPIKE
            spike = (hours >= start) & (hours < start + timedelta(hours=length))
            cost = np.where(spike, cost * factor, cost)
        if project == "search":
            start, factor = SHIFT
            cost = np.where(hours >= start, cost * factor, cost)
        frames.append(pd.DataFrame({"hour": hours, "project": project, "model": model,
                                    "cost": np.round(cost, 2)}))
    return pd.concat(frames, ignore_index=True)


def focus_rows(spend: pd.DataFrame, *, provider: str = "OpenAI",
               service: str = "OpenAI API", account: str = "org-story") -> list[dict[str, str]]:
    """The spend as FOCUS 1.2 line items (text cells, as in a CSV export), one per hour."""
    rows = []
    for hour, project, model, cost in spend[["hour", "project", "model", "cost"]].itertuples(
            index=False):
        start = pd.Timestamp(hour)
        month = start.replace(day=1, hour=0)
        rows.append({
            "BillingAccountId": account, "BillingCurrency": "USD",
            "BillingPeriodStart": month.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "BillingPeriodEnd": (month + pd.offsets.MonthBegin(1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ChargePeriodStart": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ChargePeriodEnd": (start + pd.Timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ChargeCategory": "Usage", "EffectiveCost": f"{cost:.2f}", "BilledCost": f"{cost:.2f}",
            "ServiceProviderName": provider, "ServiceName": service,
            "ServiceCategory": "AI and Machine Learning", "SkuId": model,
            "SubAccountId": f"proj_{project}", "SubAccountName": project,
            "Tags": f'{{"project": "{project}"}}',
        })
    return rows
