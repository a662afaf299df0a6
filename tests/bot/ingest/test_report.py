"""What an ingest reports: totals of a delivery, and whether `spendwatch ingest` succeeded."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.ingest.report import FileReport, HeldScope, IngestReport, ScopeTotals


def test_scope_totals_add_up():
    totals = ScopeTotals()
    totals.add(3, 1.5)
    totals.add(2, 0.25)
    assert (totals.rows, totals.spend) == (5, 1.75)


def test_a_delivery_sums_its_files_and_lists_the_failed_ones():
    files = [FileReport("a.csv", "ingested", rows_kept=10, rows_rejected=1),
             FileReport("b.csv", "unchanged"),
             FileReport("c.csv", "failed", message="c.csv: not a FOCUS export")]
    report = IngestReport("d-1", files)
    assert (report.rows_kept, report.rows_rejected) == (10, 1)
    assert [f.path for f in report.failed] == ["c.csv"]
    assert not report.ok


def test_a_delivery_is_ok_only_when_nothing_failed_and_nothing_was_held():
    files = [FileReport("a.csv", "ingested", rows_kept=4), FileReport("b.csv", "duplicate")]
    assert IngestReport("d-1", files).ok
    held = HeldScope(account="ba-1", period=datetime(2025, 4, 1, tzinfo=UTC),
                     current=ScopeTotals(100, 50.0), new=ScopeTotals(3, 1.0), files=["a.csv"],
                     message="the new delivery has far fewer rows; kept the current data")
    assert not IngestReport("d-1", files, held=[held]).ok
    assert IngestReport("d-1", []).ok  # an empty delivery did nothing wrong


def test_each_report_has_its_own_counters():
    first, second = FileReport("a.csv", "ingested"), FileReport("b.csv", "ingested")
    first.rejected_reasons["BilledCost is not a number"] = 1
    first.billing_periods.append("2025-04")
    assert second.rejected_reasons == {} and second.billing_periods == []
