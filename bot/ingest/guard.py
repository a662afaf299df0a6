"""The end of a delivery: it replaces what it re-delivers, unless it is much smaller.

Cloud exports are snapshots: a re-delivered (billing account, billing period) replaces the
points of earlier deliveries. But an export cut short, or still being written, looks like a
re-delivery too, and replacing a month with half of it loses spend without a word. So each
(billing account, billing period) the delivery wrote is compared with what is current for it:
with fewer rows, or less spend, than ``min_share`` of the current one, the new points are
withdrawn and the current ones stay (``spendwatch ingest --force`` accepts it anyway).

"Current" is every point of that account and period not written by this delivery's own new
runs (earlier deliveries, and this delivery's unchanged files); "new" is what this delivery
holds for it (its new runs and its unchanged files). All of it happens in the delivery's one
transaction, so nothing in between is ever visible.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.engine import Connection

from bot.ingest.report import HeldScope, ScopeTotals
from bot.ingest.writer import Scope
from storage import queries

__all__ = ["Settlement", "settle"]


@dataclass
class Settlement:
    held: list[HeldScope] = field(default_factory=list)
    held_runs: set[int] = field(default_factory=set)
    replaced: dict[int, int] = field(default_factory=dict)  # run -> earlier points it replaced
    withdrawn: dict[int, int] = field(default_factory=dict)  # run -> own points taken back


def settle(
    *,
    connection: Connection,
    delivery_id: str,
    new_runs: Mapping[int, Mapping[Scope, ScopeTotals]],
    kept_runs: set[int],
    file_of: Mapping[int, str],
    min_share: float,
    force: bool,
    currency: str,
) -> Settlement:
    """Replace or hold back each (billing account, billing period) the new runs wrote."""
    writers: dict[Scope, list[int]] = {}
    for run_id, scopes in new_runs.items():
        for scope in scopes:
            writers.setdefault(scope, []).append(run_id)
    outcome = Settlement()
    if not queries.points.other_runs_stored(connection=connection, run_ids=new_runs):
        return outcome  # the first delivery in this store: nothing to compare or replace
    for (account, period), runs in writers.items():
        stored = queries.points.scope_totals_by_run(connection=connection, account=account,
                                                    period=period, exclude_runs=new_runs)
        current, new = ScopeTotals(), ScopeTotals()
        for run_id in runs:
            totals = new_runs[run_id][(account, period)]
            new.add(totals.rows, totals.spend)
        for run_id, (rows, spend) in stored.items():
            current.add(rows, spend)
            if run_id in kept_runs:
                new.add(rows, spend)
        if set(stored) <= kept_runs:
            continue  # nothing earlier than this delivery to replace
        if not force and too_small(new, current, min_share):
            outcome.held.append(HeldScope(
                account=account, period=period, current=current, new=new,
                files=[file_of[r] for r in runs],
                message=_held_message(account, period, current, new, min_share, currency),
            ))
            for run_id in runs:
                outcome.withdrawn[run_id] = outcome.withdrawn.get(run_id, 0) + (
                    queries.points.delete_scope_points(connection=connection, account=account,
                                                       period=period, run_ids=[run_id]))
                outcome.held_runs.add(run_id)
            continue
        replaced = queries.points.replace_scopes(
            connection=connection, delivery_id=delivery_id, scopes=[(account, period)])
        outcome.replaced[runs[0]] = outcome.replaced.get(runs[0], 0) + replaced
    return outcome


def too_small(new: ScopeTotals, current: ScopeTotals, min_share: float) -> bool:
    """Fewer rows, or less spend (when the current spend is positive), than ``min_share``."""
    if current.rows <= 0:
        return False
    if new.rows < min_share * current.rows:
        return True
    return current.spend > 0 and new.spend < min_share * current.spend


def _held_message(account: str, period: datetime, current: ScopeTotals, new: ScopeTotals,
                  min_share: float, currency: str) -> str:
    def amount(totals: ScopeTotals) -> str:
        return f"{totals.rows:,} rows, {totals.spend:,.2f} {currency}"

    return (
        f"billing account {account}, period {period:%Y-%m}: held back, the new export has "
        f"{amount(new)} against {amount(current)} in the current one (under {min_share:.0%}); "
        f"the current one stays. If the smaller export is right (restated, resources removed), "
        f"run again with --force; if it is incomplete (cut short, still being written), wait "
        f"for the complete export"
    )
