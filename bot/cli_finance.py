"""``spendwatch showback``: direct and shared spend side by side per project, for a month.

The table ends with a totals row; JSON (one object: the period, the projects, the pools, the
totals and any notes) and CSV (a header row, then one row per project, no totals row) go to
stdout alone, for machines. Every amount is in whole cents of ``currency.base``: the shares
of a pool add up to the pool, and the rows to the totals, exactly
(``bot.finance.showback``).
"""

from __future__ import annotations

import csv
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.markup import escape
from rich.table import Table

from bot.chat.console.render import console, errors
from bot.chat.text import money
from bot.costs.service import METRICS, data_end
from bot.finance.showback import Showback, ShowbackError, load_showback, month_bounds
from bot.settings import load_settings
from bot.wiring import build_services

__all__ = ["FORMATS", "records", "showback_command", "to_json", "write_csv"]

FORMATS = ("table", "json", "csv")


def _fail(message: str) -> typer.Exit:
    errors.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


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
        raise _fail(f"--format {output_format!r} is unknown; use table, json or csv")
    if metric not in METRICS:
        raise _fail(f"--metric {metric!r} is unknown; use effective or billed")
    settings = load_settings(config)
    services = build_services(settings)
    try:
        with services.engine.connect() as connection:
            if period is None:
                newest = data_end(connection)
                if newest is None:
                    raise _fail("no cost data yet; run `spendwatch ingest PATH` first")
                period = f"{newest - timedelta(hours=1):%Y-%m}"
            start, end = month_bounds(period)
            result = load_showback(connection=connection, pools=settings.showback.shared,
                                   start=start, end=end, metric=metric)
    except ShowbackError as exc:
        raise _fail(str(exc)) from None
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
        _print_table(result, period=period, metric=metric, pools_configured=bool(
            settings.showback.shared))


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


def _print_table(result: Showback, *, period: str, metric: str, pools_configured: bool) -> None:
    console.print(f"showback for {period}, {metric} cost: direct and shared spend per project",
                  style="italic", highlight=False)
    table = Table()
    table.add_column("project")
    table.add_column("direct", justify="right")
    for pool in result.pools:
        table.add_column(escape(f"{pool.name} ({pool.split})"), justify="right")
    for title in ("shared", "total"):
        table.add_column(title, justify="right")
    for p in result.projects:
        table.add_row(escape(p.project), money(p.direct_cents / 100),
                      *(money(p.shared_cents.get(pool.name, 0) / 100) for pool in result.pools),
                      money(p.shared_total_cents / 100), money(p.total_cents / 100))
    table.add_section()
    table.add_row("total", money(result.direct_cents / 100),
                  *(money(pool.total_cents / 100) for pool in result.pools),
                  money(result.shared_cents / 100), money(result.total_cents / 100),
                  style="bold")
    console.print(table)
    for note in result.notes:
        console.print(f"note: {escape(note)}", highlight=False)
    if not pools_configured:
        console.print("no shared pools are configured: every line is direct spend (see "
                      "showback.shared in the README)", highlight=False)
