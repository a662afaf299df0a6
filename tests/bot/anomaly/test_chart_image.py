"""The alert chart: a PNG of the promised size, gaps that stay gaps, safe from worker threads."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bot.anomaly.chart_image import HEIGHT_PX, WIDTH_PX, spend_chart

REPO = Path(__file__).resolve().parents[3]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
START = datetime(2026, 8, 3, tzinfo=UTC)


def window(hours: int = 60, *, jump_at: int = 45) -> tuple[pd.DatetimeIndex, np.ndarray,
                                                            np.ndarray]:
    """A daily rhythm around $800/h whose actual spend doubles from ``jump_at`` on."""
    index = pd.date_range(START, periods=hours, freq="h")
    expected = 800 * (1 + 0.3 * np.sin(np.arange(hours) / 24 * 2 * np.pi))
    actual = expected * (1 + 0.05 * np.cos(np.arange(hours)))
    actual[jump_at:] *= 2
    return index, actual, expected


def size_of(png: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(png)) as image:
        image.verify()
    with Image.open(io.BytesIO(png)) as image:
        return image.size


def test_returns_a_png_of_the_promised_size() -> None:
    hours, actual, expected = window()

    png = spend_chart(hours, actual, expected, title="support-agent · prod — hourly spend",
                      started_at=hours[45].to_pydatetime())

    assert png.startswith(PNG_MAGIC)
    assert size_of(png) == (WIDTH_PX, HEIGHT_PX) == (1000, 450)


@pytest.mark.parametrize(
    "started_at",
    [None, START - timedelta(days=2), START + timedelta(hours=1), START + timedelta(hours=58),
     START + timedelta(days=9)],
    ids=["none", "before-window", "near-left", "near-right", "after-window"],
)
def test_any_start_renders_at_the_same_size(started_at: datetime | None) -> None:
    hours, actual, expected = window()

    png = spend_chart(hours, actual, expected, title="t", started_at=started_at)

    assert size_of(png) == (WIDTH_PX, HEIGHT_PX)


def test_missing_values_stay_gaps_without_crashing() -> None:
    hours, actual, expected = window()
    actual[10:14] = np.nan
    expected[30] = np.nan
    actual[50] = np.nan

    png = spend_chart(hours, list(actual), list(expected), title="gaps", started_at=START)

    assert size_of(png) == (WIDTH_PX, HEIGHT_PX)


@pytest.mark.parametrize(
    ("actual", "expected"),
    [
        ([np.nan] * 3, [np.nan] * 3),
        ([None, 2.0, None], [1.0, 1.0, 1.0]),
        ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0]),
        ([0.004, 0.012, 0.003], [0.005, 0.005, 0.005]),
        ([2_500_000.0, 3_100_000.0, 4_000_000.0], [2_400_000.0] * 3),
        ([-40.0, 12.0, 15.0], [10.0, 10.0, 10.0]),
    ],
    ids=["all-missing", "none-as-missing", "zero", "sub-cent", "millions", "credit"],
)
def test_unusual_values_render(actual: list[float | None], expected: list[float]) -> None:
    hours = [START + timedelta(hours=h) for h in range(3)]

    png = spend_chart(hours, actual, expected, title="edge")  # type: ignore[arg-type]

    assert size_of(png) == (WIDTH_PX, HEIGHT_PX)


def test_one_hour_and_naive_unsorted_hours_render() -> None:
    one = spend_chart([datetime(2026, 8, 3, 5)], [12.0], [10.0], title="one hour")
    unsorted = spend_chart([datetime(2026, 8, 3, h) for h in (3, 1, 2)], [3.0, 1.0, 2.0],
                           [1.0, 1.0, 1.0], title="unsorted", started_at=datetime(2026, 8, 3, 2))

    assert size_of(one) == size_of(unsorted) == (WIDTH_PX, HEIGHT_PX)


def test_charts_rendered_from_several_threads_match_the_sequential_ones() -> None:
    jobs = [window(hours=48 + 4 * i, jump_at=30 + i) for i in range(6)]
    sequential = [spend_chart(h, a, e, title=f"workload {i}", started_at=h[30 + i])
                  for i, (h, a, e) in enumerate(jobs)]

    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = [pool.submit(spend_chart, h, a, e, title=f"workload {i}", started_at=h[30 + i])
                   for i, (h, a, e) in enumerate(jobs) for _ in range(3)]
        concurrent = [future.result(timeout=120) for future in futures]

    assert concurrent == [png for png in sequential for _ in range(3)]


def test_empty_input_says_what_is_missing() -> None:
    with pytest.raises(ValueError, match="at least one hour of spend"):
        spend_chart([], [], [], title="empty")


def test_lengths_that_differ_are_named() -> None:
    hours, actual, expected = window()

    with pytest.raises(ValueError, match=r"got 60 hours, 59 actual, 60 expected"):
        spend_chart(hours, actual[:-1], expected, title="t")


def test_a_missing_hour_is_refused() -> None:
    with pytest.raises(ValueError, match="missing hour"):
        spend_chart([START, None], [1.0, 2.0], [1.0, 1.0], title="t")  # type: ignore[list-item]


def test_neither_import_nor_render_touches_global_matplotlib_state() -> None:
    # a fresh interpreter: other tests may have imported pyplot in this one
    script = textwrap.dedent(
        """
        import sys
        import bot.anomaly.chart_image
        assert "matplotlib" not in sys.modules, "importing chart_image imported matplotlib"
        import matplotlib
        def snapshot():  # dict's own methods: rcParams["backend"] would itself import pyplot
            rc = matplotlib.rcParams
            return {key: dict.__getitem__(rc, key) for key in dict.keys(rc)}
        before = snapshot()
        png = bot.anomaly.chart_image.spend_chart(
            ["2026-08-03T00:00Z", "2026-08-03T01:00Z"], [1, 2], [1, 1], title="t")
        assert png[:4] == b"\\x89PNG"
        assert "matplotlib.pyplot" not in sys.modules, "rendering imported pyplot"
        assert snapshot() == before, "rendering changed rcParams"
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, check=False, cwd=REPO)

    assert result.returncode == 0, result.stderr
