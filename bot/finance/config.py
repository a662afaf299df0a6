"""The finance settings: budgets (``budgets:``), where finance hears about them and when the
weekly digest goes out (``finance:``), and the shared pools of showback (``showback:``).

They live beside the code that reads them (``bot.finance.budgets``, ``bot.finance.showback``)
and ``bot.settings`` composes them, as it does each source's settings.

A budget is a ceiling on a project's spend (in one environment, or in all of them with
``environment: "*"``), either ``monthly`` (each calendar month, UTC) or an ``amount`` for a
custom period from ``start`` to ``end`` (dates, both days included). Its ``thresholds`` are
percents of the amount; each is announced once per period, for actual spend and for the
month-end forecast.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, field_validator, model_validator

from bot.chat.enums import Platform
from bot.config_base import ConfigModel, named_twice
from bot.ingest.tags import TagField

__all__ = ["ALL_ENVIRONMENTS", "BudgetSettings", "DigestSettings", "FinanceSettings",
           "SharedCost", "SharedMatch", "ShowbackSettings", "WEEKDAYS", "check_budgets"]

ALL_ENVIRONMENTS = "*"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class BudgetSettings(ConfigModel):
    """A ceiling on a project's spend: ``monthly``, or ``amount`` from ``start`` to ``end``."""

    project: str = Field(min_length=1)
    environment: str = Field(default=ALL_ENVIRONMENTS, min_length=1)
    monthly: float | None = Field(default=None, gt=0)
    amount: float | None = Field(default=None, gt=0)
    start: date | None = None
    end: date | None = None
    thresholds: list[float] = Field(default_factory=lambda: [50.0, 80.0, 100.0])

    @field_validator("thresholds")
    @classmethod
    def _percents(cls, value: list[float]) -> list[float]:
        if not value:
            raise ValueError("give at least one threshold, e.g. [50, 80, 100]")
        bad = [t for t in value if not 0 < t <= 1000]
        if bad:
            raise ValueError(f"thresholds are percents of the budget, above 0 and at most 1000 "
                             f"(e.g. 50, 80, 100); got {', '.join(f'{t:g}' for t in bad)}")
        if len(set(value)) != len(value):
            raise ValueError("a threshold is given twice; list each percent once")
        return sorted(value)

    @model_validator(mode="after")
    def _one_period(self) -> BudgetSettings:
        if (self.monthly is None) == (self.amount is None):
            raise ValueError("give either monthly: AMOUNT (every calendar month) or amount: "
                             "AMOUNT with start: and end: dates (a custom period), not both")
        if self.monthly is not None and (self.start or self.end):
            raise ValueError("start and end go with amount (a custom period), not with monthly; "
                             "remove them or use amount")
        if self.amount is not None:
            if self.start is None or self.end is None:
                raise ValueError("amount needs start: and end: dates (YYYY-MM-DD, both days "
                                 "included)")
            if self.end < self.start:
                raise ValueError(f"end {self.end} is before start {self.start}; the period "
                                 f"runs from start to end")
        return self

    @property
    def label(self) -> str:
        """How the budget is named in messages and errors: project/environment[/start]."""
        period = "" if self.monthly is not None else f"/{self.start}"
        return f"{self.project}/{self.environment}{period}"


def check_budgets(value: list[BudgetSettings]) -> list[BudgetSettings]:
    """Refuse two budgets for the same project, environment and period."""
    twice = named_twice([budget.label for budget in value])
    if twice:
        raise ValueError(f"two budgets are set for {', '.join(twice)}; keep one (for another "
                         f"period, give amount with its own start and end)")
    return value


class DigestSettings(ConfigModel):
    """When the weekly digest goes to the finance channel: ``day`` and ``hour``, in UTC."""

    enabled: bool = True
    day: Weekday = "monday"
    hour: int = Field(default=9, ge=0, le=23)

    @field_validator("day", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value


class FinanceSettings(ConfigModel):
    """Where finance hears about budgets and gets the weekly digest.

    ``channel``: the Slack channel (default: ``routing.default_channel``); ``teams_channel``:
    the Teams conversation (default: ``routing.teams.default``). ``pilot_phases`` and
    ``pilot_projects``: a project in one of those phases (``build`` by default), or listed,
    with no budget is reported as a pilot without a ceiling.
    """

    channel: str | None = None
    teams_channel: str | None = None
    digest: DigestSettings = Field(default_factory=DigestSettings)
    pilot_phases: list[str] = Field(default_factory=lambda: ["build"])
    pilot_projects: list[str] = Field(default_factory=list)

    def channel_for(self, platform: str, *, default: str | None, teams_default: str | None
                    ) -> str | None:
        """The finance channel on ``platform``, falling back to that platform's default."""
        if platform == Platform.TEAMS:
            return self.teams_channel or teams_default
        return self.channel or default


class SharedMatch(ConfigModel):
    """Which lines of spend belong to a shared pool: shell-style patterns (``fnmatch``,
    case-insensitive) on the export's columns, and under ``tag`` on what allocation made of
    the tags (raw tags are not stored). A list matches if any of its patterns does; every key
    given must match."""

    provider: list[str] = Field(default_factory=list)
    billing_account_id: list[str] = Field(default_factory=list)
    sub_account_id: list[str] = Field(default_factory=list)
    sub_account_name: list[str] = Field(default_factory=list)
    service_name: list[str] = Field(default_factory=list)
    service_category: list[str] = Field(default_factory=list)
    region: list[str] = Field(default_factory=list)
    tag: dict[TagField, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _not_empty(self) -> SharedMatch:
        if not any(getattr(self, name) for name in type(self).model_fields):
            raise ValueError("must name at least one of " + ", ".join(type(self).model_fields))
        return self


class SharedCost(ConfigModel):
    """A pool of shared spend and how it is split across the projects that consume it.

    ``split``: ``proportional`` (to each project's direct spend in the period), ``even`` or
    ``fixed`` (``percentages`` per project, adding up to 100). ``projects``: who consumes it
    (default: every project with direct spend in the period; for ``fixed``, the projects of
    ``percentages``).
    """

    name: str = Field(min_length=1)
    match: SharedMatch
    split: Literal["proportional", "even", "fixed"] = "proportional"
    projects: list[str] = Field(default_factory=list)
    percentages: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _percentages_fit(self) -> SharedCost:
        if self.split != "fixed":
            if self.percentages:
                raise ValueError(f"percentages go with split: fixed, not split: {self.split}; "
                                 f"remove them or set split: fixed")
            return self
        if not self.percentages:
            raise ValueError("split: fixed needs percentages, e.g. {search: 30, support-agent: 70}")
        negative = sorted(p for p, share in self.percentages.items() if share < 0)
        if negative:
            raise ValueError(f"percentages of {', '.join(negative)} are below 0; give each "
                             f"project 0 to 100")
        total = sum(self.percentages.values())
        if abs(total - 100) > 1e-9:
            raise ValueError(f"percentages add up to {total:g}, not 100; correct them so the "
                             f"whole pool is split")
        if self.projects and set(self.projects) != set(self.percentages):
            raise ValueError("projects and the projects of percentages differ; list the same "
                             "projects in both, or leave out projects")
        return self


class ShowbackSettings(ConfigModel):
    """Shared spend split across the projects that consume it (``bot.finance.showback``). A
    line of spend that matches a pool is shared, whatever project its tags gave it; one that
    matches several belongs to the first."""

    shared: list[SharedCost] = Field(default_factory=list)

    @field_validator("shared")
    @classmethod
    def _distinct_names(cls, value: list[SharedCost]) -> list[SharedCost]:
        twice = named_twice([pool.name for pool in value])
        if twice:
            raise ValueError(f"two shared pools are called {', '.join(twice)}; give each a "
                             f"different name")
        return value
