"""What an ingest did, file by file and for the delivery: what `spendwatch ingest` prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.ingest.enums import FileStatus

__all__ = ["FileReport", "HeldScope", "IngestReport", "ScopeTotals"]


@dataclass
class ScopeTotals:
    """Rows (line items) and effective spend of one billing account and period."""

    rows: int = 0
    spend: float = 0.0

    def add(self, rows: int, spend: float) -> None:
        self.rows += rows
        self.spend += spend


@dataclass
class FileReport:
    path: str
    status: FileStatus
    run_id: int | None = None
    rows_read: int = 0
    rows_kept: int = 0
    rows_rejected: int = 0
    points_written: int = 0
    points_replaced: int = 0
    billing_periods: list[str] = field(default_factory=list)
    rejected_reasons: dict[str, int] = field(default_factory=dict)
    # rows kept as unallocated, by allocation problem
    warnings: dict[str, int] = field(default_factory=dict)
    # rows kept but worth a word, by note ("<count> row(s) <note>")
    notes: dict[str, int] = field(default_factory=dict)
    # which FOCUS column the costs came from, as the summary states it
    cost_basis: str | None = None
    quarantine_path: str | None = None
    message: str | None = None


@dataclass
class HeldScope:
    """A billing account and period whose re-delivery was held back: the current one stays."""

    account: str
    period: datetime
    current: ScopeTotals
    new: ScopeTotals
    files: list[str]
    message: str


@dataclass
class IngestReport:
    delivery_id: str
    files: list[FileReport]
    held: list[HeldScope] = field(default_factory=list)

    @property
    def rows_kept(self) -> int:
        return sum(f.rows_kept for f in self.files)

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self.files)

    @property
    def failed(self) -> list[FileReport]:
        return [f for f in self.files if f.status == FileStatus.FAILED]

    @property
    def ok(self) -> bool:
        """Nothing failed and nothing was held back (``spendwatch ingest`` exits 0)."""
        return not self.failed and not self.held
