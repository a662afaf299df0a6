"""One file's parsed chunks into hourly points in the store; refused rows into quarantine.

Points are written under the file's ingest run as they come, in bounded batches; replacing
earlier deliveries is left to the end of the delivery (``bot.ingest.guard``), which needs the
rows and spend each (billing account, billing period) received: :attr:`PointWriter.scopes`.

Exports are written hour after hour, so the hours before the first hour of the chunk just
read are usually finished: once there are enough of them, they are written while the next
chunks are read and parsed, instead of all at the end. A file out of hour order only gets a
point written in two parts (the same sum), as a file too big to hold in one batch does.
"""

from __future__ import annotations

import csv
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd
from sqlalchemy.engine import Connection

from bot.ingest.allocation import Allocator
from bot.ingest.enums import RunStatus
from bot.ingest.frames import factorize, factorize_rows
from bot.ingest.hourly import aggregate, convert_currency, hourly_points
from bot.ingest.report import FileReport, ScopeTotals
from bot.ingest.sources.focus_parse import COLUMNS, NOTES, ParsedChunk
from bot.settings import Settings
from storage import queries
from storage.models import FOCUS_LINE_COLUMNS

__all__ = ["FLUSH_POINTS", "QUARANTINE_COLUMNS", "PointWriter", "Scope"]

# row number and reason first; "raw" holds the text of rows that could not be split into fields
QUARANTINE_COLUMNS = ["row_number", "reason", "raw", *COLUMNS]
FLUSH_POINTS = 200_000
# finished hours are written early once they hold this many points (writing fewer at a time
# would cost more in statements than it saves at the end)
EARLY_POINTS = 20_000
Scope = tuple[str, datetime]  # (billing account, billing period start)
# what a point's series is made of, once allocated: the export's text columns and the tags
LINE_COLUMNS = ("tags", *FOCUS_LINE_COLUMNS, "charge_category", "currency", "usage_unit")


MAX_REMEMBERED_LINES = 200_000


@dataclass(frozen=True, slots=True)
class _Line:
    """What a distinct line of the export becomes."""

    series_id: int
    factor: float  # to the base currency
    usage: bool  # spread over its hours
    problem: str | None  # with its tags, counted per row


def _line_keys(lines: pd.DataFrame) -> list[tuple[object, ...]]:
    """Each distinct line as a tuple of its values (None where missing)."""
    columns = []
    for name in LINE_COLUMNS:
        codes, values = factorize(lines[name])
        present = values.tolist() + [None]
        columns.append([present[code] for code in codes.tolist()])
    return list(zip(*columns, strict=True))


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
        self._rates = {settings.currency.base: 1.0, **settings.currency.rates}
        self._lines: dict[tuple[object, ...], _Line] = {}
        self._quarantine: TextIO | None = None
        self._quarantine_writer: csv.DictWriter[Hashable] | None = None  # keyed by frame columns

    def add(self, chunk: ParsedChunk) -> None:
        report = self.report
        report.rows_read += chunk.rows_read
        if report.cost_basis is None and chunk.cost_columns:
            report.cost_basis = cost_basis(chunk.cost_columns)
        for key, count in chunk.notes.items():
            report.notes[NOTES[key]] = report.notes.get(NOTES[key], 0) + count
        if not chunk.items.empty:
            points = self._points(chunk.items, chunk.lines)
            self.buffer.append(points)
            self.buffered += len(points)
            if self.buffered >= FLUSH_POINTS:
                self.buffer = [aggregate(pd.concat(self.buffer, ignore_index=True))]
                self.buffered = len(self.buffer[0])
                if self.buffered >= FLUSH_POINTS // 2:
                    self.flush()
            elif self.buffered >= EARLY_POINTS and len(self.buffer) > 1:
                self._flush_before(points["hour"].min())
        if not chunk.rejected.empty:
            self._quarantine_rows(chunk.rejected)

    def _points(self, items: pd.DataFrame,
                parsed_lines: tuple[np.ndarray, pd.DataFrame] | None = None) -> pd.DataFrame:
        """Hourly points of parsed line items, their series created as needed.

        Currency, allocation and series are worked out once per distinct *line* (the text
        columns of a row, tags included) and remembered across chunks; the rows get them by
        line code: an export repeats a few thousand lines over millions of rows. A chunk
        parsed line by line comes with its codes (``parsed_lines``), used as they are.
        """
        if parsed_lines is not None and len(parsed_lines[0]) == len(items):
            codes, lines = parsed_lines[0], parsed_lines[1][list(LINE_COLUMNS)]
        else:
            codes, lines = factorize_rows(items[list(LINE_COLUMNS)])
        keys = _line_keys(lines)
        known = np.array([key[LINE_COLUMNS.index("currency")] in self._rates for key in keys])
        if not known.all():
            ok = known[codes]
            _, refused = convert_currency(items.loc[~ok], self.settings)
            self._quarantine_rows(refused)
            items = items.loc[ok]
            codes, lines = factorize_rows(items[list(LINE_COLUMNS)])
            keys = _line_keys(lines)
        self.report.rows_kept += len(items)
        if len(self._lines) > MAX_REMEMBERED_LINES:  # tags unique per resource: stay bounded
            self._lines.clear()
        new = [index for index, key in enumerate(keys) if key not in self._lines]
        if new:
            self._add_lines(lines.iloc[new], [keys[i] for i in new])
        known_lines = [self._lines[key] for key in keys]
        rows = np.bincount(codes, minlength=len(lines))
        for line, count in zip(known_lines, rows.tolist(), strict=True):
            if line.problem and count:
                self.report.warnings[line.problem] = (
                    self.report.warnings.get(line.problem, 0) + count)
        ids = np.array([line.series_id for line in known_lines], dtype=np.int64)
        factors = np.array([line.factor for line in known_lines], dtype=float)
        usage = np.array([line.usage for line in known_lines], dtype=bool)
        values = {name: items[name].to_numpy(dtype=float)
                  for name in ("billed_cost", "effective_cost", "usage_quantity")}
        if not np.all(factors == 1.0):
            for name in ("billed_cost", "effective_cost"):
                values[name] = values[name] * factors[codes]
        return hourly_points(
            series_id=ids[codes], start=items["start"], end=items["end"],
            billing_period_start=items.get("billing_period_start"), usage=usage[codes],
            values=values,
        )

    def _add_lines(self, lines: pd.DataFrame, keys: list[tuple[object, ...]]) -> None:
        """Allocate lines not seen before and find (or create) their series."""
        currency = LINE_COLUMNS.index("currency")
        factors = [self._rates[str(key[currency])] for key in keys]
        lines = lines.reset_index(drop=True).assign(currency=self.settings.currency.base)
        allocated, _ = self.allocator.allocate_frame(lines)
        ids = queries.points.resolve_series(
            connection=self.connection, series=allocated, cache=self.series_cache
        )
        tags = LINE_COLUMNS.index("tags")
        category = LINE_COLUMNS.index("charge_category")
        for key, series_id, factor, account in zip(
                keys, ids.tolist(), factors, allocated["billing_account_id"], strict=True):
            self.account_of[series_id] = str(account)
            self._lines[key] = _Line(series_id, factor, key[category] == "Usage",
                                     self.allocator.parse_tags(key[tags]).problem)

    def flush(self) -> None:
        if not self.buffer:
            return
        points = aggregate(pd.concat(self.buffer, ignore_index=True))
        self.buffer, self.buffered = [], 0
        self._write(points)

    def _flush_before(self, first_hour: pd.Timestamp) -> None:
        """Write the buffered points of the hours before ``first_hour`` (the first hour of the
        chunk just read), if there are enough of them."""
        *earlier, newest = self.buffer
        older = pd.concat(earlier, ignore_index=True)
        done = (older["hour"] < first_hour).to_numpy()
        if done.sum() < EARLY_POINTS:
            self.buffer = [older, newest]  # concatenated once, not again at the next chunk
            return
        rest = older.loc[~done]
        self.buffer = [rest, newest] if len(rest) else [newest]
        self.buffered = len(rest) + len(newest)
        self._write(aggregate(older.loc[done]))

    def _write(self, points: pd.DataFrame) -> None:
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
