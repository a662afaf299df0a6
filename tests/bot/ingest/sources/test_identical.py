"""Rows identical to an earlier row in every column are counted (and kept), in every format."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.ingest.sources.focus import read_chunks
from tests.support.focus_files import write_focus

SAMPLE = Path("data/focus/FOCUS-Sample-Data/FOCUS-1.0/focus_sample.csv")
FORMATS = [".csv", ".csv.gz", ".parquet"]


def identical_and_kept(path: Path, **options) -> tuple[int, int]:
    chunks = list(read_chunks(path, **options))
    return (sum(c.notes.get("identical", 0) for c in chunks),
            sum(len(c.items) for c in chunks))


@pytest.mark.parametrize("suffix", FORMATS)
def test_three_identical_rows_are_kept_and_two_counted_as_repeats(tmp_path, suffix):
    row = {"EffectiveCost": "2.5", "ResourceId": "i-1"}
    path = write_focus(tmp_path / f"three{suffix}", [row, {"EffectiveCost": "1"}, row, row])

    assert identical_and_kept(path) == (2, 4)


@pytest.mark.parametrize("suffix", FORMATS)
def test_rows_that_differ_only_in_a_column_spendwatch_does_not_read_are_not_identical(
    tmp_path, suffix
):
    # ten instances billed the same in the same hour: ten line items, not one repeated
    rows = [{"EffectiveCost": "0.25", "ResourceId": f"i-{n}"} for n in range(10)]
    path = write_focus(tmp_path / f"fleet{suffix}", rows)

    assert identical_and_kept(path) == (0, 10)


def test_identical_rows_with_a_value_spanning_lines_are_found(tmp_path):
    row = {"ChargeDescription": "first line\nsecond line", "ResourceId": "i-1"}
    other = {"ChargeDescription": "first line\nanother line", "ResourceId": "i-1"}
    path = write_focus(tmp_path / "spanning.csv", [row, other, row])

    assert identical_and_kept(path) == (1, 3)


def test_identical_rows_are_counted_within_each_chunk(tmp_path):
    row = {"EffectiveCost": "3", "ResourceId": "i-1"}
    path = write_focus(tmp_path / "chunks.csv", [row] * 6 + [{"ResourceId": "i-2"}] * 4)

    # chunks of 4 rows: [r r r r] [r r x x] [x x] -> 3 + 1 + 1 + 1 repeats noticed
    assert identical_and_kept(path, chunk_rows=4) == (6, 10)
    assert identical_and_kept(path) == (8, 10)


@pytest.mark.shared
def test_the_focus_sample_has_no_identical_rows_and_its_rows_written_twice_are_found(
    tmp_path, shared_dir
):
    sample = shutil.copy(shared_dir / SAMPLE, tmp_path / "focus_sample.csv")
    assert identical_and_kept(sample) == (0, 1000)

    doubled = tmp_path / "doubled.csv"
    data = sample.read_bytes()
    header, _, body = data.partition(b"\n")
    doubled.write_bytes(header + b"\n" + body.rstrip(b"\n") + b"\n" + body)

    assert identical_and_kept(doubled) == (1000, 2000)
