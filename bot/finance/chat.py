"""``/cost budget``: budgets read and set in chat, parsed, answered, chat-neutral.

The same three steps as ``bot.costs.command`` (whose :class:`CostCommandError` and help these
share): :func:`parse` turns the words after ``budget`` into a typed query, :func:`answer`
turns a query into plain result objects (rendered by ``bot.finance.views``), and
:func:`respond` chains them, turning a mistake into the help with the problem first. The
anomaly desk hands ``/cost budget ...`` here with a session, the person and what the channel
sees, so every chat platform gets the same answers and the same refusals.

Visibility is the rest of ``/cost``'s: a channel mapped to owners sees the budgets and pilots
of projects those owners have spend on, and a project outside the scope reads exactly like
one that does not exist. Only ``routing.finops`` people may set a budget
(:func:`check_may_set_budget`); the amount is read strictly (``25000``, ``25,000``, ``25k``,
``$25k``) and the project and environment must be in the store, so a typo is caught with the
closest name rather than stored as a budget nobody's spend will ever reach.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from bot.anomaly.access import NotAllowed, NothingChanged
from bot.chat.text import SYMBOLS, money
from bot.costs.command import CostCommandError, HelpAnswer, Scope, pick_name
from bot.finance.budgets import (
    Budget,
    BudgetStatus,
    Pilot,
    active_budgets,
    as_of,
    budget_status,
    pilots_without_budget,
    set_budget,
    statuses_of,
)
from bot.finance.config import ALL_ENVIRONMENTS
from bot.settings import RoutingSettings, Settings
from storage import queries

__all__ = ["BUDGET_LIMIT", "MAX_AMOUNT", "PILOT_LIMIT", "SET_USAGE", "USAGE", "BudgetAnswer",
           "BudgetListAnswer", "BudgetListQuery", "BudgetQuery", "BudgetSetAnswer",
           "BudgetSetQuery", "answer", "asks_budget", "check_may_set_budget", "parse",
           "parse_amount", "respond"]

USAGE = "/cost budget [project]"
SET_USAGE = "/cost budget set <project> <environment|*> <amount>"
BUDGET_LIMIT = 25  # budgets listed in one answer, the nearest to their ceiling first
PILOT_LIMIT = 10
MAX_AMOUNT = 1e12
# 25000, 25,000, 1,250.50, 25k, 1.5m (a currency symbol is read before this)
_AMOUNT = re.compile(r"^(?P<number>\d{1,3}(?:,\d{3})+|\d+)(?P<cents>\.\d+)?(?P<unit>[km]?)$")
_UNITS = {"": 1.0, "k": 1e3, "m": 1e6}
SET_WORD = "set"


@dataclass(frozen=True)
class BudgetListQuery:
    project: str | None = None


@dataclass(frozen=True)
class BudgetSetQuery:
    project: str
    environment: str  # "*": every environment of the project
    amount: float


BudgetQuery = BudgetListQuery | BudgetSetQuery


@dataclass(frozen=True)
class BudgetListAnswer:
    statuses: tuple[BudgetStatus, ...]  # nearest to the ceiling first, at most BUDGET_LIMIT
    total: int  # budgets the scope sees, listed or not
    pilots: tuple[Pilot, ...]  # pilots without a ceiling the scope sees, most spend first
    pilot_total: int
    project: str | None = None  # the project asked about (as the store spells it)
    any_budget: bool = True  # any budget is configured or set at all, seen here or not


@dataclass(frozen=True)
class BudgetSetAnswer:
    budget: Budget  # as it applies now
    previous: float | None  # the monthly amount before (config or chat), None if there was none
    spent: float  # spend in the budget's period so far, as of the newest data
    above: tuple[float, ...]  # thresholds above that spend: they alert when reached
    below: tuple[float, ...]  # thresholds the spend is already past

    @property
    def percent_spent(self) -> float:
        return 100 * self.spent / self.budget.amount


BudgetAnswer = BudgetListAnswer | BudgetSetAnswer


def asks_budget(text: str) -> bool:
    """Whether a ``/cost`` text is a budget question (its first word is ``budget``)."""
    words = text.split(maxsplit=1)
    return bool(words) and words[0].casefold() in ("budget", "budgets")


def _quote(word: str) -> str:
    return f"'{word[:40]}…'" if len(word) > 40 else f"'{word}'"


def parse_amount(word: str, *, currency: str = "USD") -> float:
    """A budget amount as people type it: ``25000``, ``25,000``, ``25k``, ``$25k``, ``1.5m``.

    Anything else (zero, a negative, ``nan``, ``1e6``, ``25 000``, ``2,50,000``, another
    currency's symbol) raises :class:`CostCommandError` saying what to type.
    """
    text = word.strip().casefold()
    example = f"e.g. 25000, 25,000 or 25k (in {currency}, the store's currency)"
    symbol = SYMBOLS.get(currency)
    other = [s for code, s in SYMBOLS.items() if code != currency and text.startswith(s)]
    if other:
        raise CostCommandError(f"Amounts are in {currency}, not {other[0]}: give "
                               f"{_quote(word)} in {currency} ({example}).")
    if symbol and text.startswith(symbol):
        text = text[len(symbol):]
    if text.startswith(("-", "−")):
        raise CostCommandError(f"A budget must be more than 0, not {_quote(word)}: {example}.")
    found = _AMOUNT.match(text)
    if found is None:
        raise CostCommandError(f"{_quote(word)} is not an amount: {example}.")
    number = float(found["number"].replace(",", "") + (found["cents"] or ""))
    amount = round(number * _UNITS[found["unit"]], 2)
    if not math.isfinite(amount) or amount <= 0:
        raise CostCommandError(f"A budget must be more than 0, not {_quote(word)}: {example}.")
    if amount > MAX_AMOUNT:
        raise CostCommandError(f"{_quote(word)} is more than any budget here can be "
                               f"({money(MAX_AMOUNT, decimals=0, currency=currency)}); "
                               f"check the zeros ({example}).")
    return amount


def parse(words: Sequence[str], *, currency: str = "USD") -> BudgetQuery:
    """The query the words after ``budget`` ask; raises :class:`CostCommandError` otherwise."""
    if not words:
        return BudgetListQuery()
    if words[0].casefold() != SET_WORD:
        if len(words) > 1:
            raise CostCommandError(f"Name one project, or none for every budget: `{USAGE}`; "
                                   f"to set one: `{SET_USAGE}`.")
        return BudgetListQuery(words[0])
    rest = list(words[1:])
    if len(rest) == 2 and _looks_like_amount(rest[1]):
        raise CostCommandError(f"Name the environment before the amount, or * for every "
                               f"environment of {_quote(rest[0])}: `{SET_USAGE}`.")
    if len(rest) != 3:
        raise CostCommandError(f"Give the project, the environment (* for all of them) and "
                               f"the monthly amount: `{SET_USAGE}`, e.g. "
                               f"`/cost budget set search prod 25k`.")
    project, environment, amount = rest
    return BudgetSetQuery(project, environment, parse_amount(amount, currency=currency))


def _looks_like_amount(word: str) -> bool:
    return bool(re.match(r"^[$€£]?\d", word.strip()))


def check_may_set_budget(routing: RoutingSettings, *, user: str) -> None:
    """Only ``routing.finops`` people set budgets in chat; the refusal says who may."""
    if user in routing.finops:
        return
    if not routing.finops:
        raise NotAllowed("Sorry, nobody may set budgets in chat here yet: routing.finops "
                         "lists no one. Ask an admin to add the FinOps people there, or to set "
                         "the budget under budgets: in the config.")
    raise NotAllowed("Sorry, only FinOps (the people in routing.finops) may set budgets; ask "
                     "one of them in the FinOps channel, or ask an admin to add you to "
                     "routing.finops.")


def respond(text: str, *, db_session: Session, settings: Settings, scope: Scope, user: str,
            now: datetime) -> BudgetAnswer | HelpAnswer:
    """Parse and answer a ``/cost budget ...`` text; a user's mistake becomes the help with
    the problem first. A refusal (:class:`NotAllowed`) or a change that changes nothing
    (:class:`NothingChanged`) is raised for the adapter to say, as for any action."""
    words = text.split()[1:] if asks_budget(text) else text.split()
    if words and words[0].casefold() == SET_WORD:
        check_may_set_budget(settings.routing, user=user)
    try:
        query = parse(words, currency=settings.currency.base)
        return answer(query, db_session=db_session, settings=settings, scope=scope, user=user,
                      now=now)
    except CostCommandError as exc:
        return HelpAnswer(problem=str(exc))


def answer(query: BudgetQuery, *, db_session: Session, settings: Settings, scope: Scope,
           user: str, now: datetime) -> BudgetAnswer:
    """Answer a parsed query within ``scope``; setting writes in the caller's transaction.

    Raises :class:`CostCommandError` for a project or environment the scope cannot see.
    """
    if isinstance(query, BudgetSetQuery):
        check_may_set_budget(settings.routing, user=user)
        return _set(db_session, settings, query, scope, user, now)
    return _list(db_session, settings, query, scope, now)


def _workloads(session: Session, scope: Scope) -> list[tuple[str, str]]:
    return queries.costs.workloads(connection=session.connection(), owners=scope.owners)


def _list(session: Session, settings: Settings, query: BudgetListQuery, scope: Scope,
          now: datetime) -> BudgetListAnswer:
    connection = session.connection()
    at = as_of(connection, now)
    # the budgets of the period the newest data belongs to, as ``budget_statuses`` reads them;
    # figures are computed only for those the channel sees (each reads twelve weeks of spend)
    budgets = active_budgets(db_session=session, settings=settings, now=now,
                             at=at - timedelta(microseconds=1))
    visible = {project for project, _ in _workloads(session, scope)}
    if scope.owners is None:  # the FinOps channel also sees budgets on projects without spend
        visible |= {b.project for b in budgets}
    project = None
    if query.project is not None:
        project = pick_name("project", query.project, sorted(visible))
        visible = {project}
    seen = sorted(statuses_of(session, [b for b in budgets if b.project in visible], at=at),
                  key=_nearest_first)
    pilots: list[Pilot] = []
    if project is None or not seen:  # a project with a budget is no pilot without one
        pilots = [p for p in pilots_without_budget(db_session=session, settings=settings,
                                                   now=now) if p.project in visible]
    return BudgetListAnswer(tuple(seen[:BUDGET_LIMIT]), len(seen), tuple(pilots[:PILOT_LIMIT]),
                            len(pilots), project, any_budget=bool(budgets))


def _nearest_first(status: BudgetStatus) -> tuple[float, str]:
    used = max(status.percent_spent, status.percent_forecast or 0.0)
    return -used, status.budget.key


def _canonical(environment: str, aliases: Mapping[str, list[str]]) -> str:
    wanted = environment.casefold()
    for canonical, names in aliases.items():
        if wanted in {n.casefold() for n in names}:
            return canonical
    return environment


def _set(session: Session, settings: Settings, query: BudgetSetQuery, scope: Scope, user: str,
         now: datetime) -> BudgetSetAnswer:
    pairs = _workloads(session, scope)
    project = pick_name("project", query.project, sorted({p for p, _ in pairs}))
    environment = ALL_ENVIRONMENTS
    if query.environment != ALL_ENVIRONMENTS:
        wanted = _canonical(query.environment, settings.allocation.environment_aliases)
        try:
            environment = pick_name("environment", wanted,
                                    sorted({e for p, e in pairs if p == project}),
                                    where=f" in {project}")
        except CostCommandError as exc:
            raise CostCommandError(f"{exc} Or give * for every environment of {project}."
                                   ) from None
    before = _monthly(session, settings, project, environment, now)
    if before is not None and abs(before.amount - query.amount) < 0.005:
        raise NothingChanged(f"The monthly budget of {before.label} is already "
                             f"{money(before.amount)}; nothing changed.")
    budget = set_budget(db_session=session, settings=settings, project=project,
                        environment=environment, monthly=query.amount, actor=user, now=now)
    connection = session.connection()
    status = budget_status(connection, budget, at=as_of(connection, now))
    above = tuple(t for t in budget.thresholds if status.spent * 100 < budget.amount * t)
    below = tuple(t for t in budget.thresholds if t not in above)
    return BudgetSetAnswer(budget, before.amount if before else None, status.spent, above,
                           below)


def _monthly(session: Session, settings: Settings, project: str, environment: str,
             now: datetime) -> Budget | None:
    return next((b for b in active_budgets(db_session=session, settings=settings, now=now)
                 if b.monthly and (b.project, b.environment) == (project, environment)), None)
