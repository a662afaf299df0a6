"""The board report of a month: the anomaly register, spend against budget per project with
direct and shared spend side by side, the month's story in plain words, and charts.

One model, several writers (``bot.finance.report_files``): the Markdown, CSV, HTML and PDF
files are renderings of the same :class:`BoardReport`, so they cannot disagree. The model is
built from the store alone, in one read-only pass:

- the register (``bot.finance.register``);
- showback of the month and of the month before (``bot.finance.showback.load_showback``), so
  each project's direct and shared spend sit side by side, and its change is total to total;
- budgets as ``bot.finance.budgets`` reads them, so the report and the chat alerts give the
  same figures. For a month that is over, the budgets are read as of its end (forecast =
  spend); for the current month, as of the newest data, with the month-end forecast. A
  budget counts its project's own spend (every line tagged to it), which is why the report
  shows it beside showback's direct and shared columns rather than subtracting one from the
  other;
- spend per day per project and per service, summed in the database
  (``storage.queries.register``).

The story (``bot.finance.report_story``) is generated from those figures only: it names what
changed and by how much, the anomalies and the causes people recorded, and where the money
went. It makes no claim the store cannot back.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pandas as pd
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.finance.budgets import BudgetStatus, budget_statuses
from bot.finance.config import ALL_ENVIRONMENTS
from bot.finance.register import RegisterRow, load_register
from bot.finance.report_charts import report_charts
from bot.finance.report_story import month_story
from bot.finance.showback import PoolSplit, Showback, load_showback, month_bounds
from bot.ingest.allocation import UNALLOCATED
from bot.playbook import Playbook
from bot.playbook.library import PlaybookLibrary
from bot.settings import Settings
from storage.queries import register as register_q

__all__ = ["BoardReport", "Chart", "ProjectSpend", "build_report",
           "previous_period"]


@dataclass(frozen=True)
class ProjectSpend:
    """A project's month: showback's direct and shared spend, last month's total, and its
    budget (the project-wide one, else the sum of its environments' budgets)."""

    project: str
    direct: float
    shared: float
    previous: float
    budget: float | None = None
    budget_spent: float | None = None  # what the budget counts: the project's own lines
    forecast: float | None = None
    services: tuple[tuple[str, float], ...] = ()  # the largest first
    environments: tuple[str, ...] = ()

    @property
    def total(self) -> float:
        return round(self.direct + self.shared, 2)

    @property
    def change(self) -> float:
        return round(self.total - self.previous, 2)

    @property
    def percent_of_budget(self) -> float | None:
        if not self.budget or self.budget_spent is None:
            return None
        return 100 * self.budget_spent / self.budget


@dataclass(frozen=True)
class Chart:
    """A PNG chart: its file name beside the Markdown, a title and a text alternative."""

    name: str
    title: str
    alt: str
    png: bytes


@dataclass(frozen=True)
class BoardReport:
    period: str  # YYYY-MM
    start: datetime
    end: datetime
    previous_period: str
    currency: str
    generated_at: datetime
    complete: bool  # the month is over (else: to date, with forecasts)
    register: list[RegisterRow]
    projects: list[ProjectSpend]
    budgets: list[BudgetStatus]
    pools: list[PoolSplit]
    daily: pd.DataFrame  # spend per day (rows, UTC) and project (columns)
    story: list[str] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)

    @property
    def direct(self) -> float:
        return round(sum(p.direct for p in self.projects), 2)

    @property
    def shared(self) -> float:
        return round(sum(p.shared for p in self.projects), 2)

    @property
    def total(self) -> float:
        return round(self.direct + self.shared, 2)

    @property
    def previous(self) -> float:
        return round(sum(p.previous for p in self.projects), 2)

    @property
    def impact(self) -> float:
        return round(sum(r.impact for r in self.register), 2)


def previous_period(period: str) -> str:
    start, _ = month_bounds(period)
    return f"{start - timedelta(days=1):%Y-%m}"


def build_report(*, engine: Engine, settings: Settings, period: str, now: datetime,
                 playbook: Playbook | PlaybookLibrary | None) -> BoardReport:
    """The report of ``period`` (YYYY-MM; ``ShowbackError`` when it is not a month) as the
    store holds it at ``now``."""
    start, end = month_bounds(period)
    before = previous_period(period)
    previous_start, _ = month_bounds(before)
    pools = settings.showback.shared
    with Session(engine) as session:
        connection = session.connection()
        register = load_register(db_session=session, start=start, end=end, playbook=playbook)
        current = load_showback(connection=connection, pools=pools, start=start, end=end)
        last = load_showback(connection=connection, pools=pools, start=previous_start,
                             end=start)
        statuses = _budgets(session, settings, end=end, now=now)
        days = list(pd.date_range(start, end, freq="D", tz="UTC").to_pydatetime())
        spend = register_q.daily_series_spend(connection=connection, edges=days)
    report = BoardReport(
        period=period, start=start, end=end, previous_period=before,
        currency=settings.currency.base, generated_at=now, complete=now >= end,
        register=register, projects=_projects(current, last, statuses, spend),
        budgets=statuses, pools=current.pools,
        daily=_daily(spend, days[:-1]))
    return replace(report, story=month_story(report), charts=report_charts(report))


def _budgets(session: Session, settings: Settings, *, end: datetime, now: datetime
             ) -> list[BudgetStatus]:
    """The month's budgets: as of its end when it is over, else as of the newest data. A
    store whose data stops before the month would be read in an earlier month: those
    budgets are not this month's and are left out."""
    start, _ = month_bounds(f"{end - timedelta(days=1):%Y-%m}")
    statuses = budget_statuses(db_session=session, settings=settings, now=min(now, end))
    return [s for s in statuses if s.budget.start < end and s.budget.end > start]


def _projects(current: Showback, last: Showback, statuses: list[BudgetStatus],
              spend: list[tuple[str, str, str, list[float]]]) -> list[ProjectSpend]:
    previous = {p.project: p.total_cents / 100 for p in last.projects}
    by_service: dict[str, dict[str, float]] = {}
    environments: dict[str, set[str]] = {}
    for project, environment, service, days in spend:
        name = project or UNALLOCATED
        by_service.setdefault(name, {})
        by_service[name][service] = by_service[name].get(service, 0.0) + sum(days)
        environments.setdefault(name, set()).add(environment)
    rows = []
    for p in current.projects:
        budget, spent, forecast = _project_budget(p.project, statuses)
        ranked = sorted(by_service.get(p.project, {}).items(), key=lambda i: -i[1])
        rows.append(ProjectSpend(
            project=p.project, direct=p.direct_cents / 100, shared=p.shared_total_cents / 100,
            previous=previous.pop(p.project, 0.0), budget=budget, budget_spent=spent,
            forecast=forecast, services=tuple(ranked),
            environments=tuple(sorted(e for e in environments.get(p.project, ()) if e))))
    # a project that spent last month and nothing this month still changed
    rows += [ProjectSpend(project=name, direct=0.0, shared=0.0, previous=amount)
             for name, amount in sorted(previous.items()) if amount]
    return rows


def _project_budget(project: str, statuses: list[BudgetStatus]
                    ) -> tuple[float | None, float | None, float | None]:
    mine = [s for s in statuses if s.budget.project == project]
    wide = [s for s in mine if s.budget.environment == ALL_ENVIRONMENTS]
    chosen = wide[:1] or mine
    if not chosen:
        return None, None, None
    forecasts = [s.forecast for s in chosen]
    forecast = None if any(f is None for f in forecasts) else sum(f or 0.0 for f in forecasts)
    return (sum(s.budget.amount for s in chosen), sum(s.spent for s in chosen), forecast)


def _daily(spend: list[tuple[str, str, str, list[float]]], days: list[datetime]
           ) -> pd.DataFrame:
    """Spend per day (rows) and project (columns, the largest first)."""
    index = pd.DatetimeIndex(days, tz=UTC) if days else pd.DatetimeIndex([], tz=UTC)
    totals: dict[str, list[float]] = {}
    for project, _, _, sums in spend:
        running = totals.setdefault(project or UNALLOCATED, [0.0] * len(days))
        totals[project or UNALLOCATED] = [a + b for a, b in zip(running, sums, strict=True)]
    if not totals:
        return pd.DataFrame(index=index, dtype=float)
    table = pd.DataFrame(totals, index=index, dtype=float)
    return table[table.sum().sort_values(ascending=False, kind="stable").index]
