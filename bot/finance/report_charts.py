"""The board report's two charts, as PNG: spend per day per project for the month, and each
project's spend (direct and shared stacked, beside what its budget counts) against its budget.

A report is read on paper and in a browser, so both charts are wide (1200x500 px at 100 dpi,
sharp when printed at page width), start the money axis at zero, and say in words what a
missing budget means instead of drawing nothing. As in ``bot.anomaly.chart_image``, pyplot is
never used: each chart builds its own ``Figure`` on an Agg canvas (no global state, safe from
any thread), and matplotlib is imported on first use.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bot.chat.text import money

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from bot.finance.report import BoardReport, Chart

__all__ = ["BUDGET_CHART", "DAILY_CHART", "HEIGHT_PX", "SHOWN_PROJECTS", "WIDTH_PX",
           "report_charts"]

WIDTH_PX, HEIGHT_PX, _DPI = 1200, 500, 100
SHOWN_PROJECTS = 6  # lines in the daily chart; the rest are summed as "other projects"
DAILY_CHART = "spend-per-day.png"
BUDGET_CHART = "spend-vs-budget.png"
_COLOURS = ("#1f4e79", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#7f7f7f")
_DIRECT, _SHARED, _COUNTED = "#1f4e79", "#8fb3d9", "#9a9a9a"
_BUDGET, _FORECAST = "#d62728", "#ff7f0e"
_TEXT = "#222222"


def report_charts(report: BoardReport) -> list[Chart]:
    """Both charts of ``report``."""
    from bot.finance.report import Chart

    return [
        Chart(DAILY_CHART, "Spend per day per project", _daily_alt(report),
              _daily_png(report)),
        Chart(BUDGET_CHART, "Spend against budget per project", _budget_alt(report),
              _budget_png(report)),
    ]


def _figure() -> tuple[Figure, Axes]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_PX / _DPI, HEIGHT_PX / _DPI), dpi=_DPI)
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None})
    return buffer.getvalue()


def _money_axis(ax: Axes, currency: str, axis: str = "y") -> None:
    from matplotlib.ticker import FuncFormatter

    formatter = FuncFormatter(lambda value, _: money(value, decimals=0, currency=currency))
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(formatter)
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=11, colors=_TEXT)


def _empty(ax: Axes, text: str) -> None:
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=16, color=_TEXT,
            transform=ax.transAxes, parse_math=False)


def _daily_png(report: BoardReport) -> bytes:
    figure, ax = _figure()
    title = f"Spend per day per project, {report.period}"
    ax.set_title(title, loc="left", fontsize=16, fontweight="bold", color=_TEXT,
                 parse_math=False)
    daily = report.daily
    if daily.empty or daily.shape[1] == 0 or float(daily.to_numpy().sum()) == 0:
        _empty(ax, "No spend recorded this month")
        figure.subplots_adjust(left=0.05, right=0.98, top=0.88, bottom=0.12)
        return _png(figure)
    shown = list(daily.columns[:SHOWN_PROJECTS])
    days = pd.DatetimeIndex(daily.index).tz_convert(None).to_numpy()
    for colour, name in zip(_COLOURS, shown, strict=False):
        ax.plot(days, daily[name].to_numpy(), color=colour, linewidth=2.2, marker="o",
                markersize=3, label=str(name))
    peak = float(daily[shown].to_numpy().max())
    if daily.shape[1] > SHOWN_PROJECTS:
        rest = daily[daily.columns[SHOWN_PROJECTS:]].sum(axis=1).to_numpy()
        peak = max(peak, float(rest.max()))
        ax.plot(days, rest, color=_COLOURS[-1], linewidth=1.8, linestyle="--",
                label=f"{daily.shape[1] - SHOWN_PROJECTS} other projects")
    from matplotlib.dates import DateFormatter, DayLocator

    ax.xaxis.set_major_locator(DayLocator(bymonthday=[1, 8, 15, 22, 29]))
    ax.xaxis.set_major_formatter(DateFormatter("%b %d"))
    ax.set_ylim(0, peak * 1.3 if peak > 0 else 1.0)  # headroom for the legend
    _money_axis(ax, report.currency)
    ax.grid(axis="y", color="#dddddd", linewidth=0.8)
    ax.legend(loc="upper left", fontsize=11, frameon=False, ncols=min(4, len(shown) + 1))
    figure.subplots_adjust(left=0.08, right=0.98, top=0.88, bottom=0.1)
    return _png(figure)


def _budget_png(report: BoardReport) -> bytes:
    """Per project, two bars: showback's direct and shared spend stacked, and below it what
    the project's budget counts (every line tagged to it), with the budget and, in a month
    not over, the month-end forecast marked on that second bar."""
    figure, ax = _figure()
    ax.set_title(f"Spend against budget per project, {report.period}", loc="left",
                 fontsize=16, fontweight="bold", color=_TEXT, parse_math=False)
    projects = [p for p in report.projects if p.total > 0 or p.budget][:10]
    if not projects:
        _empty(ax, "No spend and no budgets this month")
        figure.subplots_adjust(left=0.05, right=0.98, top=0.88, bottom=0.12)
        return _png(figure)
    y = np.arange(len(projects), dtype=float)[::-1]
    direct = np.array([max(p.direct, 0.0) for p in projects])
    ax.barh(y + 0.18, direct, color=_DIRECT, height=0.34, label="direct")
    ax.barh(y + 0.18, [max(p.shared, 0.0) for p in projects], left=direct, color=_SHARED,
            height=0.34, label="shared")
    budgeted = [(row, p) for row, p in zip(y, projects, strict=True) if p.budget]
    if budgeted:
        rows = [row - 0.18 for row, _ in budgeted]
        ax.barh(rows, [p.budget_spent or 0.0 for _, p in budgeted], color=_COUNTED,
                height=0.34, label="counted by the budget")
        ax.scatter([p.budget or 0.0 for _, p in budgeted], rows, marker="|", s=700,
                   linewidths=3, color=_BUDGET, zorder=3, label="budget")
        ahead = [(row, p.forecast) for row, (_, p) in zip(rows, budgeted, strict=True)
                 if p.forecast is not None and not report.complete]
        if ahead:
            ax.scatter([f for _, f in ahead], [row for row, _ in ahead], marker="D", s=50,
                       color=_FORECAST, zorder=4, label="forecast (month end)")
    ax.set_yticks(y, [p.project if p.budget else f"{p.project} (no budget)" for p in projects])
    ax.set_xlim(left=0)
    _money_axis(ax, report.currency, axis="x")
    ax.grid(axis="x", color="#dddddd", linewidth=0.8)
    ax.legend(loc="upper center", bbox_to_anchor=(0.45, -0.08), fontsize=11, frameon=False,
              ncols=5)
    figure.subplots_adjust(left=0.22, right=0.97, top=0.9, bottom=0.2)
    return _png(figure)


def _daily_alt(report: BoardReport) -> str:
    if report.daily.empty or report.daily.shape[1] == 0:
        return "No spend recorded this month."
    peak_day = report.daily.sum(axis=1).idxmax()
    peak = float(report.daily.sum(axis=1).max())
    return (f"Daily spend of {report.daily.shape[1]} project(s); the highest day was "
            f"{peak_day:%b %d} at {money(peak, currency=report.currency)}.")


def _budget_alt(report: BoardReport) -> str:
    budgeted = [p for p in report.projects if p.budget]
    return (f"Direct and shared spend of {len(report.projects)} project(s); "
            f"{len(budgeted)} with a budget.")
