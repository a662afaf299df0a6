"""``/cost``: cost questions asked in chat, parsed, answered from the store, chat-neutral.

Three steps, each testable alone: :func:`parse` turns the command text into a typed query (or
raises :class:`CostCommandError` saying what to type instead), :func:`answer` turns a query
into plain result objects, and ``bot.costs.views`` renders those as Slack mrkdwn or plain
text. :func:`respond` chains the first two and turns every mistake a user can make into the
help, with the problem on its first line.

Visibility: a :class:`Scope` is everything (the FinOps channel) or a set of owners (a team's
channel). Only lines of spend, anomalies and runbooks of visible projects are ever read, and a
project outside the scope is reported exactly like one that does not exist, so names never
leak. Spend is ``bot.costs.service``'s, the same figures ``spendwatch costs`` shows: periods end
at the newest hour with data, amounts are EffectiveCost, services and projects list usage, and
credits, purchases, tax and adjustments are one line of their own that the total includes.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import MISSING, dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection, Engine

from bot.anomaly.enums import AnomalyResponse, AnomalyStatus
from bot.costs import service
from bot.costs.periods import Period, period_for
from storage import queries
from storage.timeutil import as_utc

__all__ = [
    "CLOSED_STATUSES", "PERIODS", "AnomaliesAnswer", "AnomaliesQuery", "AnomalyLine",
    "CostAnswer", "CostCommandError", "CostQuery", "DaySpend", "HelpAnswer", "HelpQuery",
    "ProjectCostAnswer", "ProjectCostQuery", "RunbookAnswer", "RunbookLine", "RunbookQuery",
    "Scope", "SpendLine", "TopAnswer", "TopQuery", "answer", "parse", "respond",
]

PERIODS = ("7d", "30d", "mtd")
DEFAULT_PERIOD = "7d"
TOP_DEFAULT, TOP_MAX = 5, 25
TOP_SERVICES = 5
ANOMALY_LIMIT = 10
RUNBOOK_LIMIT = 5
# statuses and responses of anomalies that need nobody any more (see the lifecycle in
# docs/ARCHITECTURE): matched against both ``anomaly.status`` and ``anomaly.response``
CLOSED_STATUSES = frozenset({AnomalyResponse.RESOLVED, AnomalyStatus.AUTO_RESOLVED,
                             AnomalyResponse.EXPECTED, AnomalyResponse.NOT_AN_ANOMALY})
USAGE = "/cost <project> [environment] [7d|30d|mtd]"
# shaped like a period but not one of ours (9y, 14d, 24h, ytd): an error, not an environment
_PERIOD_LIKE = re.compile(r"^(\d+(h|d|w|m|y|hours?|days?|weeks?|months?|years?)|[a-z]td)$")


class CostCommandError(ValueError):
    """A ``/cost`` text that cannot be answered as written; the message tells the user why."""


@dataclass(frozen=True)
class Scope:
    """Which owners' spend a channel may see; ``owners=None`` means everything."""

    owners: frozenset[str] | None = None

    @classmethod
    def everything(cls) -> Scope:
        return cls(None)

    @classmethod
    def of_owners(cls, owners: Iterable[str]) -> Scope:
        return cls(frozenset(owners))


@dataclass(frozen=True)
class ProjectCostQuery:
    project: str
    environment: str | None = None
    period: str = DEFAULT_PERIOD


@dataclass(frozen=True)
class TopQuery:
    n: int = TOP_DEFAULT
    period: str = DEFAULT_PERIOD


@dataclass(frozen=True)
class AnomaliesQuery:
    pass


@dataclass(frozen=True)
class RunbookQuery:
    project: str


@dataclass(frozen=True)
class HelpQuery:
    problem: str | None = None


CostQuery = ProjectCostQuery | TopQuery | AnomaliesQuery | RunbookQuery | HelpQuery


@dataclass(frozen=True)
class SpendLine:
    """Spend of one thing (a project, a service) in a period and in the period before it."""

    name: str
    cost: float
    previous: float

    @property
    def change(self) -> float:
        return self.cost - self.previous

    @property
    def change_pct(self) -> float | None:
        """None when there was (next to) nothing before: "new", never a silly percentage."""
        return service.percent_change(self.cost, self.previous)


@dataclass(frozen=True)
class DaySpend:
    start: datetime
    end: datetime
    cost: float


@dataclass(frozen=True)
class ProjectCostAnswer:
    project: str
    environment: str | None
    period: Period
    total: SpendLine
    services: tuple[SpendLine, ...]  # the largest first, at most TOP_SERVICES
    more_services: int
    days: tuple[DaySpend, ...]  # 24-hour buckets ending at the end of the period
    other: SpendLine | None = None  # credits, purchases, tax: in the total, in no service


@dataclass(frozen=True)
class TopAnswer:
    period: Period
    n: int
    projects: tuple[SpendLine, ...]
    total: SpendLine  # every visible project, not only the top n
    project_count: int
    other: SpendLine | None = None  # credits, purchases, tax: in the total, in no project


@dataclass(frozen=True)
class AnomalyLine:
    id: int
    project: str
    environment: str
    owner: str
    kind: str
    status: str
    started_at: datetime
    last_seen_at: datetime
    impact_usd: float
    peak_hourly_usd: float
    plan_id: int | None = None  # the plan that holds it (``bot.anomaly.plans``), if any
    plan_exceeded_usd: float = 0.0  # how far past that plan's envelope it went


@dataclass(frozen=True)
class AnomaliesAnswer:
    anomalies: tuple[AnomalyLine, ...]  # newest first, at most ANOMALY_LIMIT
    total: int


@dataclass(frozen=True)
class RunbookLine:
    created_at: datetime
    environment: str
    service_name: str
    anomaly_id: int | None
    root_cause: str
    fix: str
    prevention: str
    author: str


@dataclass(frozen=True)
class RunbookAnswer:
    project: str
    entries: tuple[RunbookLine, ...]  # newest first, at most RUNBOOK_LIMIT
    total: int


@dataclass(frozen=True)
class HelpAnswer:
    problem: str | None = None  # what was not understood, and what to do instead


CostAnswer = ProjectCostAnswer | TopAnswer | AnomaliesAnswer | RunbookAnswer | HelpAnswer


def _quote(word: str) -> str:
    return f"'{word[:40]}…'" if len(word) > 40 else f"'{word}'"


def _period(word: str) -> str | None:
    """The period a word names, None if it is no period; raises if it only looks like one."""
    lowered = word.lower()
    if lowered in PERIODS:
        return lowered
    if _PERIOD_LIKE.match(lowered):
        raise CostCommandError(f"{_quote(word)} is not a period: use 7d, 30d or mtd.")
    return None


def parse(text: str) -> CostQuery:
    """The query a ``/cost`` text asks; raises :class:`CostCommandError` for anything else."""
    words = text.split()
    if not words:
        raise CostCommandError(f"Nothing to look up: name a project (`{USAGE}`) "
                               "or use one of the forms below.")
    head, rest = words[0].lower(), words[1:]
    if head == "help":
        return HelpQuery()
    if head == "top":
        return _parse_top(rest)
    if head == "anomalies":
        if rest:
            raise CostCommandError(
                f"`/cost anomalies` takes no other words (got {_quote(rest[0])}).")
        return AnomaliesQuery()
    if head == "runbook":
        if len(rest) != 1:
            raise CostCommandError("Name one project: `/cost runbook <project>`.")
        return RunbookQuery(rest[0])
    return _parse_project(words)


def _parse_top(words: list[str]) -> TopQuery:
    n: int | None = None
    period: str | None = None
    if len(words) > 2:
        raise CostCommandError("Too many words: use `/cost top [n] [7d|30d|mtd]`.")
    for word in words:
        if word.isdigit() and n is None:
            n = int(word)
            if not 1 <= n <= TOP_MAX:
                raise CostCommandError(f"`/cost top` lists 1 to {TOP_MAX} projects; "
                                       f"try `/cost top {TOP_MAX}`.")
        elif (found := _period(word)) is not None and period is None:
            period = found
        else:
            raise CostCommandError(f"{_quote(word)} is neither a number of projects nor a "
                                   "period: use `/cost top [n] [7d|30d|mtd]`.")
    return TopQuery(n or TOP_DEFAULT, period or DEFAULT_PERIOD)


def _parse_project(words: list[str]) -> ProjectCostQuery:
    project, rest = words[0], words[1:]
    if _period(project) is not None:
        raise CostCommandError(f"{_quote(project)} is a period, not a project: name the project "
                               f"first (`{USAGE}`), or use `/cost top {project.lower()}` for "
                               "all projects.")
    if len(rest) > 2:
        raise CostCommandError(f"Too many words: use `{USAGE}`.")
    environment: str | None = None
    period: str | None = None
    for word in rest:
        found = _period(word)
        if found is not None and period is None:
            period = found
        elif found is None and environment is None:
            environment = word
        else:
            raise CostCommandError(f"{_quote(word)} is one word too many: use `{USAGE}`.")
    return ProjectCostQuery(project, environment, period or DEFAULT_PERIOD)


@contextmanager
def _connected(connection_or_engine: Connection | Engine) -> Iterator[Connection]:
    if isinstance(connection_or_engine, Engine):
        with connection_or_engine.connect() as connection:
            yield connection
    else:
        yield connection_or_engine


def respond(
    text: str, *, connection_or_engine: Connection | Engine, scope: Scope,
    as_of: datetime | None = None, environment_aliases: Mapping[str, list[str]] | None = None,
) -> CostAnswer:
    """Parse and answer; a user's mistake becomes the help with the problem first.

    ``environment_aliases`` (``allocation.environment_aliases``) lets people type the names
    their tags use: ``production`` finds ``prod``.
    """
    try:
        query = _with_canonical_environment(parse(text), environment_aliases or {})
        return answer(query, connection_or_engine=connection_or_engine, scope=scope, as_of=as_of)
    except CostCommandError as exc:
        return HelpAnswer(problem=str(exc))


def _with_canonical_environment(query: CostQuery,
                                aliases: Mapping[str, list[str]]) -> CostQuery:
    if not isinstance(query, ProjectCostQuery) or query.environment is None:
        return query
    wanted = query.environment.casefold()
    for canonical, names in aliases.items():
        if wanted in {n.casefold() for n in names}:
            return replace(query, environment=canonical)
    return query


def answer(
    query: CostQuery, *, connection_or_engine: Connection | Engine, scope: Scope,
    as_of: datetime | None = None,
) -> CostAnswer:
    """Answer a parsed query within ``scope``; ``as_of`` ends periods (default: newest data).

    Raises :class:`CostCommandError` for a project or environment the scope cannot see.
    """
    if isinstance(query, HelpQuery):
        return HelpAnswer(problem=query.problem)
    with _connected(connection_or_engine) as connection:
        if isinstance(query, ProjectCostQuery):
            return _project_cost(connection, query, scope, as_of)
        if isinstance(query, TopQuery):
            return _top(connection, query, scope, as_of)
        if isinstance(query, AnomaliesQuery):
            return _anomalies(connection, scope)
        return _runbook(connection, query, scope)


def _end(connection: Connection, as_of: datetime | None) -> datetime:
    if as_of is not None:
        return as_utc(as_of)
    end = service.data_end(connection)
    if end is None:
        raise CostCommandError("There is no cost data yet: ingest an export first "
                               "(`spendwatch ingest PATH`).")
    return end


def pick_name(kind: str, name: str, choices: list[str], where: str = "") -> str:
    """``name`` among ``choices`` (exact, else the one case-insensitive match), or an error."""
    if name in choices:
        return name
    folded = [c for c in choices if c.casefold() == name.casefold()]
    if len(folded) == 1:
        return folded[0]
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(_quote(c) for c in close)}? " if close else ""
    shown = ", ".join(choices[:15]) + (f" and {len(choices) - 15} more" if len(choices) > 15
                                       else "")
    listing = (f"{kind}s you can see{where}: {shown}." if choices
               else f"there are no {kind}s you can see{where} yet.")
    if hint:
        listing = listing[0].upper() + listing[1:]
    raise CostCommandError(f"No {kind} called {_quote(name)}{where} — {hint}{listing}")


def _workload(
    connection: Connection, project: str, environment: str | None, scope: Scope
) -> tuple[str, str | None]:
    pairs = queries.costs.workloads(connection=connection, owners=scope.owners)
    found = pick_name("project", project, sorted({p for p, _ in pairs}))
    if environment is None:
        return found, None
    environments = sorted({e for p, e in pairs if p == found})
    return found, pick_name("environment", environment, environments, where=f" in {found}")


def _lines(rows: Any) -> list[SpendLine]:
    """Usage rows of a summary worth a line, largest first."""
    return [SpendLine(str(k), float(c), float(p))
            for k, c, p in service.visible(rows)[["key", "cost", "previous"]].itertuples(
                index=False, name=None)]


def _other(summary: service.CostSummary) -> SpendLine | None:
    """Every charge other than usage in one line; None when there is none worth a cent."""
    line = SpendLine("other charges", summary.other_total, summary.other_previous)
    return None if abs(line.cost) < service.DUST and abs(line.previous) < service.DUST else line


def _project_cost(
    connection: Connection, query: ProjectCostQuery, scope: Scope, as_of: datetime | None
) -> ProjectCostAnswer:
    project, environment = _workload(connection, query.project, query.environment, scope)
    period = period_for(query.period, as_of=_end(connection, as_of))
    summary = service.summarise(connection, period=period, by="service", project=project,
                                environment=environment, owners=scope.owners)
    services = _lines(summary.rows)
    edges = _day_edges(period.start, period.end)
    totals = queries.costs.daily_totals(connection=connection, edges=edges, project=project,
                                        environment=environment, owners=scope.owners)
    days = tuple(DaySpend(a, b, t) for a, b, t in zip(edges, edges[1:], totals, strict=False))
    total = SpendLine(project, summary.total, summary.previous_total)
    return ProjectCostAnswer(project, environment, period, total,
                             tuple(services[:TOP_SERVICES]),
                             max(len(services) - TOP_SERVICES, 0), days, _other(summary))


def _day_edges(start: datetime, end: datetime) -> list[datetime]:
    """24-hour buckets counted back from ``end``; the first one may be shorter."""
    day = timedelta(days=1)
    count = max(-(-(end - start) // day), 1)
    return [max(start, end - (count - k) * day) for k in range(count)] + [end]


def _top(
    connection: Connection, query: TopQuery, scope: Scope, as_of: datetime | None
) -> TopAnswer:
    period = period_for(query.period, as_of=_end(connection, as_of))
    summary = service.summarise(connection, period=period, by="project", owners=scope.owners)
    total = SpendLine("all projects", summary.total, summary.previous_total)
    spending = {str(k) for frame in (summary.rows, summary.other)  # all in the total, pennies too
                for k, c, p in frame[["key", "cost", "previous"]].itertuples(index=False)
                if c != 0 or p != 0}
    lines = tuple(_lines(summary.rows)[:query.n])
    return TopAnswer(period, query.n, lines, total, len(spending), _other(summary))


def _anomalies(connection: Connection, scope: Scope) -> AnomaliesAnswer:
    rows, count = queries.costs.anomalies(connection=connection, exclude_statuses=CLOSED_STATUSES,
                                          owners=scope.owners, limit=ANOMALY_LIMIT)
    lines = tuple(replace(line, plan_id=_plan_id(row), plan_exceeded_usd=float(
                      (row["evidence"] or {}).get("plan_exceeded_usd") or 0.0))
                  for line, row in zip(_from_rows(AnomalyLine, rows), rows, strict=True))
    return AnomaliesAnswer(lines, count)


def _plan_id(row: Mapping[Any, Any]) -> int | None:
    plan_id = (row["evidence"] or {}).get("plan_id")
    return plan_id if isinstance(plan_id, int) else None


def _runbook(connection: Connection, query: RunbookQuery, scope: Scope) -> RunbookAnswer:
    project, _ = _workload(connection, query.project, None, scope)
    rows, count = queries.costs.runbook_entries(connection=connection, project=project,
                                                limit=RUNBOOK_LIMIT)
    return RunbookAnswer(project, _from_rows(RunbookLine, rows), count)


def _from_rows(kind: Any, rows: Iterable[Mapping[Any, Any]]) -> tuple[Any, ...]:
    names = [f.name for f in fields(kind) if f.default is MISSING]
    return tuple(kind(**{name: row[name] for name in names}) for row in rows)
