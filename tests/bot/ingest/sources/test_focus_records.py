"""Record ends in raw CSV text, from bytes or from an Arrow buffer alike."""

from __future__ import annotations

import pyarrow as pa
import pytest

from bot.ingest.sources.focus_records import count_byte, last_record_end, record_bounds


@pytest.mark.parametrize(
    ("text", "quotes_before", "end"),
    [
        (b"a,b\nc,d\n", 0, 8),
        (b"a,b\nc,d", 0, 4),  # the last record has no newline yet: cut before it
        (b'a,"x\ny"\nc', 0, 8),  # the newline inside quotes ends nothing
        (b'a,"x\ny', 0, 0),  # still inside the quoted value: no record ends here
        (b'x"\nc,d\n', 1, 7),  # the quote opened before this text closes on its first line
        (b"no newline at all", 0, 0),
        (b"", 0, 0),
    ],
)
def test_the_cut_is_after_the_last_newline_outside_quotes(text, quotes_before, end):
    assert last_record_end(text, quotes_before) == end
    assert last_record_end(pa.py_buffer(text), quotes_before) == end


def test_the_last_newline_is_found_far_from_the_end():
    text = b"a,b\n" + b"x" * (300 << 10)  # longer than one window of the backward search
    assert last_record_end(text) == 4


def test_bytes_are_counted_across_windows():
    text = (b'"' + b"x" * ((1 << 20) - 1)) * 3 + b'"'
    assert count_byte(text, ord('"')) == 4
    assert count_byte(pa.py_buffer(text), ord('"')) == 4


def test_record_bounds_skip_blank_lines_and_line_ends():
    starts, ends = record_bounds(pa.py_buffer(b'a\r\n\r\n"b\nc"\nd'))
    assert list(zip(starts.tolist(), ends.tolist(), strict=True)) == [(0, 1), (5, 10), (11, 12)]
