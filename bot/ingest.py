"""Ingest FOCUS exports into hourly cost points.

One call of :func:`ingest_path` is one *delivery*. For every (billing account, billing period)
that a delivery contains, the points of earlier deliveries are replaced, because cloud exports
are snapshots re-written several times a day: ingesting the same or a restated file twice never
double-counts. Files of the same delivery add up (multi-part exports). Point a source at the
current export (overwrite-style delivery, or the newest delivery folder), not at a folder that
keeps every historical version side by side.

Each file is streamed chunk by chunk and committed in one transaction with its ingest run, so a
crash mid-file leaves the previous snapshot in place. Rows that cannot be used are written to a
quarantine CSV with their row number and the reason; the summary counts each reason.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.allocation import Allocator
from bot.frames import factorize_rows
from bot.settings import Settings
from bot.sources.focus import FocusFileError, ParsedChunk, discover_files, read_chunks
from bot.sources.focus_parse import COLUMNS
from storage import repositories as repo
from storage.db import session_scope
from storage.models import SERIES_COLUMNS

__all__ = ["FileReport", "IngestReport", "ingest_path", "spread_hours"]

logger = logging.getLogger(__name__)

MAX_SPREAD_HOURS = 31 * 24
# row number and reason first; "raw" holds the text of rows that could not be split into fields
QUARANTINE_COLUMNS = ["row_number", "reason", "raw", *COLUMNS]
FLUSH_POINTS = 200_000
HOUR = np.timedelta64(1, "h")
ProgressHook = Callable[[str, int, int], None]  # (file name, bytes done, bytes total)


@dataclass
class FileReport:
    path: str
    status: str  # ingested | unchanged | failed
    run_id: int | None = None
    rows_read: int = 0
    rows_kept: int = 0
    rows_rejected: int = 0
    points_written: int = 0
    points_replaced: int = 0
    billing_periods: list[str] = field(default_factory=list)
    rejected_reasons: dict[str, int] = field(default_factory=dict)
    warnings: dict[str, int] = field(default_factory=dict)
    quarantine_path: str | None = None
    message: str | None = None


@dataclass
class IngestReport:
    delivery_id: str
    files: list[FileReport]

    @property
    def rows_kept(self) -> int:
        return sum(f.rows_kept for f in self.files)

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self.files)

    @property
    def failed(self) -> list[FileReport]:
        return [f for f in self.files if f.status == "failed"]


def ingest_path(
    *,
    engine: Engine,
    settings: Settings,
    path: Path,
    source_label: str | None = None,
    default_currency: str | None = None,
    force: bool = False,
    progress: ProgressHook | None = None,
) -> IngestReport:
    """Ingest every export file at ``path`` as one delivery."""
    files = discover_files(Path(path))
    delivery_id = str(uuid.uuid4())
    allocator = Allocator(settings.allocation)
    reports = []
    for file in files:
        reports.append(
            _ingest_file(
                engine=engine,
                settings=settings,
                allocator=allocator,
                file=file,
                delivery_id=delivery_id,
                source_label=source_label or f"focus:{path}",
                default_currency=default_currency,
                force=force,
                progress=progress,
            )
        )
    return IngestReport(delivery_id=delivery_id, files=reports)


def _fingerprint(file: Path, stat: os.stat_result, settings: Settings,
                 default_currency: str | None) -> str:
    """The file as last written, plus every setting that changes what its rows become.

    A file is "unchanged" when its path, size and modification time are those of a run that is
    still current, with the same settings (the test rsync and make use). Content changes
    rewrite the file and so its modification time. After a user follows a rejection message
    (a currency rate, --currency, an allocation rule), the same file is read again.
    The content checksum itself is computed while the file is read, at no extra pass.
    """
    relevant = {
        "path": str(file.resolve()),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "allocation": settings.allocation.model_dump(mode="json"),
        "currency": settings.currency.model_dump(mode="json"),
        "default_currency": (default_currency or "").strip().upper(),
    }
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()


def _ingest_file(
    *,
    engine: Engine,
    settings: Settings,
    allocator: Allocator,
    file: Path,
    delivery_id: str,
    source_label: str,
    default_currency: str | None,
    force: bool,
    progress: ProgressHook | None,
) -> FileReport:
    try:
        stat = file.stat()
    except OSError as exc:
        return FileReport(path=str(file), status="failed",
                          message=f"{file}: cannot be read ({exc.strerror or exc})")
    size = stat.st_size
    fingerprint = _fingerprint(file, stat, settings, default_currency)
    with session_scope(engine) as session:
        previous = repo.current_run_for_fingerprint(db_session=session, fingerprint=fingerprint)
        if previous is not None and not force:
            # still current: it joins this delivery, so a changed sibling file of the same
            # billing period (a multi-part export) does not replace it
            repo.adopt_run(db_session=session, run_id=previous.id, delivery_id=delivery_id)
            return FileReport(
                path=str(file), status="unchanged", run_id=previous.id,
                rows_kept=previous.rows_kept, points_written=previous.points_written,
                billing_periods=list(previous.billing_periods or []),
                message=f"unchanged since ingest run {previous.id}; nothing to do",
            )
        run = repo.create_ingest_run(
            db_session=session, delivery_id=delivery_id, source=source_label,
            file_path=str(file), checksum="", fingerprint=fingerprint, file_size=size,
        )
        run_id = run.id
    assert run_id is not None
    report = FileReport(path=str(file), status="ingested", run_id=run_id)
    writer = _Writer(settings, allocator, report, file, run_id, delivery_id)
    done = 0

    def on_bytes(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress(file.name, min(done, size), size)

    try:
        with engine.begin() as connection:
            writer.connection = connection
            hasher = hashlib.sha256()
            for chunk in read_chunks(
                file, default_currency=default_currency, on_bytes=on_bytes, hasher=hasher
            ):
                writer.add(chunk)
            writer.flush()
            with Session(bind=connection) as session:
                repo.finish_ingest_run(
                    db_session=session, run_id=run_id, checksum=hasher.hexdigest(),
                    **writer.run_fields(),
                )
                session.commit()
    except FocusFileError as exc:
        _fail(engine, report, str(exc))
    except Exception as exc:  # one file's failure must not stop the others of the delivery
        logger.exception("ingesting %s failed", file)
        _fail(engine, report, f"{file}: {type(exc).__name__}: {exc}".splitlines()[0])
    finally:
        writer.close()
    return report


def _fail(engine: Engine, report: FileReport, message: str) -> None:
    report.status = "failed"
    report.message = message
    assert report.run_id is not None
    with session_scope(engine) as session:
        repo.finish_ingest_run(
            db_session=session, run_id=report.run_id, status="failed", message=message
        )


class _Writer:
    """Accumulates aggregated points of one file and flushes them in bounded batches."""

    def __init__(
        self, settings: Settings, allocator: Allocator, report: FileReport, file: Path,
        run_id: int, delivery_id: str,
    ) -> None:
        self.settings = settings
        self.allocator = allocator
        self.report = report
        self.file = file
        self.run_id = run_id
        self.delivery_id = delivery_id
        self.connection = None
        self.buffer: list[pd.DataFrame] = []
        self.buffered = 0
        self.claimed: set[tuple[str, datetime]] = set()
        self.series_cache: dict[tuple[str, ...], int] = {}
        self.account_of: dict[int, str] = {}
        self._quarantine = None
        self._quarantine_writer = None

    def add(self, chunk: ParsedChunk) -> None:
        report = self.report
        report.rows_read += chunk.rows_read
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
        ids = repo.resolve_series(
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
        scopes = {
            (self.account_of[int(series_id)], period.to_pydatetime())
            for series_id, period in points[["series_id", "billing_period_start"]]
            .drop_duplicates()
            .itertuples(index=False)
        }
        new_scopes = scopes - self.claimed
        if new_scopes:
            self.report.points_replaced += repo.replace_scopes(
                connection=self.connection, delivery_id=self.delivery_id, scopes=new_scopes
            )
            self.claimed |= new_scopes
        self.report.points_written += repo.insert_points(
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
        report = self.report
        periods = sorted({p.strftime("%Y-%m") for _, p in self.claimed})
        report.billing_periods = periods
        return {
            "status": "succeeded",
            "rows_read": report.rows_read,
            "rows_kept": report.rows_kept,
            "rows_rejected": report.rows_rejected,
            "points_written": report.points_written,
            "billing_periods": periods,
            "rejected_reasons": report.rejected_reasons,
            "warnings": report.warnings,
            "quarantine_path": report.quarantine_path,
        }

    def close(self) -> None:
        if self._quarantine is not None:
            self._quarantine.close()


def _reason_counts(reasons: pd.Series) -> dict[str, int]:
    """Count reasons by kind: the part before the first ':' (values differ row to row)."""
    kinds = reasons.astype(str).str.split(":", n=1).str[0]
    return {str(k): int(v) for k, v in kinds.value_counts().items()}


def convert_currency(items: pd.DataFrame, settings: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Convert costs to the base currency; rows in a currency without a rate are refused."""
    base = settings.currency.base
    rates = {base: 1.0, **settings.currency.rates}
    codes, uniques = pd.factorize(items["currency"])
    known = np.array([u in rates for u in uniques], dtype=bool)
    ok = known[codes]
    rejected = pd.DataFrame()
    if not ok.all():
        bad = items.loc[~ok]
        reasons = bad["currency"].map(
            lambda c: f"BillingCurrency {c} has no exchange rate; add currency.rates.{c} "
            f"(1 {c} = how many {base}) to the config, or export in {base}"
        )
        rejected = bad.drop(columns=["tags"], errors="ignore").astype(object)
        rejected.insert(0, "reason", reasons.to_numpy())
        rejected.insert(0, "row_number", rejected.pop("row_number"))
        items = items.loc[ok]
        codes = codes[ok]
    factors = np.array([rates.get(u, np.nan) for u in uniques], dtype=float)[codes]
    if not np.all(factors == 1.0):
        items = items.copy()
        items["billed_cost"] = items["billed_cost"].to_numpy() * factors
        items["effective_cost"] = items["effective_cost"].to_numpy() * factors
    base_codes = np.zeros(len(items), dtype=np.int8)
    items = items.assign(
        currency=pd.Categorical.from_codes(base_codes, categories=[base], validate=False)
    )
    return items, rejected


def spread_hours(items: pd.DataFrame) -> pd.DataFrame:
    """One row per hour: Usage spanning several hours (daily, monthly rows) is spread evenly.

    Purchases, taxes, credits and adjustments are one-time: they stay on their first hour.
    Usage longer than 31 days is not spread (it stays on its first hour).
    """
    start = items["start"].dt.floor("h")
    span = (items["end"] - start) / pd.Timedelta(hours=1)
    hours = np.ceil(span.to_numpy(dtype=float)).clip(min=1).astype(np.int64)
    spread = (items["charge_category"].to_numpy() == "Usage") & (hours > 1) & (
        hours <= MAX_SPREAD_HOURS
    )
    counts = np.where(spread, hours, 1)
    period = items.get("billing_period_start")
    if period is None or period.isna().any():
        month = start.dt.tz_localize(None).dt.to_period("M").dt.start_time.dt.tz_localize("UTC")
        period = month if period is None else period.fillna(month)
    if not spread.any():
        out = items.assign(hour=start, billing_period_start=period)
        out["line_items"] = 1
        return out
    index = np.repeat(np.arange(len(items)), counts)
    offsets = np.arange(len(index)) - np.repeat(np.cumsum(counts) - counts, counts)
    out = items.iloc[index].reset_index(drop=True)
    naive_start = start.dt.tz_localize(None).to_numpy("datetime64[ns]")
    out["hour"] = pd.to_datetime(naive_start[index] + offsets * HOUR, utc=True)
    naive_period = period.dt.tz_localize(None).to_numpy("datetime64[ns]")
    out["billing_period_start"] = pd.to_datetime(naive_period[index], utc=True)
    share = 1.0 / counts[index]
    for column in ("billed_cost", "effective_cost", "usage_quantity"):
        out[column] = out[column].to_numpy(dtype=float) * share
    out["line_items"] = np.where(offsets == 0, 1, 0)
    return out


def aggregate(items: pd.DataFrame) -> pd.DataFrame:
    """Sum line items into one point per series, hour and billing period."""
    keys = ["series_id", "hour", "billing_period_start"]
    values = ["billed_cost", "effective_cost", "usage_quantity", "line_items"]
    items = items[[*keys, *values]]
    return (
        items.groupby(keys, sort=False, dropna=False, observed=True)[values]
        .sum()
        .reset_index()
    )
