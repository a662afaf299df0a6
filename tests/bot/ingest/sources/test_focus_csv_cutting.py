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


# --- costs and dates typed by pyarrow -----------------------------------------------------------

TYPED_HEADER = ["ChargePeriodStart", "EffectiveCost", "Tags"]


def typed_blocks(lines: list[str], chunk_bytes: int) -> list:
    data = ("\n".join([",".join(TYPED_HEADER), *lines]) + "\n").encode()
    stream = io.BytesIO(data)
    read_header(stream, None)  # type: ignore[arg-type]
    return list(csv_blocks(stream, stream, TYPED_HEADER, TYPED_HEADER, chunk_bytes, typed=True))


def test_typed_blocks_hold_costs_as_numbers_and_dates_as_utc_times():
    blocks = typed_blocks(["2025-04-01T02:00:00+02:00,1.5,a", "2025-04-01T01:00:00Z,,b"], 1 << 20)

    table = blocks[0].table
    assert table.schema.field("EffectiveCost").type == pa.float64()
    assert table.schema.field("ChargePeriodStart").type == pa.timestamp("ns", tz="UTC")
    assert table.schema.field("Tags").type == pa.string()
    assert table.column("EffectiveCost").to_pylist() == [1.5, None]
    assert [t.isoformat() for t in table.column("ChargePeriodStart").to_pylist()] == [
        "2025-04-01T00:00:00+00:00", "2025-04-01T01:00:00+00:00"]


def test_a_value_pyarrow_cannot_type_turns_its_block_and_the_rest_of_the_file_to_text():
    lines = ["2025-04-01T00:00:00Z,1.5,a", "2025-04-01T00:00:00Z,$2,b",
             "2025-04-01T00:00:00Z,3,c", "2025-04-01T00:00:00Z,4,d"]
    blocks = typed_blocks(lines, 30)  # about one row a block

    kinds = [b.table.schema.field("EffectiveCost").type for b in blocks if b.table.num_rows]
    assert kinds == [pa.float64(), pa.string(), pa.string(), pa.string()]
    assert [v for b in blocks for v in b.table.column("EffectiveCost").to_pylist()] == [
        1.5, "$2", "3", "4"]
    assert [int(n) for b in blocks for n in b.row_numbers] == [2, 3, 4, 5]


def test_a_row_with_too_many_fields_is_set_aside_and_typing_goes_on():
    lines = ["2025-04-01T00:00:00Z,1.5,a", "2025-04-01T00:00:00Z,2,b,extra",
             "2025-04-01T00:00:00Z,3,c"]
    blocks = typed_blocks(lines, 1 << 20) + typed_blocks(lines[2:], 1 << 20)

    assert [(n, why) for b in blocks for n, _, why in b.rejected] == [
        (3, "row has 4 fields where the header has 3")]
    assert blocks[-1].table.schema.field("EffectiveCost").type == pa.float64()
