"""CSV exports (plain or gzip) as blocks of parsed records, cut at record boundaries.

A file is never held in memory whole: it is read in blocks of about ``chunk_bytes``, each cut
after the last newline outside quotes (RFC 4180 quotes come in pairs, so an even count of quote
characters before a newline means it ends a record), and each block is parsed by pyarrow with
threads. Doing the cutting here, rather than using pyarrow's streaming reader, gives what that
reader does not: memory bounded by the block size, progress that follows the rows parsed, and
rows that cannot be used set aside one by one instead of failing the file:

* a row with the wrong number of fields;
* a row that is not UTF-8 text (the other rows of its block are parsed without it);
* a last record cut inside a quoted value (the file ends before the quote closes).

Rows are numbered as records: the header is 1, the first data row 2; blank lines are not
counted, and a quoted value spanning lines is one record.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from bot.ingest.sources.focus_parse import NULL_VALUES, FocusFileError
from bot.ingest.sources.focus_records import (
    QUOTE,
    Piece,
    count_byte,
    last_record_end,
    record_bounds,
)
from bot.ingest.sources.objects import ExportFile, open_binary

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["Block", "Hasher", "RawRecords", "csv_blocks", "open_csv", "read_header"]

_BOM = b"\xef\xbb\xbf"
CUT_SHORT = ("the file ends inside a quoted value, so this row is incomplete (was the export "
             "cut short, or still being written?)")
NOT_UTF8 = "row is not UTF-8 text (export the file as UTF-8)"
Rejected = tuple[int, str, str]  # row number, raw text, reason
# columns pyarrow is first asked to type itself; text columns stay text (dictionary-encoded later)
_UTC = pa.timestamp("ns", tz="UTC")
TYPED: dict[str, pa.DataType] = {
    "BilledCost": pa.float64(),
    "EffectiveCost": pa.float64(),
    "ConsumedQuantity": pa.float64(),
    "ChargePeriodStart": _UTC,
    "ChargePeriodEnd": _UTC,
    "BillingPeriodStart": _UTC,
}


class Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> object: ...


@dataclass(slots=True)
class Block:
    table: pa.Table
    row_numbers: np.ndarray  # the record number of each row of ``table``
    rejected: list[Rejected]  # records that could not be parsed, by row number
    bytes_done: int
    records: RawRecords | None  # the block's text, for comparing whole rows


class RawRecords:
    """The text of one block's records, split into records only when asked."""

    def __init__(self, piece: Piece, first_row: int, count: int) -> None:
        self._piece = piece
        self._first_row = first_row
        self._count = count
        self._bounds: tuple[np.ndarray, np.ndarray] | None = None

    def texts(self, row_numbers: np.ndarray) -> list[bytes]:
        """The raw text of each of these records (row numbers of this block).

        Should the records not be found as pyarrow found them (lines ended by a lone carriage
        return), each row is given a text of its own: no row is taken for another.
        """
        if self._bounds is None:
            bounds = record_bounds(self._piece, quoted_newlines=False)
            if len(bounds[0]) != self._count:  # some value spans lines: find them exactly
                bounds = record_bounds(self._piece)
            self._bounds = bounds
        starts, ends = self._bounds
        if len(starts) != self._count:
            return [b"row %d" % n for n in row_numbers]
        index = np.asarray(row_numbers, dtype=np.int64) - self._first_row
        piece = memoryview(self._piece)
        return [piece[s:e].tobytes() for s, e in zip(starts[index].tolist(),
                                                      ends[index].tolist(), strict=True)]


class _HashingReader(io.RawIOBase):
    """A raw file that feeds every byte it reads to a hash (the ingest run's checksum)."""

    def __init__(self, raw: io.BufferedIOBase, hasher: Hasher) -> None:
        self._raw = raw
        self._hasher = hasher

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        n = self._raw.readinto(buffer) or 0
        if n:
            self._hasher.update(memoryview(buffer)[:n])
        return n

    def tell(self) -> int:
        return self._raw.tell()

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_csv(
    path: ExportFile, hasher: Hasher | None
) -> tuple[io.BufferedIOBase, io.BufferedIOBase]:
    """(text stream, raw file): the raw file tells how many bytes of the file were read.

    An object in a store is read in range requests of bounded size as the stream is consumed.
    """
    raw: io.BufferedIOBase = open_binary(path)  # type: ignore[assignment]
    if hasher is not None:
        raw = io.BufferedReader(_HashingReader(raw, hasher), buffer_size=1 << 20)
    if path.name.lower().endswith(".gz"):
        return gzip.GzipFile(fileobj=raw, mode="rb"), raw
    return raw, raw


def read_header(stream: io.BufferedIOBase, path: ExportFile) -> list[str]:
    line = stream.readline()
    if line.startswith(_BOM):
        line = line[len(_BOM):]
    if not line.strip():
        raise FocusFileError(f"{path}: empty file, no header row")
    if b"\r" in line.rstrip(b"\r\n"):  # the first "line" runs on past a bare carriage return
        raise FocusFileError(
            f"{path}: its lines end with a carriage return alone (old Mac line endings), so "
            f"no row after the header could be told apart; save it with LF or CRLF line "
            f"endings (e.g. tr '\\r' '\\n' < file > fixed.csv) and ingest it again"
        )
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


def _canonical(name: str) -> str:
    """A header name as FOCUS spells it, if it is a FOCUS name in another case."""
    key = name.strip().lstrip("\ufeff").lower()
    return next((c for c in TYPED if c.lower() == key), name)


class _Parser:
    """pyarrow's CSV parser for blocks of one file, rows it cannot parse set aside.

    Costs and dates are first parsed as numbers and UTC times by pyarrow itself, which is
    cheaper than text converted later. A value it will not take that way (money text, a date
    without a time zone) fails the block: it is parsed again as text, and so is the rest of
    the file, whose values are then read as they always were (``focus_values``).
    """

    def __init__(self, header: list[str], wanted: list[str], *, typed: bool) -> None:
        self.header = header
        self.wanted = wanted
        self.convert = self._options({c: pa.string() for c in wanted})
        types = {c: TYPED[_canonical(c)] for c in wanted if typed and _canonical(c) in TYPED}
        self.typed: pacsv.ConvertOptions | None = (
            self._options({c: types.get(c, pa.string()) for c in wanted}) if types else None)

    def _options(self, types: dict[str, pa.DataType]) -> pacsv.ConvertOptions:
        return pacsv.ConvertOptions(
            include_columns=self.wanted,
            column_types=types,
            null_values=NULL_VALUES,
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        )

    def parse(self, piece: Piece) -> tuple[pa.Table, list[tuple[int, str, str]]]:
        """The rows of ``piece``, and (record number in it from 1, text, reason) of bad ones."""
        if self.typed is not None:
            try:
                return self._parse_whole(piece, self.typed), []
            except pa.ArrowInvalid:
                pass  # a value not typed as hoped, or a row with the wrong number of fields
        try:
            table = self._parse_whole(piece, self.convert)
        except pa.ArrowInvalid:
            pass  # some row has the wrong number of fields: parse again, setting rows aside
        else:
            self.typed = None  # the rows are fine, their values are not all typed: text from now
            return table, []
        table, invalid = self._parse(piece, threads=True)
        if any(number is None for number, *_ in invalid):
            # parallel parsing does not know the row numbers of bad rows: parse this block
            # again on one thread, which does
            table, invalid = self._parse(piece, threads=False)
        numbered = [(number, text, why) for number, text, why in invalid if number is not None]
        assert len(numbered) == len(invalid), "a one-thread parse numbers every bad row"
        return table, numbered

    def _parse_whole(self, piece: Piece, convert: pacsv.ConvertOptions) -> pa.Table:
        """The block parsed as one piece on this thread, failing on any bad row.

        The fastest way when every row is good, which is nearly always: pyarrow calls back into
        Python for no row, and spends no time sharing the block out between threads (the
        reader already runs beside the thread that stores the rows, and the checksum's).
        """
        return pacsv.read_csv(
            pa.BufferReader(piece),
            read_options=pacsv.ReadOptions(column_names=self.header, use_threads=False),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=convert,
        )

    def _parse(self, piece: Piece, *, threads: bool
               ) -> tuple[pa.Table, list[tuple[int | None, str, str]]]:
        invalid: list[tuple[int | None, str, str]] = []

        def keep_aside(row: pacsv.InvalidRow) -> str:
            invalid.append((row.number, row.text, f"row has {row.actual_columns} fields where "
                                                  f"the header has {row.expected_columns}"))
            return "skip"

        table = pacsv.read_csv(
            pa.BufferReader(piece),
            read_options=pacsv.ReadOptions(column_names=self.header, use_threads=threads),
            parse_options=pacsv.ParseOptions(newlines_in_values=True,
                                             invalid_row_handler=keep_aside),
            convert_options=self.convert,
        )
        return table, invalid

    def empty(self) -> pa.Table:
        return pa.table({c: pa.array([], type=pa.string()) for c in self.wanted})


def csv_blocks(
    stream: io.BufferedIOBase,
    raw: io.BufferedIOBase,
    header: list[str],
    wanted: list[str],
    chunk_bytes: int,
    *,
    typed: bool = False,
) -> Iterator[Block]:
    """Parsed blocks of the data rows of ``stream`` (read past its header).

    Every column is text, unless ``typed``: then the costs and dates of :data:`TYPED` are
    numbers and UTC times in the blocks where pyarrow could read every value that way.
    """
    parser = _Parser(header, wanted, typed=typed)
    first_row = 2
    for piece, last in _pieces(stream, chunk_bytes):
        if last and count_byte(piece, QUOTE) % 2:
            block = Block(parser.empty(), np.array([], dtype=np.int64),
                          [(first_row, _text(piece), CUT_SHORT)], raw.tell(), None)
            records = 1
        else:
            block, records = _block(parser, piece, first_row, raw.tell())
        first_row += records
        yield block


def _pieces(stream: io.BufferedIOBase, chunk_bytes: int) -> Iterator[tuple[pa.Buffer, bool]]:
    """The rest of ``stream`` in pieces of whole records (the last one: whatever is left).

    Each piece is read into a buffer of Arrow's memory pool, after the end of the previous
    piece's last record: the pool hands the same memory back block after block, and the
    bytes are copied once, by the read, whatever the block size.
    """
    carry = b""
    while True:
        buffer = pa.allocate_buffer(len(carry) + chunk_bytes)
        view = memoryview(buffer).cast("B")
        view[:len(carry)] = carry
        read = _fill(stream, view[len(carry):])
        data = buffer.slice(0, len(carry) + read)
        if not read:
            if len(data):
                yield data, True
            return
        cut = last_record_end(data)
        if cut <= 0:  # one record longer than a block: read on
            carry = data.to_pybytes()
            continue
        carry = data.slice(cut).to_pybytes()
        yield data.slice(0, cut), False


def _fill(stream: io.BufferedIOBase, view: memoryview) -> int:
    """Read into ``view`` until it is full or the stream ends; how many bytes were read."""
    filled = 0
    while filled < len(view):
        n = stream.readinto(view[filled:])
        if not n:
            break
        filled += n
    return filled


def _block(parser: _Parser, piece: Piece, first_row: int, bytes_done: int
           ) -> tuple[Block, int]:
    """One block's rows numbered from ``first_row``, and how many records it held."""
    kept: np.ndarray | None = None
    undecodable: list[Rejected] = []
    parsed_piece = piece
    try:
        # ASCII is UTF-8, and far cheaper to check than to decode
        if len(piece) and np.frombuffer(piece, dtype=np.uint8).max() >= 0x80:
            str(piece, "utf-8")
    except UnicodeDecodeError:
        parsed_piece, kept, undecodable = _without_undecodable(bytes(piece), first_row)
    table, invalid = (parser.parse(parsed_piece) if not _blank(parsed_piece)
                      else (parser.empty(), []))
    parsed = table.num_rows + len(invalid)
    if kept is None:
        kept = np.arange(parsed)
    elif len(kept) != parsed:
        raise FocusFileError(f"malformed CSV in the rows from {first_row} on")
    positions = np.delete(kept, [number - 1 for number, *_ in invalid])
    rejected = sorted([*undecodable, *((first_row + int(kept[number - 1]), text, reason)
                                       for number, text, reason in invalid)])
    records = parsed + len(undecodable)
    block = Block(table, first_row + positions, rejected, bytes_done,
                  RawRecords(piece, first_row, records))
    return block, records


def _without_undecodable(piece: bytes, first_row: int
                         ) -> tuple[bytes, np.ndarray, list[Rejected]]:
    """The block without its records that are not UTF-8, the index of those kept, and them."""
    starts, ends = record_bounds(piece)
    kept, rejected, parts = [], [], []
    for index, (start, end) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        text = piece[start:end]
        try:
            text.decode("utf-8")
        except UnicodeDecodeError as exc:
            where = f"byte 0x{text[exc.start]:02x} at position {exc.start + 1} of the row"
            rejected.append((first_row + index, _text(text), f"{NOT_UTF8}: {where}"))
            continue
        kept.append(index)
        parts.append(text)
    return b"\n".join(parts) + b"\n", np.array(kept, dtype=np.int64), rejected


def _blank(piece: Piece) -> bool:
    """Whether ``piece`` is whitespace only (without copying a block to find out)."""
    view = memoryview(piece)
    return not len(view) or (
        view[:1].tobytes().isspace() and view[-1:].tobytes().isspace()
        and not view.tobytes().strip())


def _text(raw: Piece) -> str:
    return str(memoryview(raw)[:8000], "utf-8", errors="replace")[:2000]
