"""One file's parsed chunks into hourly points in a real store; refused rows into quarantine."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text
from sqlmodel import Session

from bot.ingest import writer as writer_module
from bot.ingest.allocation import Allocator
from bot.ingest.report import FileReport
from bot.ingest.sources import focus as focus_module
from bot.ingest.sources.focus import read_chunks
from bot.ingest.sources.focus_lines import parse_lines
from bot.ingest.writer import PointWriter
from bot.settings import CurrencySettings, Settings
from storage.queries import points as points_q
from storage.queries import runs
from tests.support.focus_files import write_focus_csv

APRIL, MAY = datetime(2025, 4, 1, tzinfo=UTC), datetime(2025, 5, 1, tzinfo=UTC)
ROWS = [
    {},                                                              # 1.00 in April, ba-test
    {"EffectiveCost": "2.00", "ChargePeriodStart": "2025-04-10T11:00:00Z",
     "ChargePeriodEnd": "2025-04-10T12:00:00Z"},
    {"EffectiveCost": "4.00", "BillingAccountId": "ba-other"},
    {"EffectiveCost": "8.00", "BillingPeriodStart": "2025-05-01T00:00:00Z",
     "BillingPeriodEnd": "2025-06-01T00:00:00Z", "ChargePeriodStart": "2025-05-02T00:00:00Z",
     "ChargePeriodEnd": "2025-05-02T01:00:00Z"},
    {"EffectiveCost": "not a number"},                               # refused: row 6
    {"BillingCurrency": "GBP"},                                      # refused: row 7
    {"Tags": "team=support"},                                        # kept, unallocated
]


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


def write(engine, settings: Settings, file: Path) -> tuple[PointWriter, FileReport]:
    """Read ``file`` through a PointWriter, as one file of a delivery does."""
    with engine.begin() as connection:
        with Session(bind=connection) as session:
            run_id = int(runs.create_ingest_run(
                db_session=session, delivery_id="d-1", source="test", file_path=str(file),
                checksum="", fingerprint="f", file_size=file.stat().st_size).id)
        report = FileReport(path=str(file), status="ingested", run_id=run_id)
        writer = PointWriter(settings=settings, allocator=Allocator(settings.allocation),
                             report=report, file=file, run_id=run_id, connection=connection)
        try:
            for chunk in read_chunks(file, delivery=True):
                writer.add(chunk)
            writer.flush()
        finally:
            writer.close()
    return writer, report


def stored(engine) -> pd.DataFrame:
    with engine.connect() as connection:
        return points_q.load_points(connection=connection).sort_values("hour")


def test_a_file_becomes_hourly_points_with_totals_per_account_and_period(engine, settings,
                                                                       tmp_path):
    writer, report = write(engine, settings, write_focus_csv(tmp_path / "april.csv", ROWS))

    points = stored(engine)
    assert points["effective_cost"].sum() == pytest.approx(1 + 2 + 4 + 8 + 1)
    assert set(points["project"]) == {"support-agent", "unallocated"}
    assert (report.rows_read, report.rows_kept, report.rows_rejected) == (7, 5, 2)
    assert report.points_written == 5
    assert {scope: (t.rows, t.spend) for scope, t in writer.scopes.items()} == {
        ("ba-test", APRIL): (3, pytest.approx(4.0)),
        ("ba-other", APRIL): (1, pytest.approx(4.0)),
        ("ba-test", MAY): (1, pytest.approx(8.0)),
    }
    fields = writer.run_fields()
    assert fields["status"] == "succeeded" and fields["billing_periods"] == ["2025-04",
                                                                             "2025-05"]
    assert fields["points_written"] == 5 and fields["rows_rejected"] == 2
    assert fields["warnings"] == {"Tags is not valid JSON": 1}  # kept, as unallocated
    assert fields["message"].startswith("EffectiveCost (amortised)")


def test_refused_rows_go_to_a_quarantine_file_with_their_row_number_and_reason(engine,
                                                                              settings,
                                                                              tmp_path):
    _, report = write(engine, settings, write_focus_csv(tmp_path / "april.csv", ROWS))
    path = Path(report.quarantine_path)
    assert path.parent == settings.quarantine_dir
    assert path.name == f"run-{report.run_id}-april.csv.rejected.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    rows.sort(key=lambda r: int(r["row_number"]))
    assert [(r["row_number"], r["reason"].split(":")[0]) for r in rows] == [
        ("6", "EffectiveCost is not a number"), ("7", "BillingCurrency GBP has no exchange "
                                                      "rate; add currency.rates.GBP (1 GBP = "
                                                      "how many USD) to the config, or export "
                                                      "in USD")]
    assert rows[0]["effective_cost"] == "not a number"
    # counted by kind, whatever the value was
    assert report.rejected_reasons == {"EffectiveCost is not a number": 1,
                                       rows[1]["reason"].split(":")[0]: 1}


def test_a_clean_file_leaves_no_quarantine_file(engine, settings, tmp_path):
    _, report = write(engine, settings, write_focus_csv(tmp_path / "clean.csv", ROWS[:4]))
    assert report.quarantine_path is None and report.rows_rejected == 0
    assert not settings.quarantine_dir.exists()


def test_spend_in_another_currency_is_stored_in_the_base_currency(engine, settings, tmp_path):
    euros = settings.model_copy(update={"currency": CurrencySettings(rates={"GBP": 1.25})})
    writer, report = write(engine, euros, write_focus_csv(tmp_path / "gbp.csv", [ROWS[5]]))
    assert report.rows_rejected == 0
    assert stored(engine)["effective_cost"].sum() == pytest.approx(1.25)
    assert writer.scopes[("ba-test", APRIL)].spend == pytest.approx(1.25)


def test_a_file_without_billed_cost_says_billed_is_taken_as_effective(engine, settings,
                                                                      tmp_path):
    file = write_focus_csv(tmp_path / "effective.csv", [{}], drop=["BilledCost"])
    _, report = write(engine, settings, file)
    assert "no BilledCost column" in report.cost_basis
    assert stored(engine)["billed_cost"].sum() == pytest.approx(1.0)


def test_points_are_written_in_bounded_batches_as_they_come(engine, settings, tmp_path,
                                                           monkeypatch):
    monkeypatch.setattr(writer_module, "FLUSH_POINTS", 4)
    day = {"ChargePeriodStart": "2025-04-10T00:00:00Z",
           "ChargePeriodEnd": "2025-04-11T00:00:00Z", "EffectiveCost": "24"}
    file = write_focus_csv(tmp_path / "daily.csv", [day])
    with engine.begin() as connection:
        with Session(bind=connection) as session:
            run_id = int(runs.create_ingest_run(
                db_session=session, delivery_id="d-1", source="test", file_path=str(file),
                checksum="", fingerprint="f", file_size=1).id)
        report = FileReport(path=str(file), status="ingested", run_id=run_id)
        writer = PointWriter(settings=settings, allocator=Allocator(settings.allocation),
                             report=report, file=file, run_id=run_id, connection=connection)
        for chunk in read_chunks(file, delivery=True):
            writer.add(chunk)
        assert report.points_written == 24  # written before the end of the file
        writer.flush()
        assert report.points_written == 24  # and not again
        writer.close()
    assert len(stored(engine)) == 24


def hour_rows(first: int, hours: int, lines: int) -> list[dict]:
    """``lines`` lines of spend (one project each) in each of ``hours`` hours from ``first``."""
    return [{"ChargePeriodStart": f"2025-04-{10 + h // 24:02d}T{h % 24:02d}:00:00Z",
             "ChargePeriodEnd": f"2025-04-{10 + (h + 1) // 24:02d}T{(h + 1) % 24:02d}:00:00Z",
             "EffectiveCost": "1", "Tags": f'{{"project": "p{line}"}}'}
            for h in range(first, first + hours) for line in range(lines)]


def chunks_of(engine, settings, file: Path, chunk_rows: int) -> list[int]:
    """Read ``file`` in chunks of ``chunk_rows`` rows; the points written after each chunk."""
    written = []
    with engine.begin() as connection:
        with Session(bind=connection) as session:
            run_id = int(runs.create_ingest_run(
                db_session=session, delivery_id="d-1", source="test", file_path=str(file),
                checksum="", fingerprint="f", file_size=1).id)
        report = FileReport(path=str(file), status="ingested", run_id=run_id)
        writer = PointWriter(settings=settings, allocator=Allocator(settings.allocation),
                             report=report, file=file, run_id=run_id, connection=connection)
        for chunk in read_chunks(file, delivery=True, chunk_rows=chunk_rows):
            writer.add(chunk)
            written.append(report.points_written)
        writer.flush()
        written.append(report.points_written)
        writer.close()
    return written


def test_finished_hours_are_written_while_the_file_is_still_read(engine, settings, tmp_path,
                                                                 monkeypatch):
    monkeypatch.setattr(writer_module, "EARLY_POINTS", 6)
    # 4 hours of 3 lines; a chunk of 5 rows ends in the middle of an hour
    file = write_focus_csv(tmp_path / "hours.csv", hour_rows(0, 4, 3))

    written = chunks_of(engine, settings, file, chunk_rows=5)

    assert written[:-1] != [0] * (len(written) - 1)  # actual (before): nothing until the end
    assert written[-1] == 12  # one point per line and hour, none split
    points = stored(engine)
    assert len(points) == 12 and points["effective_cost"].sum() == pytest.approx(12.0)


def test_a_file_out_of_hour_order_keeps_its_sums(engine, settings, tmp_path, monkeypatch):
    monkeypatch.setattr(writer_module, "EARLY_POINTS", 3)
    file = write_focus_csv(tmp_path / "shuffled.csv",
                           hour_rows(2, 2, 3) + hour_rows(0, 2, 3) + hour_rows(1, 1, 3))

    chunks_of(engine, settings, file, chunk_rows=3)

    points = stored(engine).groupby(["hour", "project"])["effective_cost"].sum()
    assert len(points) == 12  # each line and hour once, whatever was written in parts
    assert (points[points.index.get_level_values("hour").hour == 1] == 2.0).all()
    assert points.sum() == pytest.approx(15.0)


def _run_points(engine, run_id: int) -> list[tuple]:
    with engine.connect() as connection:
        return connection.execute(text(
            "SELECT series_id, hour, billing_period_start, billed_cost, effective_cost, "
            "usage_quantity, line_items FROM cost_point WHERE ingest_run_id = :run "
            "ORDER BY series_id, hour, billing_period_start"), {"run": run_id}).all()


def test_parsing_by_line_stores_what_parsing_row_by_row_stores(engine, settings, tmp_path,
                                                               monkeypatch):
    rows = [{**row, "SubAccountName": f" acct-{i % 3}", "EffectiveCost": str(1 + i % 5)}
            for i, row in enumerate(hour_rows(0, 30, 7))]
    rows += [{"BillingCurrency": "GBP", "EffectiveCost": "3"},
             {"Tags": "team=support"},                                 # kept, unallocated
             {"EffectiveCost": "-2"},                                  # negative Usage, noted
             {"ChargePeriodEnd": "2025-04-12T00:00:00Z", "EffectiveCost": "48"}]  # spread
    file = write_focus_csv(tmp_path / "lines.csv", rows * 2)          # every row twice
    pounds = settings.model_copy(update={"currency": CurrencySettings(rates={"GBP": 1.25})})
    by_line = []

    def counted(*args, **kwargs):
        chunk = parse_lines(*args, **kwargs)
        by_line.append(chunk is not None)
        return chunk

    monkeypatch.setattr(focus_module, "parse_lines", counted)
    _, fast = write(engine, pounds, file)
    assert by_line and all(by_line)
    monkeypatch.setattr(focus_module, "parse_lines", lambda *args, **kwargs: None)
    _, slow = write(engine, pounds, file)

    assert fast.rows_kept == slow.rows_kept == len(rows) * 2
    assert (fast.warnings, fast.notes, fast.points_written) == (
        slow.warnings, slow.notes, slow.points_written)
    assert fast.notes  # identical rows and negative Usage were counted
    assert _run_points(engine, fast.run_id) == _run_points(engine, slow.run_id)
