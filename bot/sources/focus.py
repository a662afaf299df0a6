"""Read FOCUS exports (1.0 to 1.3) as a stream of parsed chunks.

A file is never held in memory whole. Parquet is read batch by batch. CSV (plain or gzip) is
cut into blocks at record boundaries here (a newline outside quotes: RFC 4180 quotes come in
pairs, so an even count of quote characters before a newline means it ends a record), and each
block is parsed by pyarrow with threads. Doing the cutting ourselves, rather than using
pyarrow's streaming reader, gives three things that reader does not: memory bounded by the
block size (it reads far ahead), progress that follows the rows actually parsed, and rows with
the wrong number of fields quarantined one by one instead of failing the file.

Only the columns spendwatch uses are converted. Rows are numbered as records: the header is 1,
the first data row 2; blank lines are not counted, and a quoted value spanning lines is one
record.
"""

from __future__ import annotations

import gzip
import io
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from bot.sources.focus_parse import (
    CHARGE_CATEGORIES,
    NULL_VALUES,
    ParsedChunk,
    canonical_frame,
    parse_frame,
    resolve_columns,
)

__all__ = [
    "CHARGE_CATEGORIES",
    "FocusFileError",
    "ParsedChunk",
    "discover_files",
    "read_chunks",
]

SUFFIXES = (".csv", ".csv.gz", ".parquet")


class Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> None: ...
_BOM = b"\xef\xbb\xbf"


class FocusFileError(Exception):
    """A file that cannot be read as FOCUS at all (not CSV/Parquet, no header, unreadable)."""


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
    chunk_bytes: int = 16 << 20,
    chunk_rows: int = 100_000,
    on_bytes: Callable[[int], None] | None = None,
    hasher: Hasher | None = None,
) -> Iterator[ParsedChunk]:
    """Yield parsed chunks of at most ``chunk_rows`` rows of one file.

    CSV is cut into blocks of about ``chunk_bytes``. ``on_bytes`` is told, after each chunk,
    how many more bytes of the file (compressed bytes for .gz) that chunk accounts for.
    ``hasher`` (a ``hashlib`` object) is fed every byte of the file as it is read, so the
    checksum costs no second pass.
    """
    currency = default_currency.strip().upper() if default_currency else None
    if path.name.lower().endswith(".parquet"):
        if hasher is not None:
            _hash_file(path, hasher)
        yield from _parquet_chunks(path, currency, on_bytes, chunk_rows)
    else:
        yield from _csv_chunks(path, currency, chunk_bytes, on_bytes, chunk_rows, hasher)


def _hash_file(path: Path, hasher: Hasher) -> None:
    try:
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                hasher.update(block)
    except OSError as exc:
        raise FocusFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None


@dataclass(slots=True)
class _Block:
    table: pa.Table
    row_numbers: np.ndarray
    invalid: list[tuple[int, str, int, int]]  # record number, text, expected, actual fields
    bytes_done: int


@dataclass(slots=True)
class _Frame:
    """A canonical frame ready for parsing, prepared in the reader thread."""

    frame: pd.DataFrame
    row_numbers: np.ndarray
    invalid: list[tuple[int, str, int, int]]
    position: int  # bytes of the file accounted for once this frame is done


def _csv_chunks(
    path: Path,
    default_currency: str | None,
    chunk_bytes: int,
    on_bytes: Callable[[int], None] | None,
    chunk_rows: int,
    hasher: Hasher | None = None,
) -> Iterator[ParsedChunk]:
    try:
        stream, raw = _open_csv(path, hasher)
    except OSError as exc:
        raise FocusFileError(f"{path}: cannot be opened ({exc.strerror or exc})") from None
    try:
        header = _header(stream, path)
        resolved = resolve_columns(header)
        wanted = sorted({c for cols in resolved.values() for c in cols})
        if not wanted:
            raise FocusFileError(
                f"{path}: none of the FOCUS columns were found in the header; "
                "is this a FOCUS export?"
            )
        blocks = _csv_blocks(stream, raw, header, wanted, chunk_bytes)
        frames = _frames(blocks, resolved, default_currency, chunk_rows)
        reported = 0
        for item in _prefetch(frames):
            chunk = parse_frame(
                item.frame, row_numbers=item.row_numbers, default_currency=default_currency
            )
            if item.invalid:
                chunk = _with_invalid_rows(chunk, item.invalid)
            if on_bytes:
                on_bytes(item.position - reported)
            reported = item.position
            yield chunk
    except (OSError, EOFError) as exc:
        raise FocusFileError(f"{path}: cannot be read ({exc})") from None
    except pa.ArrowInvalid as exc:
        raise FocusFileError(f"{path}: malformed CSV ({exc})") from None
    finally:
        stream.close()
        raw.close()


def _frames(
    blocks: Iterator[_Block],
    resolved: dict[str, list[str]],
    default_currency: str | None,
    chunk_rows: int,
) -> Iterator[_Frame]:
    """Blocks -> canonical frames of at most ``chunk_rows`` rows (runs in the reader thread:
    Arrow's compute and conversion to pandas release the GIL)."""
    reported = 0
    for block in blocks:
        block_start = reported
        slices = range(0, max(block.table.num_rows, 1), chunk_rows)
        for index, start in enumerate(slices):
            part = block.table.slice(start, chunk_rows)
            frame = canonical_frame(part, resolved, default_currency=default_currency)
            # the block's bytes are shared out over its chunks, in proportion
            share = (block.bytes_done - block_start) * (index + 1) // len(slices)
            reported = block_start + share
            yield _Frame(
                frame,
                block.row_numbers[start:start + chunk_rows],
                block.invalid if index == 0 else [],
                reported,
            )


class _HashingReader(io.RawIOBase):
    """A raw file that feeds every byte it reads to a hash (the ingest run's checksum)."""

    def __init__(self, raw: io.BufferedReader, hasher: Hasher) -> None:
        self._raw = raw
        self._hasher = hasher

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        n = self._raw.readinto(buffer) or 0
        if n:
            self._hasher.update(memoryview(buffer)[:n])
        return n

    def tell(self) -> int:
        return self._raw.tell()

    def close(self) -> None:
        self._raw.close()
        super().close()


def _open_csv(
    path: Path, hasher: Hasher | None
) -> tuple[io.BufferedIOBase, io.BufferedIOBase]:
    raw: io.BufferedIOBase = open(path, "rb")  # noqa: SIM115 (closed by the caller)
    if hasher is not None:
        raw = io.BufferedReader(_HashingReader(raw, hasher), buffer_size=1 << 20)
    if path.name.lower().endswith(".gz"):
        return gzip.GzipFile(fileobj=raw, mode="rb"), raw
    return raw, raw


def _header(stream: io.BufferedIOBase, path: Path) -> list[str]:
    line = stream.readline()
    if line.startswith(_BOM):
        line = line[len(_BOM):]
    if not line.strip():
        raise FocusFileError(f"{path}: empty file, no header row")
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        raise FocusFileError(
            f"{path}: cannot be read as a CSV export: the header is not UTF-8 text"
        ) from None
    try:
        table = pacsv.read_csv(
            pa.BufferReader(line), read_options=pacsv.ReadOptions(autogenerate_column_names=True)
        )
    except pa.ArrowInvalid as exc:
        raise FocusFileError(f"{path}: the header row is not CSV ({exc})") from None
    return [str(v[0].as_py() if len(v) else "") for v in table.columns]


def _csv_blocks(
    stream: io.BufferedIOBase,
    raw: io.BufferedIOBase,
    header: list[str],
    wanted: list[str],
    chunk_bytes: int,
) -> Iterator[_Block]:
    read_options = pacsv.ReadOptions(column_names=header, use_threads=True)
    convert_options = pacsv.ConvertOptions(
        include_columns=wanted,
        column_types={c: pa.string() for c in wanted},
        null_values=NULL_VALUES,
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    records_before = 0
    carry = b""
    while True:
        data = stream.read(chunk_bytes)
        buffer = carry + data
        if not buffer:
            return
        cut = len(buffer) if not data else _last_record_end(buffer)
        if cut <= 0:  # one record longer than a block: read on
            carry = buffer
            continue
        piece, carry = buffer[:cut], buffer[cut:]
        table, invalid = _parse_block(piece, read_options, convert_options)
        if any(number is None for number, *_ in invalid):
            # parallel parsing does not know the row numbers of bad rows: parse this block
            # again on one thread, which does
            serial = pacsv.ReadOptions(column_names=read_options.column_names, use_threads=False)
            table, invalid = _parse_block(piece, serial, convert_options)
        records = table.num_rows + len(invalid)
        positions = np.arange(records)
        if invalid:
            skipped = np.array([number - 1 for number, *_ in invalid])
            positions = np.setdiff1d(positions, skipped)
        row_numbers = records_before + 2 + positions
        invalid = [(records_before + 1 + n, text, e, a) for n, text, e, a in invalid]
        records_before += records
        yield _Block(table, row_numbers, invalid, raw.tell())
        if not data:
            return


def _parse_block(
    piece: bytes, read_options: pacsv.ReadOptions, convert_options: pacsv.ConvertOptions
) -> tuple[pa.Table, list[tuple[int | None, str, int, int]]]:
    invalid: list[tuple[int | None, str, int, int]] = []

    def keep_aside(row: pacsv.InvalidRow) -> str:
        invalid.append((row.number, row.text, row.expected_columns, row.actual_columns))
        return "skip"

    table = pacsv.read_csv(
        pa.BufferReader(piece),
        read_options=read_options,
        parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=keep_aside),
        convert_options=convert_options,
    )
    return table, invalid


def _last_record_end(buffer: bytes) -> int:
    """Offset just after the last newline that is outside quotes (0 if there is none)."""
    position = buffer.rfind(b"\n")
    while position >= 0:
        if buffer.count(b'"', 0, position) % 2 == 0:
            return position + 1
        position = buffer.rfind(b"\n", 0, position)
    return 0


def _with_invalid_rows(chunk: ParsedChunk, invalid: list[tuple[int, str, int, int]]) -> ParsedChunk:
    rows = pd.DataFrame(
        {
            "row_number": [n for n, *_ in invalid],
            "reason": [
                f"row has {actual} fields where the header has {expected}"
                for _, _, expected, actual in invalid
            ],
            "raw": [text[:2000] for _, text, *_ in invalid],
        }
    )
    rejected = pd.concat([chunk.rejected, rows], ignore_index=True)
    return ParsedChunk(chunk.items, rejected, chunk.rows_read + len(invalid))


def _prefetch(blocks: Iterator[_Frame], depth: int = 2) -> Iterator[_Frame]:
    """Read and parse ahead in a thread (pyarrow releases the GIL while parsing)."""
    items: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for block in blocks:
                while not stop.is_set():
                    try:
                        items.put(block, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
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
        resolved = resolve_columns(parquet.schema_arrow.names)
        wanted = sorted({c for cols in resolved.values() for c in cols})
        schema = parquet.schema_arrow
        text = [c for c in wanted if pa.types.is_string(schema.field(c).type)]
        parquet = pq.ParquetFile(path, read_dictionary=text)
    except (pa.ArrowInvalid, OSError) as exc:
        raise FocusFileError(f"{path}: not a readable Parquet file ({exc})") from None
    size = path.stat().st_size
    total_rows = max(parquet.metadata.num_rows, 1)

    def frames() -> Iterator[_Frame]:
        offset = 0
        for batch in parquet.iter_batches(batch_size=chunk_rows, columns=wanted):
            frame = canonical_frame(batch, resolved, default_currency=default_currency)
            numbers = np.arange(offset + 2, offset + 2 + len(frame))
            offset += len(frame)
            yield _Frame(frame, numbers, [], size * offset // total_rows)

    reported = 0
    try:
        for item in _prefetch(frames()):
            yield parse_frame(
                item.frame, row_numbers=item.row_numbers, default_currency=default_currency
            )
            if on_bytes:
                on_bytes(item.position - reported)
            reported = item.position
    except (pa.ArrowInvalid, OSError) as exc:
        raise FocusFileError(f"{path}: not a readable Parquet file ({exc})") from None
