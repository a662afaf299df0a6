"""A FOCUS export with several ongoing incidents across owners, for the fault tests.

Days of hourly spend for :data:`PROJECTS`; each project has ``skus`` lines (so the
export is as large as the test wants its poll to last) and an owner whose alerts go to a
channel of its own (:data:`CHANNELS`). The projects in :data:`SPIKING` run six times their
usual spend for the last three hours of the export, so the first poll opens one alert-worthy
incident for each; the others stay quiet.

:func:`write_calm_hours` writes the hours after the export, all back to normal: a poll that
reads them resolves every incident, which queues an update and a thread reply per alert.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

__all__ = ["CHANNELS", "END", "OWNERS", "PROJECTS", "SPIKING", "write_calm_hours",
           "write_story"]

END = datetime(2026, 10, 22, tzinfo=UTC)  # exclusive
SPIKE_HOURS = 3
SPIKE_FACTOR = 6.0
PROJECTS = {  # project -> owner
    "support-agent": "team-support", "search": "team-search", "batch-jobs": "team-data",
    "embeddings": "team-search", "summariser": "team-support", "router": "team-platform",
    "translation": "team-platform",
}
SPIKING = ("support-agent", "search", "batch-jobs", "embeddings", "summariser", "router")
OWNERS = sorted(set(PROJECTS.values()))
CHANNELS = {owner: f"C0{owner.removeprefix('team-').upper()}" for owner in OWNERS}
_COLUMNS = ("BillingAccountId", "BillingCurrency", "BillingPeriodStart", "BillingPeriodEnd",
            "ChargePeriodStart", "ChargePeriodEnd", "ChargeCategory", "EffectiveCost",
            "BilledCost", "ServiceProviderName", "ServiceName", "ServiceCategory", "SkuId",
            "RegionId", "SubAccountId", "Tags")


def _rows(start: datetime, hours: int, *, skus: int, spike_from: datetime | None,
          seed: int) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    rows = []
    for offset in range(hours):
        hour = start + timedelta(hours=offset)
        daily = 0.6 + 0.4 * max(0.0, float(np.sin((hour.hour - 8) / 24 * 2 * np.pi)))
        month = hour.replace(day=1, hour=0)
        next_month = (month + timedelta(days=32)).replace(day=1)
        spiking = spike_from is not None and (
            spike_from <= hour < spike_from + timedelta(hours=SPIKE_HOURS))
        for index, (project, owner) in enumerate(PROJECTS.items()):
            base = 3.0 + index
            for sku in range(skus):
                cost = base / skus * daily * float(rng.normal(1.0, 0.03))
                if spiking and project in SPIKING:
                    cost *= SPIKE_FACTOR
                rows.append([
                    "ba-faults", "USD", f"{month:%Y-%m-%dT%H:%M:%SZ}",
                    f"{next_month:%Y-%m-%dT%H:%M:%SZ}", f"{hour:%Y-%m-%dT%H:%M:%SZ}",
                    f"{hour + timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}", "Usage", f"{cost:.4f}",
                    f"{cost:.4f}", "OpenAI", "OpenAI API", "AI and Machine Learning",
                    f"{project}-sku-{sku}", "us-east-1", f"proj_{project}",
                    json.dumps({"project": project, "environment": "prod", "owner": owner}),
                ])
    return rows


def _write(path: Path, rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(_COLUMNS)
        writer.writerows(rows)
    return path


def write_story(folder: Path, *, days: int = 21, skus: int = 4, spike: bool = True) -> Path:
    """The export of the ``days`` before :data:`END`; its spike (unless ``spike`` is False)
    is going on at the end."""
    spike_from = END - timedelta(hours=SPIKE_HOURS) if spike else None
    return _write(folder / "export-1.csv", _rows(END - timedelta(days=days), days * 24,
                                                 skus=skus, spike_from=spike_from, seed=7))


def write_calm_hours(folder: Path, *, hours: int = 9, skus: int = 4,
                     spike: bool = False) -> Path:
    """A second part of the export: ``hours`` normal hours after :data:`END` (with ``spike``,
    the first three of them spike: a burst that is over within the hours)."""
    return _write(folder / "export-2.csv", _rows(END, hours, skus=skus,
                                                 spike_from=END if spike else None, seed=8))
