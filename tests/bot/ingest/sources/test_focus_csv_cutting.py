"""The CSV record cutter agrees with pyarrow reading the whole file, for any text and block size.

Blocks are cut after the last newline outside quotes; whatever the values hold (quotes, commas,
newlines, carriage returns, non-ASCII text) and wherever a block boundary falls, the rows and
their numbers must be those of one parse of the whole file.
"""

from __future__ import annotations

import csv
import io

import pyarrow as pa
import pyarrow.csv as pacsv
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.ingest.sources.focus_csv import csv_blocks, read_header
from bot.ingest.sources.focus_parse import NULL_VALUES

HEADER = ["ChargePeriodStart", "Tags", "EffectiveCost"]
VALUES = st.text(alphabet=st.sampled_from(list('ab,"\n\r é{}: 1')), max_size=12)
ROWS = st.lists(st.lists(VALUES, min_size=3, max_size=3), min_size=1, max_size=25)


def export(rows: list[list[str]], *, quote_all: bool = False, line_end: str = "\n") -> bytes:
    """RFC 4180 text; minimal quoting quotes no bare carriage return, so none is written."""
    if not quote_all:
        rows = [[value.replace("\r", "") for value in row] for row in rows]
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator=line_end,
                        quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def whole(data: bytes) -> pa.Table:
    return pacsv.read_csv(
        pa.BufferReader(data),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in HEADER}, null_values=NULL_VALUES,
            strings_can_be_null=True, quoted_strings_can_be_null=True),
    )


@settings(max_examples=150, deadline=None)
@given(rows=ROWS, chunk_bytes=st.integers(min_value=1, max_value=200), quote_all=st.booleans(),
       line_end=st.sampled_from(["\n", "\r\n"]))
def test_blocks_hold_the_rows_of_one_parse_of_the_whole_file(rows, chunk_bytes, quote_all,
                                                              line_end):
    data = export(rows, quote_all=quote_all, line_end=line_end)
    stream = io.BytesIO(data)
    assert read_header(stream, None) == HEADER  # type: ignore[arg-type]

    blocks = list(csv_blocks(stream, stream, HEADER, HEADER, chunk_bytes))

    assert [b.rejected for b in blocks if b.rejected] == []
    got = pa.concat_tables([b.table for b in blocks]).to_pylist()
    assert got == whole(data).to_pylist()
    numbers = [int(n) for b in blocks for n in b.row_numbers]
    assert numbers == list(range(2, len(rows) + 2))  # the header is row 1
