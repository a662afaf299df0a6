"""Budgets: which apply now, how far each is spent and forecast, and which thresholds are news.

A budget comes from the config (``budgets:``, ``bot.finance.config``) or from chat
(``/cost budget set``, a monthly amount stored in ``budget_change``; the newest one for a
project and environment replaces the configured monthly amount, history kept). Its period is
the calendar month (UTC) or the configured custom period.

Figures are read as of the newest hour with data, not the wall clock: a daily export that
lags a day must not read as a day without spend. For each budget:

- ``spent``: EffectiveCost of the project (and environment, unless ``*``) since the period
  began, every charge category included (the bill, not only usage);
- ``forecast``: the period-end forecast of ``bot.finance.forecast`` (seasonal naive with an
  80 % interval), never below what is already spent;
- ``burn``: when the budget runs out at the last 24 hours' rate, if before the period ends.

:func:`evaluate_budgets` turns those into news, once: a threshold reached by actual spend or by
the forecast, and a pace that empties the budget early, are each stored as a
``budget_crossing`` (unique per period, threshold and basis, so a threshold alerts once per
period whichever replica runs the job). Spend that dips and rises again does not alert twice,
and neither does a wobbling forecast. Changing the budget re-arms: a crossing recorded for a
smaller amount that the new amount no longer reaches is deleted, so it alerts again if spend
gets there.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

import pandas as pd
from sqlalchemy.engine import Connection
from sqlmodel import Session

from bot.finance.burn import DEFAULT_THRESHOLDS, BurnRate, burn_rate, crossed_thresholds
from bot.finance.config import ALL_ENVIRONMENTS
from bot.finance.forecast import ForecastError, daily_totals, forecast_period_end
from bot.ingest.allocation import UNALLOCATED
from bot.settings import Settings
from storage import queries
from storage.models import BudgetCrossing
from storage.timeutil import as_utc

__all__ = ["FORECAST_LEVEL", "HISTORY_DAYS", "Basis", "Budget", "BudgetNews", "BudgetSpend",
           "BudgetStatus", "Crossing", "Pilot", "active_budgets", "as_of", "budget_spend",
           "budget_status", "budget_statuses", "evaluate_budgets", "month_bounds",
           "pilots_without_budget", "set_budget", "statuses_of"]

log = logging.getLogger(__name__)

HISTORY_DAYS = 84  # what the forecast learns from (twelve weeks, as ETS uses)
FORECAST_LEVEL = 0.8  # the forecast interval holds the outcome this often
PILOT_WINDOW = timedelta(days=30)
SYSTEM = "spendwatch"  # the actor of what the bot does on its own, in the audit log


class Basis(StrEnum):
    """What reached a threshold (``budget_crossing.basis``): values never change."""

    ACTUAL = "actual"  # spend so far
    FORECAST = "forecast"  # the period-end forecast
    BURN = "burn"  # the last 24 hours' pace empties the budget before the period ends


@dataclass(frozen=True)
class Budget:
    """A budget as it applies to one period."""

    project: str
    environment: str  # "*": every environment of the project
    amount: float
    start: datetime  # the period [start, end), aware UTC
    end: datetime
    thresholds: tuple[float, ...]
    monthly: bool
    set_by: str | None = None  # who set it in chat; None: the config

    @property
    def key(self) -> str:
        kind = "monthly" if self.monthly else f"{self.start:%Y-%m-%d}"
        return f"{self.project}/{self.environment}/{kind}"

    @property
    def label(self) -> str:
        """How people read it: ``support-agent · prod``, or ``search · all environments``."""
        where = "all environments" if self.environment == ALL_ENVIRONMENTS else self.environment
        return f"{self.project} · {where}"

    @property
    def period_label(self) -> str:
        if self.monthly:
            return f"{self.start:%B %Y}"
        last = self.end - timedelta(days=1)
        return f"{self.start:%b %-d} to {last:%b %-d %Y}"


@dataclass(frozen=True)
class Crossing:
    threshold: float
    basis: str
    crossed_at: datetime
    spent: float
    forecast: float | None


@dataclass(frozen=True)
class BudgetStatus:
    budget: Budget
    as_of: datetime  # the newest data the figures saw
    spent: float
    last_24h: float
    forecast: float | None
    forecast_low: float | None
    forecast_high: float | None
    burn: BurnRate | None
    crossings: tuple[Crossing, ...]
    forecast_note: str | None = None

    @property
    def percent_spent(self) -> float:
        return 100 * self.spent / self.budget.amount

    @property
    def percent_forecast(self) -> float | None:
        return None if self.forecast is None else 100 * self.forecast / self.budget.amount

    def crossed(self, basis: str) -> tuple[float, ...]:
        return tuple(c.threshold for c in self.crossings if c.basis == basis)


@dataclass(frozen=True)
class BudgetNews:
    """What an evaluation found new for one budget (what its alert says)."""

    status: BudgetStatus
    actual: tuple[float, ...]  # thresholds reached by spend for the first time this period
    forecast: tuple[float, ...]  # ... by the forecast
    burn: bool  # the budget runs out before the period ends, said for the first time
    owner: str  # who gets the alert (the owner with most spend on it)

    @property
    def empty(self) -> bool:
        return not (self.actual or self.forecast or self.burn)


@dataclass(frozen=True)
class Pilot:
    """A project in a pilot phase (or listed as a pilot) with spend and no budget."""

    project: str
    environments: tuple[str, ...]
    phase: str
    spend_30d: float


def month_bounds(moment: datetime) -> tuple[datetime, datetime]:
    """The calendar month (UTC) that holds ``moment``: [first day, first day of the next)."""
    moment = as_utc(moment)
    start = datetime(moment.year, moment.month, 1, tzinfo=UTC)
    end = datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def as_of(connection: Connection, now: datetime) -> datetime:
    """The moment figures are read at: the end of the newest hour with data, or ``now`` if
    sooner (or if there is no data)."""
    newest = queries.costs.newest_hour(connection=connection)
    if newest is None:
        return as_utc(now)
    return min(as_utc(now), newest + timedelta(hours=1))


def _period_moment(at: datetime) -> datetime:
    """The moment whose period the figures as of ``at`` belong to: the last hour read. At
    midnight on the first, before the month's first hour arrives, that is the month before."""
    return at - timedelta(microseconds=1)


def active_budgets(*, db_session: Session, settings: Settings, now: datetime,
                   at: datetime | None = None) -> list[Budget]:
    """The budgets whose period holds the moment ``at`` (default ``now``): the config's, with
    the monthly amounts set in chat up to ``now``."""
    now = as_utc(now)
    moment = as_utc(at) if at is not None else now
    month_start, month_end = month_bounds(moment)
    changes = queries.budgets.latest_changes(db_session=db_session, until=now)
    out: list[Budget] = []
    monthly_seen: set[tuple[str, str]] = set()
    for config in settings.budgets:
        pair = (config.project, config.environment)
        if config.monthly is not None:
            monthly_seen.add(pair)
            change = changes.get(pair)
            out.append(Budget(
                project=config.project, environment=config.environment,
                amount=change.monthly if change else config.monthly, start=month_start,
                end=month_end, thresholds=tuple(config.thresholds), monthly=True,
                set_by=change.set_by if change else None))
        else:
            assert config.amount is not None and config.start and config.end  # validated
            start, end = _day_start(config.start), _day_start(config.end) + timedelta(days=1)
            if start <= moment < end:
                out.append(Budget(project=config.project, environment=config.environment,
                                  amount=config.amount, start=start, end=end,
                                  thresholds=tuple(config.thresholds), monthly=False))
    for pair, change in sorted(changes.items()):
        if pair not in monthly_seen:
            out.append(Budget(project=pair[0], environment=pair[1], amount=change.monthly,
                              start=month_start, end=month_end,
                              thresholds=DEFAULT_THRESHOLDS, monthly=True,
                              set_by=change.set_by))
    return out


def budget_status(connection: Connection, budget: Budget, *, at: datetime,
                  crossings: Sequence[BudgetCrossing] = (),
                  spend: BudgetSpend | None = None) -> BudgetStatus:
    """The figures of ``budget`` as of ``at`` (the newest data: see :func:`as_of`).
    ``spend``: the spend read for several budgets at once (:func:`budget_spend`)."""
    at = min(as_utc(at), budget.end)
    if spend is None:
        spend = budget_spend(connection, [budget], at=at)
    points = _of(spend.daily, budget, min(budget.start, at - timedelta(days=HISTORY_DAYS)), at)
    spent = float(points.loc[points["hour"] >= budget.start, "effective_cost"].sum())
    recent = _of(spend.recent, budget, at - timedelta(hours=24), at)
    last_24h = float(recent["effective_cost"].sum())
    forecast = low = high = None
    note = None
    if at < budget.end and not points.empty:
        try:
            daily = daily_totals(points, by=("project",)).sum(axis=1)
            made = forecast_period_end(daily, as_of=at, start=budget.start, end=budget.end,
                                       level=FORECAST_LEVEL)
            forecast, low, high = (max(made.forecast, spent), max(made.low, spent),
                                   max(made.high, spent))
            note = made.note
        except ForecastError as error:
            note = str(error)
    elif at >= budget.end:
        forecast = low = high = spent  # the period is over: its spend is the outcome
    burn = burn_rate(budget.amount, spent, last_24h, now=at, period_end=budget.end)
    return BudgetStatus(
        budget=budget, as_of=at, spent=spent, last_24h=last_24h, forecast=forecast,
        forecast_low=low, forecast_high=high, burn=burn, forecast_note=note,
        crossings=tuple(Crossing(threshold=c.threshold, basis=c.basis,
                                 crossed_at=as_utc(c.crossed_at), spent=c.spent,
                                 forecast=c.forecast) for c in crossings))


@dataclass(frozen=True)
class BudgetSpend:
    """Spend of the budgets' projects per (project, environment): ``daily`` per UTC day (the
    period so far and the forecast's history), ``recent`` per hour of the last day (the
    burn rate)."""

    daily: pd.DataFrame
    recent: pd.DataFrame


def budget_spend(connection: Connection, budgets: Sequence[Budget], *, at: datetime
                 ) -> BudgetSpend:
    """The spend ``budgets`` need, read for all of them at once, up to ``at``."""
    at = as_utc(at)
    projects = sorted({b.project for b in budgets})
    if not projects:
        empty = pd.DataFrame(columns=["hour", "project", "environment", "effective_cost"])
        return BudgetSpend(empty, empty)
    start = min(min(b.start, min(at, b.end) - timedelta(days=HISTORY_DAYS)) for b in budgets)
    return BudgetSpend(
        daily=queries.budgets.project_spend(connection=connection, projects=projects,
                                            start=start, end=at),
        recent=queries.budgets.recent_spend(connection=connection, projects=projects,
                                            start=at - timedelta(hours=24), end=at))


def _of(spend: pd.DataFrame, budget: Budget, start: datetime, end: datetime) -> pd.DataFrame:
    """The rows of ``spend`` a budget counts, in [start, end)."""
    keep = ((spend["project"] == budget.project) & (spend["hour"] >= start)
            & (spend["hour"] < end))
    if budget.environment != ALL_ENVIRONMENTS:
        keep &= spend["environment"] == budget.environment
    return spend[keep]


def statuses_of(db_session: Session, budgets: Sequence[Budget], *, at: datetime
                ) -> list[BudgetStatus]:
    """The figures of several budgets as of ``at``, their spend read in one query, with the
    crossings stored for each one's period."""
    connection = db_session.connection()
    spend = budget_spend(connection, budgets, at=at)
    return [budget_status(connection, budget, at=at, spend=spend,
                          crossings=queries.budgets.crossings(
                              db_session=db_session, budget=budget.key,
                              period_start=budget.start))
            for budget in budgets]


def budget_statuses(*, db_session: Session, settings: Settings, now: datetime
                    ) -> list[BudgetStatus]:
    """Every budget active at ``now``, read as of the newest data. Read-only. For a past
    month, pass the last instant of that month."""
    at = as_of(db_session.connection(), now)
    return statuses_of(db_session, active_budgets(db_session=db_session, settings=settings,
                                                  now=now, at=_period_moment(at)), at=at)


def evaluate_budgets(*, db_session: Session, settings: Settings, now: datetime
                     ) -> list[BudgetNews]:
    """Record what each active budget crossed for the first time this period, re-arm what a
    changed budget no longer reaches; the news, for ``bot.finance.alerting`` to send. Writes
    in the caller's transaction."""
    connection = db_session.connection()
    at = as_of(connection, now)
    budgets = active_budgets(db_session=db_session, settings=settings, now=now,
                             at=_period_moment(at))
    spend = budget_spend(connection, budgets, at=at)
    news = []
    for budget in budgets:
        stored = list(queries.budgets.crossings(db_session=db_session, budget=budget.key,
                                                period_start=budget.start))
        status = budget_status(connection, budget, at=at, crossings=stored, spend=spend)
        found = _record(db_session, status, stored)
        if not found.empty:
            news.append(found)
    return news


def _record(session: Session, status: BudgetStatus, stored: list[BudgetCrossing]
            ) -> BudgetNews:
    budget = status.budget
    reached = crossed_thresholds(budget.amount, status.spent,
                                 status.forecast if status.forecast is not None else 0.0,
                                 budget.thresholds)
    now_reached = {Basis.ACTUAL: set(reached.actual),
                   Basis.FORECAST: set(reached.forecast) if status.forecast is not None
                   else set(),
                   Basis.BURN: {0.0} if status.burn is not None else set()}
    rearm = [c for c in stored if c.amount != budget.amount
             and c.threshold not in now_reached.get(Basis(c.basis), set())]
    if rearm:
        queries.budgets.delete_crossings(db_session=session,
                                         ids=[int(c.id or 0) for c in rearm])
        queries.audit.add_audit(
            db_session=session, actor=SYSTEM, action="budget.rearmed", subject_type="budget",
            subject_id=budget.key[:100],
            detail={"amount": budget.amount, "thresholds": [
                {"basis": c.basis, "threshold": c.threshold, "was_amount": c.amount}
                for c in rearm]})
    kept = {(c.basis, c.threshold) for c in stored if c not in rearm}
    new: dict[Basis, list[float]] = {basis: [] for basis in Basis}
    for basis, levels in now_reached.items():
        for threshold in sorted(levels):
            if (basis, threshold) in kept:
                continue
            queries.budgets.add_crossing(db_session=session, crossing=BudgetCrossing(
                budget=budget.key, period_start=budget.start, basis=basis,
                threshold=threshold, crossed_at=status.as_of, amount=budget.amount,
                spent=status.spent, forecast=status.forecast))
            new[basis].append(threshold)
    owner = _owner(session.connection(), budget, status.as_of)
    return BudgetNews(status=status, actual=tuple(new[Basis.ACTUAL]),
                      forecast=tuple(new[Basis.FORECAST]), burn=bool(new[Basis.BURN]),
                      owner=owner)


def _owner(connection: Connection, budget: Budget, at: datetime) -> str:
    environment = None if budget.environment == ALL_ENVIRONMENTS else budget.environment
    owners = queries.budgets.owner_spend(connection=connection, project=budget.project,
                                         environment=environment,
                                         start=min(budget.start, at - PILOT_WINDOW), end=at)
    known = [owner for owner, _ in owners if owner != UNALLOCATED]
    return known[0] if known else UNALLOCATED


def pilots_without_budget(*, db_session: Session, settings: Settings, now: datetime
                          ) -> list[Pilot]:
    """Projects in a pilot phase (``finance.pilot_phases``) or listed in
    ``finance.pilot_projects``, with spend in the last 30 days and no budget at all."""
    connection = db_session.connection()
    at = as_of(connection, now)
    budgeted = {b.project for b in active_budgets(db_session=db_session, settings=settings,
                                                  now=now)}
    budgeted |= {b.project for b in settings.budgets}
    phases = {p.casefold() for p in settings.finance.pilot_phases}
    listed = set(settings.finance.pilot_projects)
    found: dict[str, tuple[set[str], str, float]] = {}
    for project, environment, phase, spend in queries.budgets.phases_spend(
            connection=connection, start=at - PILOT_WINDOW, end=at):
        if project == UNALLOCATED or project in budgeted or spend <= 0:
            continue
        if phase.casefold() not in phases and project not in listed:
            continue
        environments, first_phase, total = found.get(project, (set(), phase, 0.0))
        environments.add(environment)
        found[project] = (environments, first_phase, total + spend)
    return [Pilot(project=p, environments=tuple(sorted(envs)), phase=phase, spend_30d=total)
            for p, (envs, phase, total) in sorted(found.items(), key=lambda i: -i[1][2])]


def set_budget(*, db_session: Session, settings: Settings, project: str, environment: str,
               monthly: float, actor: str, now: datetime) -> Budget:
    """Store a monthly budget set in chat (audited); returns it as it now applies. Whether
    ``actor`` may is the caller's check (FinOps only: ``bot.anomaly.access``)."""
    previous = next((b for b in active_budgets(db_session=db_session, settings=settings,
                                                now=now)
                     if b.monthly and (b.project, b.environment) == (project, environment)),
                    None)
    queries.budgets.add_change(db_session=db_session, project=project, environment=environment,
                               monthly=monthly, set_by=actor, now=now)
    queries.audit.add_audit(
        db_session=db_session, actor=actor, action="budget.set", subject_type="budget",
        subject_id=f"{project}/{environment}/monthly"[:100],
        detail={"monthly": monthly, "previous": previous.amount if previous else None})
    return next(b for b in active_budgets(db_session=db_session, settings=settings, now=now)
                if b.monthly and (b.project, b.environment) == (project, environment))
