"""``spendwatch showback`` and ``spendwatch budgets``: the finance questions at a terminal.

``showback``: direct and shared spend side by side per project, for a month. The table ends
with a totals row; JSON (one object: the period, the projects, the pools, the totals and any
notes) and CSV (a header row, then one row per project, no totals row) go to stdout alone, for
machines. Every amount is in whole cents of ``currency.base``: the shares of a pool add up to
the pool, and the rows to the totals, exactly (``bot.finance.showback``).

``budgets``: each active budget as ``bot.finance.budgets.budget_statuses`` reads it (spend,
forecast, when it runs out) and the thresholds the scheduler has recorded as crossed. It only
reads: evaluating would record crossings, and then the scheduler would never announce them.
JSON has the same figures for machines (a replay's budget lines are scored against them), times
in ISO 8601 UTC, amounts rounded to cents.
"""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.markup import escape
from rich.table import Table

from bot.chat.console import render
from bot.chat.console.render import console
from bot.chat.text import money
from bot.cli_errors import fail
from bot.costs.service import METRICS, data_end
from bot.finance.budgets import (
    Basis,
    BudgetStatus,
    Pilot,
    as_of,
    budget_statuses,
    pilots_without_budget,
)
from bot.finance.showback import Showback, ShowbackError, load_showback, month_bounds
from bot.settings import load_settings
from bot.wiring import build_services
from storage import queries
from storage.db import session_scope
from storage.timeutil import as_utc

__all__ = ["BUDGET_FORMATS", "FORMATS", "budgets_command", "budgets_json", "records",
           "showback_command", "to_json", "write_csv"]

BUDGET_FORMATS = ("table", "json")

FORMATS = ("table", "json", "csv")


def showback_command(
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", help="YAML config file (default: $SPENDWATCH_CONFIG).")] = None,
    period: Annotated[str | None, typer.Option(
        help="The month, as YYYY-MM (default: the month of the newest hour with data).")] = None,
    metric: Annotated[str, typer.Option(help="effective (amortised) or billed.")] = "effective",
    output_format: Annotated[str, typer.Option(
        "--format", help="table, json or csv (to stdout, nothing else).")] = "table",
) -> None:
    """Direct and shared spend per project: pools of showback.shared split to the cent."""
    if output_format not in FORMATS:
        raise fail(f"--format {output_format!r} is unknown; use table, json or csv")
    if metric not in METRICS:
        raise fail(f"--metric {metric!r} is unknown; use effective or billed")
    settings = load_settings(config)
    services = build_services(settings)
    try:
        with services.engine.connect() as connection:
            if period is None:
                newest = data_end(connection)
                if newest is None:
                    raise fail("no cost data yet; run `spendwatch ingest PATH` first")
                period = f"{newest - timedelta(hours=1):%Y-%m}"
            start, end = month_bounds(period)
            result = load_showback(connection=connection, pools=settings.showback.shared,
                                   start=start, end=end, metric=metric)
    except ShowbackError as exc:
        raise fail(str(exc)) from None
    finally:
        services.close()
    currency = settings.currency.base
    if output_format == "json":
        json.dump(to_json(result, period=period, metric=metric, currency=currency), sys.stdout,
                  indent=2)
        sys.stdout.write("\n")
    elif output_format == "csv":
        write_csv(result, stream=sys.stdout)
    else:
        render.print_showback(result, heading=f"showback for {period}, {metric} cost: direct "
                              f"and shared spend per project",
                              pools_configured=bool(settings.showback.shared))


def _amount(cents: int) -> float:
    return round(cents / 100, 2)


def records(result: Showback) -> list[dict[str, Any]]:
    """One row per project: direct, each pool's share, shared and total, in currency units."""
    rows = []
    for project in result.projects:
        row: dict[str, Any] = {"project": project.project,
                               "direct": _amount(project.direct_cents)}
        row.update({f"shared:{pool.name}": _amount(project.shared_cents.get(pool.name, 0))
                    for pool in result.pools})
        row["shared"] = _amount(project.shared_total_cents)
        row["total"] = _amount(project.total_cents)
        rows.append(row)
    return rows


def to_json(result: Showback, *, period: str, metric: str, currency: str) -> dict[str, Any]:
    return {
        "period": period, "metric": metric, "currency": currency,
        "projects": [{"project": p.project, "direct": _amount(p.direct_cents),
                      "shared": {pool.name: _amount(p.shared_cents.get(pool.name, 0))
                                 for pool in result.pools},
                      "shared_total": _amount(p.shared_total_cents),
                      "total": _amount(p.total_cents)} for p in result.projects],
        "pools": [{"name": pool.name, "split": pool.split, "total": _amount(pool.total_cents),
                   "shares": {name: _amount(c) for name, c in pool.shares.items()},
                   "note": pool.note} for pool in result.pools],
        "totals": {"direct": _amount(result.direct_cents),
                   "shared": _amount(result.shared_cents),
                   "total": _amount(result.total_cents)},
        "notes": result.notes,
    }


def write_csv(result: Showback, *, stream: TextIO) -> None:
    names = ["project", "direct", *(f"shared:{p.name}" for p in result.pools), "shared", "total"]
    writer = csv.DictWriter(stream, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records(result))


def budgets_command(
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", help="YAML config file (default: $SPENDWATCH_CONFIG).")] = None,
    output_format: Annotated[str, typer.Option(
        "--format", help="table or json (to stdout, nothing else).")] = "table",
    at: Annotated[str | None, typer.Option(
        "--at", help="Read the budgets as of this moment (ISO 8601, UTC if no offset; "
                     "default: now). Figures stop at the newest data before it.")] = None,
) -> None:
    """Each budget's spend, forecast and the thresholds crossed (read-only)."""
    if output_format not in BUDGET_FORMATS:
        raise fail(f"--format {output_format!r} is unknown; use table or json")
    now = _moment(at) if at is not None else datetime.now(UTC)
    settings = load_settings(config)
    services = build_services(settings)
    try:
        with session_scope(services.engine) as session:
            statuses = budget_statuses(db_session=session, settings=settings, now=now)
            pilots = pilots_without_budget(db_session=session, settings=settings, now=now)
            read_at = as_of(session.connection(), now)
            recorded = bool(queries.budgets.crossings(db_session=session))
    finally:
        services.close()
    if output_format == "json":
        json.dump(budgets_json(statuses, pilots, as_of=read_at,
                               currency=settings.currency.base), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_budgets(statuses, pilots, as_of=read_at, recorded=recorded,
                       configured=bool(settings.budgets))


def _moment(text: str) -> datetime:
    try:
        return as_utc(datetime.fromisoformat(text.strip()))
    except ValueError:
        raise fail(f"--at {text!r} is not a moment; give it in ISO 8601, e.g. "
                    f"2026-11-15T12:00:00Z or 2026-11-15") from None


def _iso(moment: datetime) -> str:
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cents(amount: float) -> float:
    return round(amount, 2)


def budgets_json(statuses: list[BudgetStatus], pilots: list[Pilot], *, as_of: datetime,
                 currency: str) -> dict[str, Any]:
    """The budgets as one JSON object (see the module docstring)."""
    return {"as_of": _iso(as_of), "currency": currency,
            "budgets": [_budget_json(status) for status in statuses],
            "pilots_without_budget": [
                {"project": p.project, "environments": list(p.environments), "phase": p.phase,
                 "spend_30d": _cents(p.spend_30d)} for p in pilots]}


def _budget_json(status: BudgetStatus) -> dict[str, Any]:
    budget = status.budget
    forecast = None
    if status.forecast is not None:
        forecast = {"value": _cents(status.forecast),
                    "low": None if status.forecast_low is None else _cents(status.forecast_low),
                    "high": None if status.forecast_high is None
                    else _cents(status.forecast_high)}
    burn = None if status.burn is None else {
        "hours_left": round(status.burn.hours_left, 1),
        "runs_out_at": _iso(status.burn.runs_out_at)}
    return {
        "project": budget.project, "environment": budget.environment,
        "period": {"start": _iso(budget.start), "end": _iso(budget.end),
                   "monthly": budget.monthly},
        "amount": _cents(budget.amount), "set_by": budget.set_by,
        "as_of": _iso(status.as_of), "spent": _cents(status.spent),
        "percent_spent": round(status.percent_spent, 1),
        "forecast": forecast, "forecast_note": status.forecast_note, "burn": burn,
        "thresholds": list(budget.thresholds),
        "crossed": [{"threshold": c.threshold, "basis": c.basis,
                     "crossed_at": _iso(c.crossed_at)} for c in status.crossings],
    }


def _print_budgets(statuses: list[BudgetStatus], pilots: list[Pilot], *, as_of: datetime,
                   recorded: bool, configured: bool) -> None:
    if not statuses and not configured:
        console.print("no budgets are configured: add one under budgets: in the config, e.g. "
                      "{project: support-agent, environment: prod, monthly: 5000}",
                      highlight=False)
    elif not statuses:
        console.print(f"no budget applies at {_iso(as_of)}: the configured ones are for "
                      f"other periods (start and end); --at reads another moment",
                      highlight=False)
    else:
        console.print(f"budgets as of {_iso(as_of)}, the end of the newest data read",
                      style="italic", highlight=False)
        table = Table()
        for title in ("budget", "period", "amount", "spent", "forecast (interval)",
                      "runs out", "crossed"):
            table.add_column(title, justify="right" if title in ("amount", "spent") else "left")
        for status in statuses:
            table.add_row(*_budget_row(status))
        console.print(table)
        if not recorded:
            console.print("no threshold has been recorded as crossed yet: the scheduler "
                          "records them when it evaluates budgets (spendwatch run)",
                          highlight=False)
        for status in statuses:
            if status.forecast_note:
                console.print(f"note: {escape(status.budget.label)}: "
                              f"{escape(status.forecast_note)}", highlight=False)
    for pilot in pilots:
        where = ", ".join(pilot.environments)
        console.print(f"pilot without a budget: {escape(pilot.project)} ({escape(where)}, "
                      f"phase {escape(pilot.phase)}), {money(pilot.spend_30d)} in 30 days",
                      highlight=False)


def _budget_row(status: BudgetStatus) -> list[str]:
    budget = status.budget
    forecast = "n/a"
    if status.forecast is not None:
        forecast = money(status.forecast)
        low, high = status.forecast_low, status.forecast_high
        if low is not None and high is not None and money(low) != money(high):
            forecast += f" ({money(low)} to {money(high)})"
    runs_out = "" if status.burn is None else f"{_iso(status.burn.runs_out_at)}"
    crossed = ", ".join("runs out early" if c.basis == Basis.BURN else
                        f"{c.threshold:g} % {c.basis}" for c in status.crossings)
    return [escape(budget.label), escape(budget.period_label), money(budget.amount),
            f"{money(status.spent)} ({status.percent_spent:.0f} %)", forecast, runs_out,
            crossed or "none"]
