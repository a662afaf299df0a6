"""Fuzzing the FOCUS parser and ingest with files that mix good rows and damaged ones.

Each example is one file (CSV or Parquet) of generated rows, some valid and some damaged in one
known way (not a number, not a date, unknown currency, empty account, backwards period, ...),
and maybe damaged as a whole (BOM, extra or missing columns, duplicate header, truncation,
empty). The properties, checked against the store:

* a damaged row is quarantined with its row number, a good row never is;
* what is stored for the file's billing account adds up to the good rows' cost, exactly;
* a file refused as a whole fails with a clear message and stores no point;
* no other exception: an unexpected error (the service logs it with a traceback) fails the
  example.

Every example uses its own billing account, so one store serves a whole run.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from bot.ingest.enums import FileStatus
from bot.ingest.service import ingest_path
from bot.ingest.sources.focus import FocusFileError, read_chunks
from bot.settings import Settings
from storage.db import make_engine, upgrade
from storage.models import CostPoint, CostSeries
from tests.support.focus_files import FOCUS_DEFAULTS
from tests.support.fuzzing import fuzz_settings

COLUMNS = list(FOCUS_DEFAULTS)
MANDATORY = ["ChargePeriodStart", "ChargePeriodEnd", "ChargeCategory", "EffectiveCost",
             "BillingAccountId", "BillingPeriodStart", "BillingPeriodEnd", "BillingCurrency"]

# cents, so the expected sum is exact in binary after rounding to a cent
costs = st.integers(min_value=-50_000, max_value=5_000_000).map(lambda c: c / 100)
# a bare carriage return is a line break to every CSV reader, and Python's writer leaves it
# unquoted when lines end in "\n": the generated file would not say what the rows say
free_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",),
                                  exclude_characters="\r"), max_size=40)
# what a good row's free-text cells may hold: quotes, commas, newlines, mentions, markup
text_cells = st.one_of(free_text, st.sampled_from(
    ['a "quoted" name', "comma, inside", "two\nlines", "cr\r\nlf", "<!channel>", "=1+1",
     "NULL", "  padded  ", "\u00e9\u00e8 \u4e2d\u6587 \U0001f600"]))
money_text = st.sampled_from(["{:.2f}", "${:,.2f}", " {:.2f} ", "{:.2f}"])
categories = st.sampled_from(["Usage", "usage", "Tax", "Credit", "Adjustment", "Purchase"])
currencies = st.sampled_from(["USD", "usd", " USD "])

# damage done to one row, each refused by a documented rule
ROW_DAMAGE = {
    "cost_not_a_number": {"EffectiveCost": "twelve"},
    "cost_both_empty": {"EffectiveCost": "", "BilledCost": ""},
    "cost_both_nan": {"EffectiveCost": "NaN", "BilledCost": "nan"},
    "cost_infinite": {"EffectiveCost": "inf"},
    "cost_negative_infinite": {"EffectiveCost": "-Infinity"},
    "cost_overflows": {"EffectiveCost": "1e400"},
    "cost_absurd": {"EffectiveCost": "1e300"},
    "start_not_a_date": {"ChargePeriodStart": "2025-13-45T99:00:00Z"},
    "start_empty": {"ChargePeriodStart": ""},
    "end_not_a_date": {"ChargePeriodEnd": "yesterday"},
    "period_not_a_date": {"BillingPeriodStart": "April"},
    "end_before_start": {"ChargePeriodEnd": "2025-04-01T00:00:00Z"},
    "too_long": {"ChargeCategory": "Usage", "ChargePeriodStart": "2025-01-01T00:00:00Z",
                 "ChargePeriodEnd": "2025-04-30T00:00:00Z"},
    "unknown_category": {"ChargeCategory": "Refund"},
    "empty_category": {"ChargeCategory": ""},
    "unknown_currency": {"BillingCurrency": "XQZ"},
    "empty_currency": {"BillingCurrency": ""},
    "empty_account": {"BillingAccountId": "  "},
}
FILE_DAMAGE = ("none", "bom", "extra_column", "reordered", "crlf", "missing_column",
               "duplicate_header", "truncated", "empty", "header_only", "not_utf8_header",
               "garbage")
FATAL = {"missing_column", "duplicate_header", "empty", "not_utf8_header", "garbage"}


@dataclass
class Row:
    values: dict[str, str]
    cost: float
    damage: str | None  # None: a good row


@dataclass
class Export:
    fmt: str  # "csv" or "parquet"
    rows: list[Row]
    damage: str
    cut: float = 1.0  # truncated: the share of the bytes kept
    extra: dict[str, str] = field(default_factory=dict)


@st.composite
def good_rows(draw: st.DrawFn) -> Row:
    day, hour = draw(st.integers(1, 28)), draw(st.integers(0, 22))
    hours = draw(st.integers(1, 24 * 3))
    start = f"2025-04-{day:02d}T{hour:02d}:00:00Z"
    end_hour = day * 24 + hour + hours
    end_day = min(end_hour // 24, 30)
    end = f"2025-04-{end_day:02d}T{end_hour % 24 if end_day < 30 else 0:02d}:00:00Z"
    if end <= start:
        end = f"2025-04-{day:02d}T{hour + 1:02d}:00:00Z"
    cost = draw(costs)
    values = {
        "ChargePeriodStart": start, "ChargePeriodEnd": end,
        "ChargeCategory": draw(categories), "BillingCurrency": draw(currencies),
        "EffectiveCost": draw(money_text).format(cost) if cost >= 0 else f"{cost:.2f}",
        "BilledCost": draw(st.sampled_from(["", "3.5", "garbage-is-fine-here?"])),
        "ServiceName": draw(text_cells), "RegionId": draw(text_cells),
        "SkuId": draw(text_cells),
        "Tags": draw(st.one_of(st.just(FOCUS_DEFAULTS["Tags"]), free_text,
                               st.just('{"project": "x", "owner": 5}'), st.just("[1, 2"))),
    }
    if values["BilledCost"] == "garbage-is-fine-here?":
        values["BilledCost"] = "1.00"
    return Row(values=values, cost=cost, damage=None)


@st.composite
def damaged_rows(draw: st.DrawFn) -> Row:
    row = draw(good_rows())
    damage = draw(st.sampled_from(sorted(ROW_DAMAGE)))
    return Row(values={**row.values, **ROW_DAMAGE[damage]}, cost=row.cost, damage=damage)


exports = st.builds(
    Export,
    fmt=st.sampled_from(["csv", "parquet"]),
    rows=st.lists(st.one_of(good_rows(), damaged_rows()), min_size=1, max_size=12),
    damage=st.sampled_from(FILE_DAMAGE),
    cut=st.floats(0.3, 0.99),
    extra=st.dictionaries(st.sampled_from(["Extra", "x_Custom", "Notes"]), free_text,
                          max_size=2),
)


def _header_and_rows(export: Export, account: str) -> tuple[list[str], list[dict[str, str]]]:
    header = list(COLUMNS) + [c for c in export.extra if c not in COLUMNS]
    rows = [{**FOCUS_DEFAULTS, **export.extra, **r.values, "BillingAccountId":
             r.values.get("BillingAccountId", account) if r.damage == "empty_account"
             else account} for r in export.rows]
    rows = [{k: "" if v is None else str(v) for k, v in row.items()} for row in rows]
    if export.damage == "reordered":
        header = header[::-1]
    if export.damage == "missing_column":
        header.remove("EffectiveCost")
    return header, rows


def write_export(export: Export, folder: Path, account: str) -> Path:
    """The file ``export`` describes, in ``folder``."""
    header, rows = _header_and_rows(export, account)
    path = folder / f"export-{account}.{export.fmt}"
    if export.fmt == "parquet":
        if export.damage in ("empty", "garbage", "not_utf8_header", "truncated"):
            whole = io.BytesIO()
            pq.write_table(pa.table({h: [r.get(h, "") for r in rows] for h in header}), whole)
            # Parquet names are UTF-8 by construction: a damaged magic number stands in
            data = {"empty": b"", "garbage": b"PAR1\x00garbage\x00PAR1",
                    "not_utf8_header": b"\xff\xfe" + whole.getvalue()[2:]}.get(
                export.damage, whole.getvalue()[: int(len(whole.getvalue()) * export.cut)])
            path.write_bytes(data)
            return path
        table = pa.table({h: [r.get(h, "") for r in rows] for h in header})
        if export.damage == "duplicate_header":
            table = table.append_column("EffectiveCost", table.column("EffectiveCost"))
        if export.damage == "header_only":
            table = table.slice(0, 0)
        pq.write_table(table, path)
        return path
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n" if export.damage == "crlf" else "\n")
    writer.writerow(header + (["EffectiveCost"] if export.damage == "duplicate_header" else []))
    if export.damage != "header_only":
        for row in rows:
            writer.writerow([row.get(h, "") for h in header]
                            + ([row["EffectiveCost"]] if export.damage == "duplicate_header"
                               else []))
    data = text.getvalue().encode("utf-8")
    if export.damage == "bom":
        data = b"\xef\xbb\xbf" + data
    elif export.damage == "truncated":
        data = data[: int(len(data) * export.cut)]
    elif export.damage == "empty":
        data = b""
    elif export.damage == "not_utf8_header":
        data = "Co\u00fbt;".encode("latin-1") + data
    elif export.damage == "garbage":
        data = bytes(range(256)) * 4
    path.write_bytes(data)
    return path


@dataclass
class Store:
    engine: Engine = field(repr=False)
    settings: Settings = field(repr=False)
    folder: Path = field(repr=False)


@contextmanager
def opened_store() -> Iterator[Store]:
    with tempfile.TemporaryDirectory(prefix="focus-fuzz-") as folder:
        store = open_store(Path(folder))
        try:
            yield store
        finally:
            store.engine.dispose()


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    with opened_store() as opened:
        yield opened


def open_store(folder: Path) -> Store:
    settings = Settings(database_url=f"sqlite:///{folder / 'fuzz.db'}",
                        quarantine_dir=folder / "quarantine")
    engine = make_engine(settings.database_url)
    upgrade(engine)
    return Store(engine=engine, settings=settings, folder=folder)


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def stored_cost(engine: Engine, account: str) -> tuple[int, float]:
    statement = (select(func.count(), func.coalesce(func.sum(CostPoint.effective_cost), 0.0))
                 .join(CostSeries, CostSeries.id == CostPoint.series_id)
                 .where(CostSeries.billing_account_id == account))
    with engine.connect() as connection:
        count, total = connection.execute(statement).one()
    return int(count), float(total)


def quarantined_rows(path: str | None) -> dict[int, str]:
    if not path:
        return {}
    with open(path, newline="", encoding="utf-8") as handle:
        return {int(r["row_number"]): r["reason"] for r in csv.DictReader(handle)}


def check_parser(store: Store, export: Export) -> None:
    """The parser alone: FocusFileError or chunks whose rows add up; nothing else."""
    account = f"ba-{uuid.uuid4().hex[:12]}"
    path = write_export(export, store.folder, account)
    try:
        chunks = list(read_chunks(path, delivery=True))
    except FocusFileError as exc:
        assert str(exc), "a FocusFileError must say what is wrong"
        return
    finally:
        path.unlink()
    read = sum(c.rows_read for c in chunks)
    kept = sum(len(c.items) for c in chunks)
    rejected = sum(len(c.rejected) for c in chunks)
    assert kept + rejected == read, (kept, rejected, read)
    for chunk in chunks:
        values = chunk.items["effective_cost"].to_numpy(dtype=float)
        assert all(math.isfinite(v) for v in values), values


def check_ingest(store: Store, export: Export) -> None:
    """One file through ``ingest_path``: the good rows stored and adding up, or nothing."""
    account = f"ba-{uuid.uuid4().hex[:12]}"
    path = write_export(export, store.folder, account)
    errors = _Errors()
    service_log = logging.getLogger("bot.ingest")
    service_log.addHandler(errors)
    try:
        report = ingest_path(engine=store.engine, settings=store.settings, path=path)
    finally:
        service_log.removeHandler(errors)
        path.unlink()
    unexpected = [r for r in errors.records if r.exc_info]
    assert not unexpected, (f"unexpected {unexpected[0].exc_info[0].__name__}: "  # type: ignore[index]
                            f"{unexpected[0].exc_info[1]}")  # type: ignore[index]
    [file] = report.files
    count, total = stored_cost(store.engine, account)
    if file.status == FileStatus.FAILED:
        assert file.message and str(path.name) in file.message, file.message
        assert count == 0, f"a failed file stored {count} points"
        return
    assert file.status == FileStatus.INGESTED, (file.status, file.message)
    assert export.damage not in FATAL or (export.fmt, export.damage) == (
        "parquet", "not_utf8_header"), f"{export.damage} was ingested: {file}"
    assert file.rows_kept + file.rows_rejected == file.rows_read
    quarantined = quarantined_rows(file.quarantine_path)
    if export.damage == "truncated":
        return  # the cut row may read as good or bad; what was stored is consistent
    expected_rows = 0 if export.damage == "header_only" else len(export.rows)
    assert file.rows_read == expected_rows, (file.rows_read, expected_rows)
    expected = 0.0
    for index, row in enumerate(export.rows[:expected_rows]):
        number = index + 2  # the header is row 1, in Parquet too
        if row.damage is None:
            assert number not in quarantined, (
                f"a good row was quarantined: {quarantined.get(number)} ({row.values})")
            expected += row.cost
        else:
            assert number in quarantined, (
                f"a {row.damage} row was kept: (row {number}) {row.values}")
    assert total == pytest.approx(expected, abs=1e-6), (total, expected, quarantined)


@pytest.mark.parametrize("check", [check_parser, check_ingest], ids=["parser", "ingest"])
@fuzz_settings(15)
@given(export=exports)
# an infinite cost was stored as such (and 1e308 twice in an hour sums to infinity)
@example(export=Export(fmt="csv", rows=[Row({"EffectiveCost": "inf"}, 0.0, "cost_infinite")],
                       damage="none"))
# a Parquet file naming EffectiveCost twice raised KeyError; a CSV one was read, either column
@example(export=Export(fmt="parquet", rows=[Row({}, 1.0, None)], damage="duplicate_header"))
@example(export=Export(fmt="csv", rows=[Row({}, 1.0, None)], damage="duplicate_header"))
# an empty cost cell of a Parquet text column was refused as "not a number", not read as empty
@example(export=Export(fmt="parquet", rows=[Row({"BilledCost": ""}, 1.0, None)], damage="none"))
def test_a_fuzzed_export_is_stored_whole_or_refused(store: Store, check, export: Export
                                                    ) -> None:
    check(store, export)


TARGETS = {"focus-parser": (exports, opened_store, check_parser),
           "focus-ingest": (exports, opened_store, check_ingest)}
