"""One file's parsed chunks into hourly points in the store; refused rows into quarantine.

Points are written under the file's ingest run as they come, in bounded batches; replacing
earlier deliveries is left to the end of the delivery (``bot.ingest.guard``), which needs the
rows and spend each (billing account, billing period) received: :attr:`PointWriter.scopes`.
"""

from __future__ import annotations

import csv
from collections.abc import Hashable
from datetime import datetime
from pathlib import Path
from typing import TextIO

import pandas as pd
from sqlalchemy.engine import Connection

from bot.ingest.allocation import Allocator
from bot.ingest.enums import RunStatus
from bot.ingest.frames import factorize_rows
from bot.ingest.hourly import aggregate, convert_currency, spread_hours
from bot.ingest.report import FileReport, ScopeTotals
from bot.ingest.sources.focus_parse import COLUMNS, NOTES, ParsedChunk
from bot.settings import Settings
from storage import queries
from storage.models import SERIES_COLUMNS

__all__ = ["FLUSH_POINTS", "QUARANTINE_COLUMNS", "PointWriter", "Scope"]

# row number and reason first; "raw" holds the text of rows that could not be split into fields
QUARANTINE_COLUMNS = ["row_number", "reason", "raw", *COLUMNS]
FLUSH_POINTS = 200_000
Scope = tuple[str, datetime]  # (billing account, billing period start)


class PointWriter:
    """Accumulates aggregated points of one file and flushes them in bounded batches."""

    def __init__(
        self, *, settings: Settings, allocator: Allocator, report: FileReport, file: Path,
        run_id: int, connection: Connection,
    ) -> None:
        self.settings = settings
        self.allocator = allocator
        self.report = report
        self.file = file
        self.run_id = run_id
        self.connection = connection
        self.buffer: list[pd.DataFrame] = []
        self.buffered = 0
        self.scopes: dict[Scope, ScopeTotals] = {}
        self.series_cache: dict[tuple[str, ...], int] = {}
        self.account_of: dict[int, str] = {}
        self._quarantine: TextIO | None = None
        self._quarantine_writer: csv.DictWriter[Hashable] | None = None  # keyed by frame columns

    def add(self, chunk: ParsedChunk) -> None:
        report = self.report
        report.rows_read += chunk.rows_read
        if report.cost_basis is None and chunk.cost_columns:
            report.cost_basis = cost_basis(chunk.cost_columns)
        for key, count in chunk.notes.items():
            report.notes[NOTES[key]] = report.notes.get(NOTES[key], 0) + count
        items = chunk.items
        if not items.empty:
            items, currency_rejects = convert_currency(items, self.settings)
            if not currency_rejects.empty:
                self._quarantine_rows(currency_rejects)
            items, problems = self.allocator.allocate_frame(items)
            for problem, count in problems.items():
                report.warnings[problem] = report.warnings.get(problem, 0) + count
            report.rows_kept += len(items)
            points = aggregate(spread_hours(self._with_series_ids(items)))
            self.buffer.append(points)
            self.buffered += len(points)
            if self.buffered >= FLUSH_POINTS:
                self.buffer = [aggregate(pd.concat(self.buffer, ignore_index=True))]
                self.buffered = len(self.buffer[0])
                if self.buffered >= FLUSH_POINTS // 2:
                    self.flush()
        if not chunk.rejected.empty:
            self._quarantine_rows(chunk.rejected)

    def _with_series_ids(self, items: pd.DataFrame) -> pd.DataFrame:
        codes, distinct = factorize_rows(items[list(SERIES_COLUMNS)])
        ids = queries.points.resolve_series(
            connection=self.connection, series=distinct, cache=self.series_cache
        )
        for series_id, account in zip(ids, distinct["billing_account_id"], strict=True):
            self.account_of[int(series_id)] = str(account)
        identity = [c for c in SERIES_COLUMNS if c != "charge_category"]
        return items.drop(columns=identity).assign(series_id=ids[codes])

    def flush(self) -> None:
        if not self.buffer:
            return
        points = aggregate(pd.concat(self.buffer, ignore_index=True))
        self.buffer, self.buffered = [], 0
        accounts = points["series_id"].map(self.account_of)
        totals = (
            points.assign(account=accounts)
            .groupby(["account", "billing_period_start"], sort=False)[
                ["line_items", "effective_cost"]]
            .sum()
        )
        for (account, period), lines, cost in zip(
                totals.index, totals["line_items"], totals["effective_cost"], strict=True):
            scope = (str(account), pd.Timestamp(period).to_pydatetime())
            self.scopes.setdefault(scope, ScopeTotals()).add(int(lines), float(cost))
        self.report.points_written += queries.points.insert_points(
            connection=self.connection, run_id=self.run_id, points=points
        )

    def _quarantine_rows(self, rejected: pd.DataFrame) -> None:
        report = self.report
        report.rows_rejected += len(rejected)
        for reason, count in _reason_counts(rejected["reason"]).items():
            report.rejected_reasons[reason] = report.rejected_reasons.get(reason, 0) + count
        if self._quarantine is None:
            folder = self.settings.quarantine_dir
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"run-{self.run_id}-{self.file.name}.rejected.csv"
            self._quarantine = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115
            self._quarantine_writer = csv.DictWriter(
                self._quarantine, fieldnames=QUARANTINE_COLUMNS, extrasaction="ignore"
            )
            self._quarantine_writer.writeheader()
            report.quarantine_path = str(path)
        assert self._quarantine_writer is not None
        self._quarantine_writer.writerows(
            rejected.astype(object).where(rejected.notna(), "").to_dict("records")
        )

    def run_fields(self) -> dict[str, object]:
        """What the ingest run records of this file once it was read."""
        report = self.report
        report.billing_periods = sorted({p.strftime("%Y-%m") for _, p in self.scopes})
        return {
            "status": RunStatus.SUCCEEDED,
            "rows_read": report.rows_read,
            "rows_kept": report.rows_kept,
            "rows_rejected": report.rows_rejected,
            "points_written": report.points_written,
            "billing_periods": report.billing_periods,
            "rejected_reasons": report.rejected_reasons,
            # allocation problems and notes: both are rows kept, counted by what is said of them
            "warnings": {**report.warnings, **report.notes},
            "quarantine_path": report.quarantine_path,
            "message": report.cost_basis,
        }

    def close(self) -> None:
        if self._quarantine is not None:
            self._quarantine.close()


def cost_basis(columns: tuple[str, ...]) -> str:
    """Which cost column the points hold, as the summary says it."""
    if "BilledCost" in columns:
        return "EffectiveCost (amortised); BilledCost is kept for --metric billed"
    return ("EffectiveCost (amortised); the file has no BilledCost column, so billed cost is "
            "taken to be the effective cost")


def _reason_counts(reasons: pd.Series) -> dict[str, int]:
    """Count reasons by kind: the part before the first ':' (values differ row to row)."""
    kinds = reasons.astype(str).str.split(":", n=1).str[0]
    return {str(k): int(v) for k, v in kinds.value_counts().items()}
