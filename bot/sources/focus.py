"""Read FOCUS exports (1.0 to 1.3) as a stream of parsed chunks.

A file is never held in memory whole: CSV (plain or gzip) is read with pyarrow's streaming CSV
reader and Parquet batch by batch, only the columns spendwatch uses. Each chunk is parsed into
canonical line items (UTC times, numbers, upper-case currency, canonical ChargeCategory) and the
rows that cannot be parsed are returned apart with their row number and a reason, so one bad row
never costs the good ones.

Tolerated on purpose, because real and spec files have them: literal ``NULL`` and empty strings
as nulls, a UTF-8 byte-order mark, column names in other casing, money written as
``"$10,000.00 "``, US-style dates (``4/1/25``), ``ProviderName`` (1.0-1.2) or
``ServiceProviderName`` (1.3).
"""

from __future__ import annotations

import csv
import gzip
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from bot.frames import factorize

__all__ = [
    "CHARGE_CATEGORIES",
    "FocusFileError",
    "ParsedChunk",
    "discover_files",
    "read_chunks",
]

SUFFIXES = (".csv", ".csv.gz", ".parquet")
CHARGE_CATEGORIES = ("Usage", "Purchase", "Tax", "Credit", "Adjustment")
_CATEGORY_LOOKUP = {c.lower(): c for c in CHARGE_CATEGORIES}

# canonical name -> FOCUS columns, first present wins per row (coalesced in this order)
COLUMNS: dict[str, tuple[str, ...]] = {
    "start": ("ChargePeriodStart",),
    "end": ("ChargePeriodEnd",),
    "billing_period_start": ("BillingPeriodStart",),
    "billed_cost": ("BilledCost",),
    "effective_cost": ("EffectiveCost",),
    "currency": ("BillingCurrency",),
    "charge_category": ("ChargeCategory",),
    "provider": ("ServiceProviderName", "ProviderName"),
    "billing_account_id": ("BillingAccountId",),
    "sub_account_id": ("SubAccountId",),
    "sub_account_name": ("SubAccountName",),
    "service_name": ("ServiceName",),
    "service_category": ("ServiceCategory",),
    "region": ("RegionId", "RegionName"),
    "usage_quantity": ("ConsumedQuantity",),
    "usage_unit": ("ConsumedUnit",),
    "tags": ("Tags",),
}
REQUIRED = ("start", "end", "charge_category")
TEXT_FIELDS = (
    "provider",
    "billing_account_id",
    "sub_account_id",
    "sub_account_name",
    "service_name",
    "service_category",
    "region",
    "usage_unit",
)
NULL_VALUES = ["", "NULL", "null", "Null", "NaN", "nan", "None"]
_US_DATE_FORMATS = ("%m/%d/%y", "%m/%d/%Y", "%m/%d/%Y %H:%M", "%m/%d/%y %H:%M", "%m/%d/%Y %H:%M:%S")
_MONEY_JUNK = r"[\s$€£¥,]"


class FocusFileError(Exception):
    """A file that cannot be read as FOCUS at all (not CSV/Parquet, no header, unreadable)."""


@dataclass(slots=True)
class ParsedChunk:
    """Line items that parsed, and the rows that did not (row_number, reason, raw values)."""

    items: pd.DataFrame
    rejected: pd.DataFrame
    rows_read: int


def discover_files(path: Path) -> list[Path]:
    """The export files at ``path`` (a file, or every matching file under a folder), sorted."""
    path = Path(path)
    if path.is_file():
        if not path.name.lower().endswith(SUFFIXES):
            raise FocusFileError(
                f"{path}: not a FOCUS export; expected a .csv, .csv.gz or .parquet file"
            )
        return [path]
    if path.is_dir():
        return sorted(
            p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(SUFFIXES)
        )
    raise FocusFileError(f"{path}: no such file or folder")


def read_chunks(
    path: Path,
    *,
    default_currency: str | None = None,
    chunk_bytes: int = 4 << 20,
    chunk_rows: int = 100_000,
    on_bytes: Callable[[int], None] | None = None,
) -> Iterator[ParsedChunk]:
    """Yield parsed chunks of about ``chunk_rows`` rows of one file.

    ``on_bytes`` is told how many more bytes of the file were consumed after each chunk.
    """
    name = path.name.lower()
    if name.endswith(".parquet"):
        yield from _parquet_chunks(path, default_currency, on_bytes, chunk_rows)
    else:
        yield from _csv_chunks(path, default_currency, chunk_bytes, on_bytes, chunk_rows)


def _resolve(header: list[str]) -> dict[str, list[str]]:
    """Map canonical names to the file's actual column names (case- and space-insensitive)."""
    by_key = {h.strip().lstrip("\ufeff").lower(): h for h in header}
    found: dict[str, list[str]] = {}
    for canonical, names in COLUMNS.items():
        actual = [by_key[n.lower()] for n in names if n.lower() in by_key]
        if actual:
            found[canonical] = actual
    return found


def _read_header(path: Path) -> list[str]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle), None)
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise FocusFileError(f"{path}: cannot be read as CSV ({exc})") from None
    if not header:
        raise FocusFileError(f"{path}: empty file, no header row")
    return header


def _csv_chunks(
    path: Path,
    default_currency: str | None,
    chunk_bytes: int,
    on_bytes: Callable[[int], None] | None,
    chunk_rows: int = 100_000,
) -> Iterator[ParsedChunk]:
    header = _read_header(path)
    resolved = _resolve(header)
    wanted = sorted({c for cols in resolved.values() for c in cols})
    if not wanted:
        raise FocusFileError(
            f"{path}: none of the FOCUS columns were found in the header; is this a FOCUS export?"
        )
    raw = pa.OSFile(str(path), "rb")
    stream: pa.NativeFile = raw
    if path.name.lower().endswith(".gz"):
        stream = pa.CompressedInputStream(raw, "gzip")
    try:
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(
                block_size=chunk_bytes, encoding="utf8", use_threads=False
            ),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                include_columns=wanted,
                column_types={c: pa.string() for c in wanted},
                null_values=NULL_VALUES,
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
        offset = 0
        consumed = 0
        # pyarrow parses the next block in a background thread while this one is processed
        for batch in _prefetch(reader, min_rows=chunk_rows):
            frame = canonical_frame(batch, resolved, default_currency=default_currency)
            yield parse_frame(frame, offset=offset, default_currency=default_currency)
            offset += len(frame)
            if on_bytes:
                position = raw.tell()
                on_bytes(position - consumed)
                consumed = position
    except pa.ArrowInvalid as exc:
        raise FocusFileError(f"{path}: malformed CSV ({exc})") from None
    finally:
        stream.close()


def _prefetch(
    iterator: Iterator[pa.RecordBatch], *, min_rows: int, depth: int = 2
) -> Iterator[pa.Table]:
    """Read ahead in a thread (pyarrow releases the GIL while parsing), ``min_rows`` at a time.

    pyarrow's streaming reader reads many blocks ahead, so its blocks are kept small (memory)
    and gathered here into chunks large enough to keep the per-chunk work in pandas cheap.
    """
    items: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        def hand_over(batches: list[pa.RecordBatch]) -> bool:
            table = pa.Table.from_batches(batches)
            while not stop.is_set():
                try:
                    items.put(table, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        try:
            pending: list[pa.RecordBatch] = []
            rows = 0
            for batch in iterator:
                pending.append(batch)
                rows += batch.num_rows
                if rows >= min_rows:
                    if not hand_over(pending):
                        return
                    pending, rows = [], 0
            if pending and not hand_over(pending):
                return
            items.put(done)
        except BaseException as exc:  # handed to the consumer, re-raised there
            items.put(exc)

    worker = threading.Thread(target=produce, name="focus-csv-reader", daemon=True)
    worker.start()
    try:
        while True:
            item = items.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join(timeout=5)


def _parquet_chunks(
    path: Path,
    default_currency: str | None,
    on_bytes: Callable[[int], None] | None,
    chunk_rows: int,
) -> Iterator[ParsedChunk]:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise FocusFileError(f"{path}: not a readable Parquet file ({exc})") from None
    resolved = _resolve(parquet.schema_arrow.names)
    wanted = sorted({c for cols in resolved.values() for c in cols})
    numeric = {c for f in NUMERIC_FIELDS for c in resolved.get(f, [])}
    schema = parquet.schema_arrow
    text = [c for c in wanted if c not in numeric and pa.types.is_string(schema.field(c).type)]
    parquet = pq.ParquetFile(path, read_dictionary=text)
    size = path.stat().st_size
    total_rows = max(parquet.metadata.num_rows, 1)
    offset = 0
    reported = 0
    for batch in parquet.iter_batches(batch_size=chunk_rows, columns=wanted):
        frame = canonical_frame(batch, resolved, default_currency=default_currency)
        yield parse_frame(frame, offset=offset, default_currency=default_currency)
        offset += len(frame)
        if on_bytes:
            position = size * offset // total_rows
            on_bytes(position - reported)
            reported = position


NUMERIC_FIELDS = ("billed_cost", "effective_cost", "usage_quantity")


def canonical_frame(
    batch: pa.RecordBatch | pa.Table,
    resolved: dict[str, list[str]],
    *,
    default_currency: str | None,
) -> pd.DataFrame:
    """Arrow batch -> pandas frame with canonical column names.

    Alternative columns are coalesced in Arrow, and text columns are dictionary-encoded there
    (pandas categoricals), so later steps work once per distinct value instead of per row.
    """
    names = [str(n).lstrip("\ufeff") for n in batch.schema.names]
    columns = dict(zip(names, batch.columns, strict=True))
    arrays: dict[str, pa.Array] = {}
    for canonical, actual in resolved.items():
        present = [columns[a.lstrip("\ufeff")] for a in actual if a.lstrip("\ufeff") in columns]
        if not present:
            continue
        array = present[0] if len(present) == 1 else pc.coalesce(*present)
        if canonical == "currency" and default_currency:
            array = pc.coalesce(array, pa.scalar(default_currency, type=array.type))
        textual = pa.types.is_string(array.type) or pa.types.is_large_string(array.type)
        if textual and canonical not in NUMERIC_FIELDS:
            array = pc.dictionary_encode(array)
        arrays[canonical] = array
    if not arrays:
        return pd.DataFrame(index=pd.RangeIndex(batch.num_rows))
    return pa.table(arrays).to_pandas()


def parse_frame(
    frame: pd.DataFrame,
    *,
    offset: int,
    default_currency: str | None = None,
) -> ParsedChunk:
    """Parse one chunk (canonical column names, raw values) into line items and rejected rows."""
    n = len(frame)
    row_numbers = np.arange(offset + 2, offset + 2 + n)  # data rows start on line 2
    reasons = np.full(n, None, dtype=object)
    bad = np.zeros(n, dtype=bool)

    def reject(mask: np.ndarray, reason: str | Callable[[], np.ndarray]) -> None:
        mask = mask & ~bad
        if mask.any():
            reasons[mask] = reason()[mask] if callable(reason) else reason
            bad[mask] = True

    def column(canonical: str) -> pd.Series | None:
        return frame[canonical] if canonical in frame.columns else None

    items: dict[str, object] = {}
    for canonical in REQUIRED:
        if canonical not in frame.columns:
            reject(np.ones(n, bool), f"missing column {COLUMNS[canonical][0]} (FOCUS mandatory)")

    for canonical in ("start", "end", "billing_period_start"):
        raw = column(canonical)
        if raw is None:
            continue
        parsed = _to_utc(raw)
        present = raw.notna().to_numpy()
        label = COLUMNS[canonical][0]
        if canonical != "billing_period_start":
            reject(~present, f"{label} is empty")
        reject(
            present & parsed.isna().to_numpy(),
            lambda raw=raw, label=label: _describe_values(raw, f"{label} is not a date"),
        )
        items[canonical] = parsed

    costs = {c: column(c) for c in ("billed_cost", "effective_cost")}
    if costs["billed_cost"] is None and costs["effective_cost"] is None:
        reject(np.ones(n, bool), "missing column BilledCost and EffectiveCost (FOCUS mandatory)")
    numbers: dict[str, pd.Series] = {}
    for canonical, raw in costs.items():
        if raw is None:
            continue
        values = _to_number(raw)
        label = COLUMNS[canonical][0]
        reject(
            raw.notna().to_numpy() & values.isna().to_numpy(),
            lambda raw=raw, label=label: _describe_values(raw, f"{label} is not a number"),
        )
        numbers[canonical] = values
    billed = numbers.get("billed_cost", numbers.get("effective_cost"))
    effective = numbers.get("effective_cost", billed)
    if billed is not None and effective is not None:
        billed_filled = billed.fillna(effective)
        effective = effective.fillna(billed)
        billed = billed_filled
        reject(billed.isna().to_numpy(), "BilledCost and EffectiveCost are both empty")
        items["billed_cost"] = billed.fillna(0.0)
        items["effective_cost"] = effective.fillna(0.0)

    category = column("charge_category")
    if category is not None:
        canonical_category = _canonical_category(category)
        reject(
            category.isna().to_numpy(), "ChargeCategory is empty"
        )
        reject(
            category.notna().to_numpy() & canonical_category.isna().to_numpy(),
            lambda: _describe_values(
                category,
                "ChargeCategory is not one of " + ", ".join(CHARGE_CATEGORIES),
            ),
        )
        items["charge_category"] = canonical_category

    currency = column("currency")
    if currency is None:
        if default_currency:
            items["currency"] = pd.Series(default_currency, index=frame.index, dtype=object)
        else:
            reject(
                np.ones(n, bool),
                "missing column BillingCurrency; declare the currency of this source "
                "(sources[].currency, or --currency on the command line)",
            )
    else:
        reject(currency.isna().to_numpy(), "BillingCurrency is empty")
        items["currency"] = _clean_text(currency, upper=True)

    quantity = column("usage_quantity")
    items["usage_quantity"] = (
        _to_number(quantity).fillna(0.0) if quantity is not None else 0.0
    )
    for canonical in TEXT_FIELDS:
        raw = column(canonical)
        items[canonical] = _clean_text(raw) if raw is not None else ""
    tags = column("tags")
    items["tags"] = tags.astype(object) if tags is not None else None

    result = pd.DataFrame(items, index=frame.index)
    if "end" in result and "start" in result:
        backwards = (result["end"] < result["start"]).to_numpy()
        reject(backwards, "ChargePeriodEnd is before ChargePeriodStart")
    ok = ~bad
    good = result.loc[ok].reset_index(drop=True)
    good["row_number"] = row_numbers[ok]
    bad = frame.loc[~ok].astype(object).reset_index(drop=True)
    bad.insert(0, "reason", reasons[~ok])
    bad.insert(0, "row_number", row_numbers[~ok])
    return ParsedChunk(items=good, rejected=bad, rows_read=n)


def _describe_values(raw: pd.Series, prefix: str) -> np.ndarray:
    return (prefix + ": " + raw.astype(object).fillna("").astype(str).str.slice(0, 60).map(repr)
            ).to_numpy(dtype=object)


def _clean_text(raw: pd.Series, *, upper: bool = False) -> pd.Categorical:
    """Stripped text as a categorical; work is done once per distinct value."""
    codes, uniques = factorize(raw)
    cleaned = pd.Series(uniques, dtype=object).astype(str).str.strip()
    if upper:
        cleaned = cleaned.str.upper()
    final_codes, categories = pd.factorize(pd.concat([cleaned, pd.Series([""])]))
    return pd.Categorical.from_codes(final_codes[codes], categories=categories)


def _canonical_category(raw: pd.Series) -> pd.Series:
    codes, uniques = factorize(raw)
    mapped = np.array(
        [_CATEGORY_LOOKUP.get(str(u).strip().lower()) for u in uniques] + [None], dtype=object
    )
    return pd.Series(mapped[codes], index=raw.index)


def _to_number(raw: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(raw.dtype):
        return raw.astype("float64")
    try:  # fast path: every value is a plain number
        array = pc.cast(pa.array(raw, type=pa.string()), pa.float64())
        return pd.Series(array.to_numpy(zero_copy_only=False), index=raw.index, dtype="float64")
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        pass
    values = pd.to_numeric(raw, errors="coerce")
    retry = raw.notna() & values.isna()
    if retry.any():
        text = raw[retry].astype(str).str.strip()
        negative = text.str.startswith("(") & text.str.endswith(")")
        text = text.str.strip("()").str.replace(_MONEY_JUNK, "", regex=True)
        cleaned = pd.to_numeric(text, errors="coerce")
        cleaned[negative] = -cleaned[negative]
        values = values.astype("float64")
        values[retry] = cleaned
    return values.astype("float64")


def _to_utc(raw: pd.Series) -> pd.Series:
    """Parse ISO 8601 (with or without offset) and US-style dates; naive means UTC."""
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        return raw.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_dtype(raw.dtype):
        return raw.dt.tz_localize("UTC")
    codes, uniques = factorize(raw)
    text = pd.Series(uniques, dtype=object).astype(str).str.strip()
    parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    for fmt in _US_DATE_FORMATS:
        missing = parsed.isna()
        if not missing.any():
            break
        parsed[missing] = pd.to_datetime(text[missing], format=fmt, utc=True, errors="coerce")
    values = parsed.dt.tz_localize(None).to_numpy("datetime64[ns]")
    out = np.append(values, np.datetime64("NaT", "ns"))[codes]
    return pd.Series(pd.to_datetime(out, utc=True), index=raw.index)
