"""Where the records of CSV text begin and end, found with NumPy on the raw bytes.

RFC 4180 quotes come in pairs, so a newline ends a record when an even number of quote
characters comes before it in the text. The text may be ``bytes`` or an Arrow buffer; nothing
here copies it.
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import pyarrow as pa

__all__ = ["Piece", "count_byte", "last_record_end", "record_bounds"]

NEWLINE, CR, QUOTE = 0x0A, 0x0D, 0x22
Piece: TypeAlias = "bytes | pa.Buffer"  # the text of some whole records of a file


def count_byte(piece: Piece, byte: int) -> int:
    """How many times ``byte`` occurs in ``piece``, counted a few MiB at a time (one big
    comparison would allocate, and fault in, a mask as large as the block)."""
    data = np.frombuffer(piece, dtype=np.uint8)
    step = 1 << 20
    return sum(int(np.count_nonzero(data[i:i + step] == byte))
               for i in range(0, len(data), step))


def record_bounds(piece: Piece, *, quoted_newlines: bool = True
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Start and end offsets of the non-blank records of ``piece`` (line ends excluded).

    With ``quoted_newlines`` a newline inside quotes does not end a record; without, every
    line is taken as a record (right, and faster, when no value spans lines).
    """
    data = np.frombuffer(piece, dtype=np.uint8)
    if not len(data):
        return np.array([], dtype=np.int64), np.array([], dtype=np.int64)
    ends = np.flatnonzero(data == NEWLINE)
    if quoted_newlines:
        quotes = np.flatnonzero(data == QUOTE)
        ends = ends[np.searchsorted(quotes, ends) % 2 == 0]
    if data[-1] != NEWLINE:
        ends = np.append(ends, len(data))
    starts = np.concatenate(([0], ends[:-1] + 1))
    ends = ends - ((ends > starts) & (data[np.maximum(ends - 1, 0)] == CR))
    present = ends > starts
    return starts[present], ends[present]


def last_record_end(buffer: Piece, quotes_before: int = 0) -> int:
    """Offset just after the last newline that is outside quotes (0 if there is none).

    ``quotes_before``: how many quote characters come before ``buffer`` in its record.
    """
    data = np.frombuffer(buffer, dtype=np.uint8)
    position = _last_newline(data)
    if position < 0:
        return 0
    # NumPy counts faster than bytes.count, and lets the other threads run meanwhile
    if (count_byte(data[:position], QUOTE) + quotes_before) % 2 == 0:
        return position + 1
    newlines = np.flatnonzero(data == NEWLINE)
    quotes = np.flatnonzero(data == QUOTE)
    outside = newlines[(np.searchsorted(quotes, newlines) + quotes_before) % 2 == 0]
    return int(outside[-1]) + 1 if len(outside) else 0


def _last_newline(data: np.ndarray) -> int:
    """Offset of the last newline of ``data`` (-1 if none), looked for from the end."""
    end = len(data)
    while end > 0:
        start = max(0, end - (64 << 10))
        found = np.flatnonzero(data[start:end] == NEWLINE)
        if len(found):
            return start + int(found[-1])
        end = start
    return -1
