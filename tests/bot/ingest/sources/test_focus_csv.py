"""CSV files that are damaged: a last record cut inside quotes, bytes that are not UTF-8.

Each damaged row is set aside with its row number and reason; every other row is kept.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from bot.ingest.sources.focus import FocusFileError
from tests.bot.ingest.sources.test_focus import parse, reasons
from tests.support.focus_files import write_focus_csv, write_focus_gzip

SAMPLE = Path("data/focus/FOCUS-Sample-Data/FOCUS-1.0/focus_sample.csv")
CUT_SHORT = ("the file ends inside a quoted value, so this row is incomplete (was the export "
             "cut short, or still being written?)")


def tagged(n: int) -> list[dict]:
    return [{"EffectiveCost": str(i + 1), "Tags": f'{{"project": "p{i}", "owner": "team-{i}"}}'}
            for i in range(n)]


def cut_inside_the_last_tags(path: Path) -> Path:
    """The file as an export still being written leaves it: cut inside its last quoted value."""
    data = path.read_bytes()
    path.write_bytes(data[:data.rstrip(b"\n").rfind(b'""owner')])
    return path


# --- a last record cut short ----------------------------------------------------------------


@pytest.mark.parametrize("chunk_bytes", [16 << 20, 256])
def test_a_last_record_cut_inside_a_quoted_value_is_refused_not_kept(tmp_path, chunk_bytes):
    path = cut_inside_the_last_tags(write_focus_csv(tmp_path / "cut.csv", tagged(8)))

    items, rejected = parse(path, chunk_bytes=chunk_bytes)

    assert items["row_number"].tolist() == list(range(2, 9))  # actual: row 9 kept, tags cut
    assert reasons(rejected) == {9: CUT_SHORT}
    assert rejected["raw"][0].endswith('{""project"": ""p7"", ')  # the text it had


def test_a_gzip_export_cut_inside_a_quoted_value_is_refused_too(tmp_path):
    plain = cut_inside_the_last_tags(write_focus_csv(tmp_path / "cut.csv", tagged(3)))
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(gzip.compress(plain.read_bytes()))

    items, rejected = parse(path)

    assert items["row_number"].tolist() == [2, 3]
    assert reasons(rejected) == {4: CUT_SHORT}


def test_a_complete_last_row_without_a_line_end_is_kept(tmp_path):
    # a third of the spec's example files end without a newline
    path = write_focus_csv(tmp_path / "noeol.csv", tagged(3))
    path.write_bytes(path.read_bytes().rstrip(b"\n"))

    items, rejected = parse(path)

    assert rejected.empty
    assert items["effective_cost"].tolist() == [1.0, 2.0, 3.0]


# --- bytes that are not UTF-8 -----------------------------------------------------------------


def damage(path: Path, *, line: int, text: bytes, byte: bytes = b"\xff") -> Path:
    """Put a byte that is not UTF-8 in ``text`` on ``line`` (1 = the header)."""
    lines = path.read_bytes().split(b"\n")
    assert text in lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(text, text[:1] + byte + text[1:], 1)
    path.write_bytes(b"\n".join(lines))
    return path


@pytest.mark.parametrize("chunk_bytes", [16 << 20, 300])
def test_rows_that_are_not_utf8_are_refused_with_their_row_numbers(tmp_path, chunk_bytes):
    rows = [{"EffectiveCost": str(i + 1), "ServiceName": f"service-{i}",
             "ResourceName": f"resource-{i}"} for i in range(12)]
    path = write_focus_csv(tmp_path / "bytes.csv", rows)
    damage(path, line=3, text=b"service-1")  # a column spendwatch reads
    damage(path, line=9, text=b"resource-7")  # one it does not: the row is damaged all the same

    items, rejected = parse(path, chunk_bytes=chunk_bytes)  # actual: the whole file failed

    assert items["row_number"].tolist() == [n for n in range(2, 14) if n not in (3, 9)]
    assert items["effective_cost"].tolist() == [float(n - 1) for n in items["row_number"]]
    lines = path.read_bytes().split(b"\n")
    where = {n: lines[n - 1].index(b"\xff") + 1 for n in (3, 9)}
    assert reasons(rejected) == {
        n: "row is not UTF-8 text (export the file as UTF-8): byte 0xff at position "
           f"{where[n]} of the row" for n in (3, 9)
    }
    assert "\ufffd" in rejected["raw"][0]  # the row's text, the bad byte shown as such


def test_rows_after_a_value_spanning_lines_keep_their_numbers_around_a_bad_byte(tmp_path):
    rows = [{"EffectiveCost": str(i + 1), "ServiceName": f"service-{i}"} for i in range(6)]
    rows[1]["ChargeDescription"] = "two\nlines"
    path = write_focus_gzip(tmp_path / "spanning.csv.gz", rows)
    plain = tmp_path / "plain.csv"
    plain.write_bytes(gzip.decompress(path.read_bytes()))
    damage(plain, line=6, text=b"service-3")  # record 5: line 6, after the two-line record
    path.write_bytes(gzip.compress(plain.read_bytes()))

    items, rejected = parse(path)

    assert items["row_number"].tolist() == [2, 3, 4, 6, 7]
    assert items["effective_cost"].tolist() == [1.0, 2.0, 3.0, 5.0, 6.0]
    assert list(reasons(rejected)) == [5]


def test_a_latin1_export_keeps_its_plain_rows_and_refuses_the_others(tmp_path):
    rows = [{"ServiceName": name} for name in ("Compute", "Réseau", "Storage", "Données")]
    path = write_focus_csv(tmp_path / "latin1.csv", rows)
    path.write_bytes(path.read_text(encoding="utf-8").encode("latin-1"))

    items, rejected = parse(path)

    assert items["service_name"].tolist() == ["Compute", "Storage"]
    assert sorted(reasons(rejected)) == [3, 5]


@pytest.mark.shared
def test_one_bad_byte_in_the_focus_sample_refuses_only_its_row(tmp_path, shared_dir):
    path = shutil.copy(shared_dir / SAMPLE, tmp_path / "focus_sample.csv")
    damage(path, line=10, text=b'"USD"')

    items, rejected = parse(path)

    assert len(items) == 999
    assert list(reasons(rejected)) == [10]
    assert reasons(rejected)[10].startswith("row is not UTF-8 text")


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_a_file_whose_lines_end_with_a_lone_carriage_return_is_refused_not_read_as_empty(
        tmp_path: Path, suffix: str) -> None:
    lf = write_focus_csv(tmp_path / "lf.csv", [{"EffectiveCost": "5"}, {"EffectiveCost": "7"}])
    text = lf.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r")
    path = tmp_path / f"mac{suffix}"
    path.write_bytes(gzip.compress(text) if suffix.endswith(".gz") else text)
    with pytest.raises(FocusFileError, match="carriage return alone.*LF or CRLF"):
        parse(path)
    # the same rows with CRLF endings are read, both of them
    crlf = tmp_path / "crlf.csv"
    crlf.write_bytes(text.replace(b"\r", b"\r\n"))
    items, rejected = parse(crlf)
    assert sorted(items["effective_cost"].tolist()) == [5.0, 7.0] and rejected.empty
