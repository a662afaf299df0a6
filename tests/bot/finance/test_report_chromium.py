"""The HTML report as a browser shows it: headless Chromium (Debian's ``chromium``) loads the
file from disk with no server, its DOM holds every register row, its screenshot has the size
asked for and shows the page, and the PDF is Chromium's print of the same file."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from bot.finance.report import BoardReport, build_report
from bot.finance.report_files import write_report
from bot.finance.report_pdf import CHROMIUM, chromium_command
from bot.settings import Settings
from storage.db import make_engine, upgrade
from tests.support.board_report import PLAYBOOK, SCRIPT, fill_store, report_settings

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"{CHROMIUM} is missing: install Debian's chromium "
                                       "package (.ci/run does in CI)")

WIDTH, HEIGHT = 1280, 2000


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BoardReport, Path]]:
    folder = tmp_path_factory.mktemp("chromium")
    settings = report_settings(Settings(database_url=f"sqlite:///{folder / 'sw.db'}",
                                        quarantine_dir=folder / "q"))
    engine = make_engine(settings.database_url)
    upgrade(engine)
    try:
        fill_store(engine)
        report = build_report(engine=engine, settings=settings, period="2026-10",
                              now=datetime(2026, 11, 30, tzinfo=UTC), playbook=PLAYBOOK)
    finally:
        engine.dispose()
    write_report(report, folder / "out", ("html",))
    yield report, folder / "out" / "report.html"


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = chromium_command(CHROMIUM, tmp_path / "profile", *args)
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


class Rows(HTMLParser):
    """The text of each table row with an id, as the browser's DOM holds it."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[str]] = {}
        self._row: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self._row = dict(attrs).get("id")
            if self._row:
                self.rows[self._row] = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._row and data.strip():
            self.rows[self._row].append(data.strip())


def test_the_dom_chromium_builds_holds_every_register_row(page: tuple[BoardReport, Path],
                                                          tmp_path: Path) -> None:
    report, html = page
    dom = chromium(tmp_path, "--dump-dom", html.as_uri()).stdout
    parser = Rows()
    parser.feed(dom)
    assert sorted(parser.rows) == sorted(f"anomaly-{r.id}" for r in report.register)
    for row in report.register:
        cells = parser.rows[f"anomaly-{row.id}"]
        assert cells[:3] == [str(row.id), row.workload, f"{row.detected:%Y-%m-%d %H:%M} UTC"]
        assert f"${row.impact:,.2f}" in cells
    resolved = parser.rows[f"anomaly-{report.register[0].id}"]
    assert any(SCRIPT in cell for cell in resolved)  # shown as text, never run as a script
    assert "<script" not in dom.split("<body>", 1)[1]


def test_the_screenshot_has_the_size_asked_for_and_shows_the_page(
        page: tuple[BoardReport, Path], tmp_path: Path) -> None:
    _, html = page
    shot = tmp_path / "report.png"
    chromium(tmp_path, f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}",
             "--hide-scrollbars", html.as_uri())
    header = shot.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert (int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")) == (
        WIDTH, HEIGHT)
    with Image.open(shot) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20) or []
    # the headings' blue is on the page, so it rendered (a blank or error page has none)
    assert any(rgb == (0x1F, 0x4E, 0x79) for _, rgb in colours)
    assert len(colours) > 50  # text, tables and charts, not a flat page


def test_the_pdf_is_chromiums_print_of_the_html(page: tuple[BoardReport, Path],
                                                tmp_path: Path) -> None:
    report, _ = page
    written = write_report(report, tmp_path / "out", ("pdf",))
    assert [p.name for p in written] == ["report.pdf"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.pdf"]
    pdf = written[0].read_bytes()
    pages = re.findall(rb"/Type\s*/Page(?!s)", pdf)
    assert pdf.startswith(b"%PDF-") and len(pages) >= 2  # tables and two charts: several pages
