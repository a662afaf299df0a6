"""Read FOCUS exports (1.0 to 1.3) as a stream of parsed chunks.

A file is never held in memory whole. Parquet is read batch by batch; CSV (plain or gzip) is
cut into blocks at record boundaries and parsed by pyarrow (``focus_csv``). A file without a
column spendwatch cannot do without is refused before any row is read, naming the column.

Only the columns spendwatch uses are converted. Rows are numbered as records: the header is 1,
the first data row 2; blank lines are not counted, and a quoted value spanning lines is one
record. Each chunk counts its rows identical to an earlier one in every column (``identical``).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from bot.ingest.sources.focus_csv import (
    Block,
    Hasher,
    RawRecords,
    csv_blocks,
    open_csv,
    read_header,
)
from bot.ingest.sources.focus_lines import parse_lines
from bot.ingest.sources.focus_parse import (
    CHARGE_CATEGORIES,
    FocusFileError,
    ParsedChunk,
    canonical_frame,
    check_columns,
    parse_frame,
    resolve_columns,
)
from bot.ingest.sources.identical import FullRows, count_identical
from bot.ingest.sources.objects import (
    ExportFile,
    RemoteObject,
    file_size,
    open_binary,
    open_parquet,
)

__all__ = [
    "CHARGE_CATEGORIES",
    "FocusFileError",
    "ParsedChunk",
    "discover_files",
    "read_chunks",
]

SUFFIXES = (".csv", ".csv.gz", ".parquet")
CHUNK_BYTES = 64 << 20  # of CSV read and parsed at once
CHUNK_ROWS = 250_000  # rows validated and stored at once
_T = TypeVar("_T")


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
    path: ExportFile,
    *,
    default_currency: str | None = None,
    default_account: str | None = None,
    delivery: bool = False,
    chunk_bytes: int = CHUNK_BYTES,
    chunk_rows: int = CHUNK_ROWS,
    on_bytes: Callable[[int], None] | None = None,
    hasher: Hasher | None = None,
) -> Iterator[ParsedChunk]:
    """Yield parsed chunks of at most ``chunk_rows`` rows of one file.

    ``default_currency`` and ``default_account`` stand in for BillingCurrency and
    BillingAccountId where the file has none. With ``delivery`` (the file is to be stored, and
    replaced by its re-deliveries) a file without BillingAccountId, BillingPeriodStart or
    BillingPeriodEnd is refused. CSV is cut into blocks of about ``chunk_bytes``.
    ``on_bytes`` is told, after each chunk, how many more bytes of the file (compressed bytes
    for .gz) that chunk accounts for. ``hasher`` (``bot.ingest.checksums``) is fed every byte of
    the file as it is read, so the checksum costs no second pass. ``path`` may be an object
    in a store (``objects.RemoteObject``): it is read by range requests, never downloaded.
    """
    defaults = {
        "currency": default_currency.strip().upper() if default_currency else "",
        "billing_account_id": default_account.strip() if default_account else "",
    }
    defaults = {k: v for k, v in defaults.items() if v}
    parquet = path.name.lower().endswith(".parquet")
    if hasher is not None and (parquet or not isinstance(path, RemoteObject)):
        # a local file is hashed in a thread of its own, from the page cache, while it is
        # parsed (the hash lets other threads run); a remote CSV is hashed as it streams by,
        # never downloaded twice
        with _hashing(path, hasher):
            yield from read_chunks(path, default_currency=default_currency,
                                   default_account=default_account, delivery=delivery,
                                   chunk_bytes=chunk_bytes, chunk_rows=chunk_rows,
                                   on_bytes=on_bytes)
        return
    if parquet:
        yield from _parquet_chunks(path, defaults, delivery, on_bytes, chunk_rows)
    else:
        yield from _csv_chunks(path, defaults, delivery, chunk_bytes, on_bytes, chunk_rows,
                               hasher)


@contextmanager
def _hashing(path: ExportFile, hasher: Hasher) -> Iterator[None]:
    """Feed the file to ``hasher`` in a thread while the body runs; wait for it at the end."""
    failed: list[FocusFileError] = []
    stop = threading.Event()

    def run() -> None:
        try:
            hash_file(path, hasher, stop)
        except FocusFileError as exc:
            failed.append(exc)

    worker = threading.Thread(target=run, name="focus-checksum", daemon=True)
    worker.start()
    try:
        yield
    except BaseException:
        stop.set()  # the read failed or was abandoned: the checksum is not wanted
        raise
    finally:
        worker.join()
    if failed:
        raise failed[0]


def hash_file(path: ExportFile, hasher: Hasher, stop: threading.Event | None = None) -> None:
    """Feed the whole file to ``hasher``, a block at a time (until ``stop`` is set)."""
    try:
        with open_binary(path) as handle:
            while block := handle.read(1 << 20):
                hasher.update(block)
                if stop is not None and stop.is_set():
                    return
    except OSError as exc:
        raise FocusFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None


@dataclass(slots=True)
class _Frame:
    """A chunk of Arrow columns ready for parsing, with how to name them."""

    table: pa.Table | pa.RecordBatch
    resolved: dict[str, list[str]]
    defaults: dict[str, str]
    row_numbers: np.ndarray
    rejected: list[tuple[int, str, str]]  # row number, raw text, reason
    position: int  # bytes of the file accounted for once this frame is done
    full_rows: FullRows | None


def _csv_chunks(
    path: ExportFile,
    defaults: dict[str, str],
    delivery: bool,
    chunk_bytes: int,
    on_bytes: Callable[[int], None] | None,
    chunk_rows: int,
    hasher: Hasher | None = None,
) -> Iterator[ParsedChunk]:
    try:
        stream, raw = open_csv(path, hasher)
    except OSError as exc:
        raise FocusFileError(f"{path}: cannot be opened ({exc.strerror or exc})") from None
    try:
        header = read_header(stream, path)
        resolved = _resolve(path, header, defaults, delivery)
        wanted = sorted({c for cols in resolved.values() for c in cols})
        # cutting and parsing blocks, then validating their rows, each in a thread of its own
        blocks = _prefetch(csv_blocks(stream, raw, header, wanted, chunk_bytes, typed=True),
                           depth=1)
        yield from _parsed(_frames(blocks, resolved, defaults, chunk_rows), on_bytes)
    except (OSError, EOFError) as exc:
        raise FocusFileError(f"{path}: cannot be read ({exc})") from None
    except pa.ArrowInvalid as exc:
        raise FocusFileError(f"{path}: malformed CSV ({exc})") from None
    finally:
        stream.close()
        raw.close()


def _resolve(path: ExportFile, header: list[str], defaults: dict[str, str], delivery: bool
             ) -> dict[str, list[str]]:
    resolved = resolve_columns(header)
    if not resolved:
        raise FocusFileError(
            f"{path}: none of the FOCUS columns were found in the header; "
            "is this a FOCUS export?"
        )
    check_columns(str(path), header, defaults, delivery=delivery)
    read = {name.strip().lstrip("\ufeff").lower() for names in resolved.values() for name in names}
    names = [h.strip().lstrip("\ufeff") for h in header]
    twice = sorted({n for n in names if n.lower() in read and
                    sum(m.lower() == n.lower() for m in names) > 1})
    if twice:
        raise FocusFileError(
            f"{path}: the header names {', '.join(twice)} more than once, so which column "
            f"counts is ambiguous; export each FOCUS column once"
        )
    return resolved


def _parsed(frames: Iterator[_Frame], on_bytes: Callable[[int], None] | None
            ) -> Iterator[ParsedChunk]:
    """Chunks parsed ahead in a thread (see :func:`_parse`); tell the bytes done."""
    reported = 0
    for chunk, position in _prefetch(_parse(frames)):
        if on_bytes:
            on_bytes(position - reported)
        reported = position
        yield chunk


def _parse(frames: Iterator[_Frame]) -> Iterator[tuple[ParsedChunk, int]]:
    """Parse frames; count identical rows. Runs in the reader thread, so that parsing the
    next chunk overlaps with storing the last one (Arrow, NumPy and SQLite release the GIL
    for much of their work).

    A chunk is parsed line by line (``focus_lines``) unless one of its rows needs the row by
    row path: a refusal, a note on an empty cost, costs as text."""
    for item in frames:
        chunk = parse_lines(item.table, item.resolved, defaults=item.defaults,
                            row_numbers=item.row_numbers)
        if chunk is None:
            frame = canonical_frame(item.table, item.resolved, defaults=item.defaults)
            chunk = parse_frame(frame, row_numbers=item.row_numbers)
        if item.full_rows is not None:
            identical = count_identical(chunk.items, item.full_rows)
            if identical:
                chunk.notes["identical"] = identical
        if item.rejected:
            chunk = _with_rejected_rows(chunk, item.rejected)
        yield chunk, item.position


def _frames(
    blocks: Iterator[Block],
    resolved: dict[str, list[str]],
    defaults: dict[str, str],
    chunk_rows: int,
) -> Iterator[_Frame]:
    """Blocks -> canonical frames of at most ``chunk_rows`` rows (runs in the reader thread:
    Arrow's compute and conversion to pandas release the GIL)."""
    reported = 0
    for block in blocks:
        block_start = reported
        slices = range(0, max(block.table.num_rows, 1), chunk_rows)
        records = block.records
        for index, start in enumerate(slices):
            part = block.table.slice(start, chunk_rows)
            # the block's bytes are shared out over its chunks, in proportion
            share = (block.bytes_done - block_start) * (index + 1) // len(slices)
            reported = block_start + share
            yield _Frame(
                part,
                resolved,
                defaults,
                block.row_numbers[start:start + chunk_rows],
                block.rejected if index == 0 else [],
                reported,
                records.texts if isinstance(records, RawRecords) else None,
            )


def _with_rejected_rows(chunk: ParsedChunk, rejected: list[tuple[int, str, str]]
                        ) -> ParsedChunk:
    rows = pd.DataFrame(
        {
            "row_number": [n for n, _, _ in rejected],
            "reason": [reason for _, _, reason in rejected],
            "raw": [text[:2000] for _, text, _ in rejected],
        }
    )
    both = pd.concat([chunk.rejected, rows], ignore_index=True)
    return replace(chunk, rejected=both, rows_read=chunk.rows_read + len(rejected))


def _prefetch(blocks: Iterator[_T], depth: int = 2) -> Iterator[_T]:
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


class _ParquetRows:
    """Every column of some rows of a Parquet file, read by row group only when asked."""

    def __init__(self, path: ExportFile) -> None:
        self._path = path
        self._file: pq.ParquetFile | None = None
        self._group: tuple[int, pa.Table] | None = None

    def rows(self, row_numbers: np.ndarray) -> list[str]:
        if self._file is None:  # its own handle: the reader thread is using the other one
            self._file = open_parquet(self._path)
        sizes = [self._file.metadata.row_group(g).num_rows
                 for g in range(self._file.num_row_groups)]
        starts = np.concatenate(([0], np.cumsum(sizes)))
        positions = np.asarray(row_numbers, dtype=np.int64) - 2
        groups = np.searchsorted(starts, positions, side="right") - 1
        out: list[str] = [""] * len(positions)
        for group in np.unique(groups):
            where = np.flatnonzero(groups == group)
            table = self._row_group(int(group)).take(positions[where] - starts[group])
            for at, row in zip(where.tolist(), table.to_pylist(), strict=True):
                out[at] = repr(tuple(row.values()))
        return out

    def close(self) -> None:
        if self._file is not None:
            self._file.close(force=True)
        self._file, self._group = None, None

    def _row_group(self, group: int) -> pa.Table:
        if self._group is None or self._group[0] != group:
            assert self._file is not None
            self._group = (group, self._file.read_row_group(group))
        return self._group[1]


def _parquet_chunks(
    path: ExportFile,
    defaults: dict[str, str],
    delivery: bool,
    on_bytes: Callable[[int], None] | None,
    chunk_rows: int,
) -> Iterator[ParsedChunk]:
    try:
        parquet = open_parquet(path)
        schema = parquet.schema_arrow
        resolved = _resolve(path, schema.names, defaults, delivery)
        wanted = sorted({c for cols in resolved.values() for c in cols})
        text = [c for c in wanted if pa.types.is_string(schema.field(c).type)]
        metadata = parquet.metadata
        parquet.close(force=True)
        parquet = open_parquet(path, read_dictionary=text, metadata=metadata)
    except (pa.ArrowInvalid, OSError) as exc:
        raise FocusFileError(f"{path}: not a readable Parquet file ({exc})") from None
    size = file_size(path)
    total_rows = max(parquet.metadata.num_rows, 1)
    full_rows = _ParquetRows(path)

    def frames() -> Iterator[_Frame]:
        offset = 0
        pool = pa.default_memory_pool()
        for batch in parquet.iter_batches(batch_size=chunk_rows, columns=wanted):
            numbers = np.arange(offset + 2, offset + 2 + batch.num_rows)
            offset += batch.num_rows
            yield _Frame(batch, resolved, defaults, numbers, [], size * offset // total_rows,
                         full_rows.rows)
            del batch
            # the allocator keeps freed batches for reuse unless told: memory would grow with
            # the file
            pool.release_unused()

    try:
        yield from _parsed(frames(), on_bytes)
    except (pa.ArrowInvalid, OSError) as exc:
        raise FocusFileError(f"{path}: not a readable Parquet file ({exc})") from None
    finally:
        full_rows.close()
        parquet.close(force=True)
