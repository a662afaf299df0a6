"""The PNG chart posted in an alert's thread: actual hourly spend against the expected baseline.

Readers open it on a phone in Slack, so it is wide and short (1000x450 px) with large type, a
dollar axis that starts at zero and a UTC time axis; the excess is shaded so the size of the
problem reads at a glance, and the anomaly's start is marked so it lines up with the alert text.

The bot renders charts from worker threads. pyplot keeps a global figure registry and a global
current figure, so it is never used: each call builds its own ``Figure`` on an Agg canvas and
passes every style explicitly instead of touching ``rcParams``. matplotlib is imported on first
use, so importing this module neither scans fonts nor writes matplotlib's cache.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from bot.chat.text import as_utc, money

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

__all__ = ["HEIGHT_PX", "WIDTH_PX", "spend_chart"]

WIDTH_PX = 1000
HEIGHT_PX = 450
_DPI = 100

_ACTUAL = "#1f4e79"
_EXPECTED = "#7f7f7f"
_EXCESS = "#d62728"
_MARKER = "#404040"
_TEXT = "#222222"

_TITLE_SIZE = 20
_LABEL_SIZE = 15
_NOTE_SIZE = 14


@dataclass(frozen=True)
class _Series:
    """Inputs checked and aligned: naive-UTC ``datetime64`` hours in order, NaN for gaps."""

    x: np.ndarray
    actual: np.ndarray
    expected: np.ndarray


def spend_chart(
    hours: Sequence[datetime] | pd.Index,
    actual: Sequence[float] | np.ndarray,
    expected: Sequence[float] | np.ndarray,
    *,
    title: str,
    started_at: datetime | None = None,
) -> bytes:
    """Render actual against expected hourly spend as a PNG of ``WIDTH_PX`` x ``HEIGHT_PX``.

    ``hours`` are the starts of the hours; naive datetimes are taken as UTC. Missing values
    (NaN or None) in ``actual`` or ``expected`` are drawn as gaps, not joined or zero-filled, so
    a late cost file does not look like a drop in spend. The caller picks the window (about the
    last two to three days up to the newest hour); ``started_at`` marks the anomaly's start.

    Raises ``ValueError`` when there is no data, an hour is missing (NaT) or the three sequences
    differ in length.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    series = _series(hours, actual, expected)
    figure = Figure(figsize=(WIDTH_PX / _DPI, HEIGHT_PX / _DPI), dpi=_DPI)
    canvas = FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    _draw_lines(ax, series)
    y_labels = _style_y_axis(ax, series)
    _fit_margins(figure, canvas, y_labels)
    _style_x_axis(ax, series)
    marked_at = None if started_at is None else _mark_start(ax, series, _naive_utc(started_at))
    ax.set_title(title, loc="left", fontsize=_TITLE_SIZE, fontweight="bold", color=_TEXT,
                 pad=12, parse_math=False)
    # the legend and the start label share the headroom; keep them on different sides
    legend_at: Literal["upper right", "upper left"] = (
        "upper right" if marked_at is not None and marked_at < 0.4 else "upper left")
    ax.legend(loc=legend_at, fontsize=_LABEL_SIZE, frameon=False, ncols=2,
              handlelength=1.6, borderaxespad=0.2)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None})
    return buffer.getvalue()


def _series(
    hours: Sequence[datetime] | pd.Index,
    actual: Sequence[float] | np.ndarray,
    expected: Sequence[float] | np.ndarray,
) -> _Series:
    index = pd.DatetimeIndex(pd.to_datetime(list(hours), utc=True))
    actual_values = np.asarray(actual, dtype=float)
    expected_values = np.asarray(expected, dtype=float)
    if len(index) == 0:
        raise ValueError(
            "spend_chart needs at least one hour of spend; hours, actual and expected are empty"
        )
    if not len(index) == len(actual_values) == len(expected_values):
        raise ValueError(
            "spend_chart needs one actual and one expected value per hour; got "
            f"{len(index)} hours, {len(actual_values)} actual, {len(expected_values)} expected"
        )
    if index.hasnans:
        raise ValueError("spend_chart got a missing hour (NaT); give every point its hour")
    order = np.argsort(index.asi8, kind="stable")
    x = index.tz_convert(None).to_numpy()[order]
    return _Series(x=x, actual=actual_values[order], expected=expected_values[order])


def _naive_utc(moment: datetime) -> np.datetime64:
    """matplotlib reads naive datetime64 as UTC, the zone of the axis."""
    return pd.Timestamp(as_utc(moment)).tz_localize(None).to_datetime64()


def _draw_lines(ax: Axes, series: _Series) -> None:
    # a lone point has no line to draw, so it gets a marker
    marker = "o" if len(series.x) == 1 else None
    ax.plot(series.x, series.actual, color=_ACTUAL, linewidth=2.6, marker=marker,
            label="actual", zorder=3)
    ax.plot(series.x, series.expected, color=_EXPECTED, linewidth=2.2, linestyle=(0, (5, 3)),
            marker=marker, label="expected", zorder=2)
    with np.errstate(invalid="ignore"):
        above = series.actual > series.expected
    ax.fill_between(series.x, series.expected, series.actual, where=above, interpolate=True,
                    color=_EXCESS, alpha=0.22, linewidth=0, zorder=1)


def _style_y_axis(ax: Axes, series: _Series) -> list[str]:
    """Dollars from zero (a baseline that floats exaggerates the jump), few round ticks."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    values = np.concatenate([series.actual, series.expected])
    finite = values[np.isfinite(values)]
    top = float(finite.max()) if finite.size else 0.0
    bottom = min(0.0, float(finite.min()) * 1.1) if finite.size else 0.0
    top = top + 0.18 * (top - bottom) if top > bottom else 1.0  # headroom for the legend
    ax.set_ylim(bottom, top)
    # steps of 1, 2 or 5 x 10^k: every tick prints exactly with -k decimals (2.5 would not)
    locator = MaxNLocator(nbins=5, steps=[1, 2, 5, 10])
    ax.yaxis.set_major_locator(locator)
    ticks = locator.tick_values(bottom, top)
    step = float(np.min(np.diff(ticks))) if len(ticks) > 1 else 1.0
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 0
    if decimals == 1:
        decimals = 2  # cents read as money, tenths do not
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _pos: _money(y, decimals)))
    labels = [_money(tick, decimals) for tick in ticks if bottom <= tick <= top]
    ax.grid(axis="y", color="#e6e6e6", linewidth=1.0)
    ax.set_axisbelow(True)
    ax.tick_params(axis="both", labelsize=_LABEL_SIZE, colors=_TEXT, length=0, pad=6)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.spines["bottom"].set_color("#b0b0b0")
    return labels


def _fit_margins(figure: Figure, canvas: FigureCanvasAgg, y_labels: list[str]) -> None:
    """Fixed margins, widened on the left to the longest dollar label.

    Measuring a few strings is far cheaper than a layout engine, which draws the figure twice.
    """
    from matplotlib.font_manager import FontProperties

    renderer = canvas.get_renderer()
    font = FontProperties(size=_LABEL_SIZE)
    widest = max((renderer.get_text_width_height_descent(label, font, ismath=False)[0]
                  for label in y_labels), default=0.0)
    left_px = max(widest + 22, 70)  # the first date label is centred on the left edge
    figure.subplots_adjust(left=left_px / WIDTH_PX, right=0.95, top=0.87, bottom=0.15)


def _money(value: float, decimals: int) -> str:
    """An axis label: whole amounts when the ticks are, never ``<$0.01`` for a tick of zero."""
    return money(0.0 if abs(value) < 0.5 * 10.0**-decimals else value, decimals=decimals)


def _style_x_axis(ax: Axes, series: _Series) -> None:
    """UTC ticks every few hours; midnight ticks carry the day, the corner note the month."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    start, end = series.x[0], series.x[-1]
    if start == end:
        pad = np.timedelta64(2, "h")
        start, end = start - pad, end + pad
    ax.set_xlim(start, end)
    locator = AutoDateLocator(tz=UTC, minticks=3, maxticks=7)
    formatter = ConciseDateFormatter(
        locator,
        tz=UTC,
        formats=["%Y", "%b", "%a %d", "%H:%M", "%H:%M", "%H:%M:%S"],
        zero_formats=["", "%Y", "%b", "%a %d", "%H:%M", "%H:%M"],
        offset_formats=["UTC", "%Y · UTC", "%b %Y · UTC", "%b %Y · UTC", "%d %b %Y · UTC",
                        "%d %b %Y · UTC"],
    )
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(formatter)
    ax.xaxis.get_offset_text().set_fontsize(_NOTE_SIZE)
    ax.xaxis.get_offset_text().set_color(_TEXT)


def _mark_start(ax: Axes, series: _Series, started: np.datetime64) -> float | None:
    """Mark the start; return where its label sits (axes fraction), or None if unlabelled.

    A start before the window is named in a corner instead of widening the axis, which would
    squash the hours that matter; a start after the newest hour is not drawn at all.
    """
    when = pd.Timestamp(started)
    if started > series.x[-1]:
        return None
    if started < series.x[0]:
        since = when.strftime("%a %d %b %H:%M")
        ax.text(0.99, 0.99, f"anomaly since {since} UTC", transform=ax.transAxes, ha="right",
                va="top", fontsize=_NOTE_SIZE, color=_MARKER, parse_math=False)
        return 1.0
    span = (series.x[-1] - series.x[0]) / np.timedelta64(1, "s")
    where = float((started - series.x[0]) / np.timedelta64(1, "s") / span) if span else 0.5
    right_side = where > 0.7  # near the right edge the label goes left of the line
    # matplotlib's stub says float; its date units take a datetime64 at run time
    ax.axvline(started, color=_MARKER, linewidth=1.6, linestyle=(0, (2, 2)),  # type: ignore[arg-type]
               zorder=4)
    ax.annotate(f"anomaly from {when:%a %H:%M}", xy=(started, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(-6 if right_side else 6, -2), textcoords="offset points",
                ha="right" if right_side else "left", va="top", fontsize=_NOTE_SIZE,
                color=_MARKER, parse_math=False)
    return where
