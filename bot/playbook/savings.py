"""A playbook's levers, and what each one could save, worked out from the anomaly's own figures.

A lever in YAML is a short how-to and a ``saves:`` rule: the share of some figure of the
anomaly that the lever typically removes, as a range, and the assumption behind that share in
words. The figure is one of :data:`BASES`, all computed from what the detector stored:

* ``excess_per_day``: (actual − expected per hour) × 24, the rate the anomaly runs at;
* ``excess_to_month_end``: the same excess per hour × the hours left in the month after the
  newest elevated hour (what it costs if nobody acts before the invoice);
* ``spend_per_day``: the whole hourly spend × 24, for levers that cut all of it (caching,
  batching), not just the rise;
* ``excess_so_far``: the excess already spent (what a refund request or a credit is about).

An estimate is a range rounded to two significant figures ("$120 to $350 a day"), or "up to"
when the low end is zero: the shares are typical outcomes, not measurements, and the text must
not suggest a precision nobody has.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import Field as _Field
from pydantic import StringConstraints, model_validator

from bot.playbook.base import Id, StrictModel, raise_if

__all__ = ["BASES", "Estimate", "PlaybookLever", "Saving", "SpendFigures", "estimate"]

Basis = Literal["excess_per_day", "excess_to_month_end", "spend_per_day", "excess_so_far"]
BASES: tuple[str, ...] = ("excess_per_day", "excess_to_month_end", "spend_per_day",
                          "excess_so_far")
_PERIOD = {
    "excess_per_day": "a day",
    "excess_to_month_end": "by the end of the month",
    "spend_per_day": "a day",
    "excess_so_far": "of the excess spent so far",
}

MAX_LEVER_TITLE = 75  # a Slack option's text: the lever is offered in the stabilise step
MAX_HOW = 200  # with the estimate, the alert shows at most 400 characters per lever
MAX_ASSUMPTION = 120
MAX_LEVERS = 10

Share = Annotated[float, _Field(ge=0.0, le=1.0)]


class Saving(StrictModel):
    """``saves: {of: excess_per_day, share: [0.3, 0.6], assumption: ...}``."""

    of: Basis
    share: tuple[Share, Share]
    assumption: Annotated[str, StringConstraints(
        strip_whitespace=True, min_length=1, max_length=MAX_ASSUMPTION)]

    @model_validator(mode="after")
    def _ordered(self) -> Saving:
        low, high = self.share
        if low > high:
            raise_if([(("share",), (
                f"[{low}, {high}] runs backwards; write the low share first, e.g. "
                f"[{high}, {low}]"))])
        if high == 0:
            raise_if([(("share",), "a lever that saves nothing is not a lever; raise the high "
                                   "share above 0")])
        return self


class PlaybookLever(StrictModel):
    """One way to bring this kind of spend down: a title, a short how-to, what it saves."""

    id: Id
    title: Annotated[str, StringConstraints(
        strip_whitespace=True, min_length=1, max_length=MAX_LEVER_TITLE)]
    how: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_HOW)]
    saves: Saving


@dataclass(frozen=True)
class SpendFigures:
    """The anomaly's figures an estimate is computed from (per hour, in the base currency)."""

    expected_hourly: float
    actual_hourly: float
    excess_so_far: float
    newest_hour: datetime  # start of the newest elevated hour

    @property
    def excess_hourly(self) -> float:
        return max(self.actual_hourly - self.expected_hourly, 0.0)

    def hours_left_in_month(self) -> int:
        end = self.newest_hour + timedelta(hours=1)
        first = end.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        following = (first + timedelta(days=32)).replace(day=1)
        return max(int((following - end).total_seconds() // 3600), 0)

    def basis(self, of: str) -> float:
        if of == "excess_per_day":
            return self.excess_hourly * 24
        if of == "excess_to_month_end":
            return self.excess_hourly * self.hours_left_in_month()
        if of == "spend_per_day":
            return max(self.actual_hourly, 0.0) * 24
        if of == "excess_so_far":
            return max(self.excess_so_far, 0.0)
        raise ValueError(f"no basis {of!r}; use one of: {', '.join(BASES)}")


@dataclass(frozen=True)
class Estimate:
    """What a lever could save: ``low`` to ``high`` (rounded), over ``period``."""

    low: float
    high: float
    period: str
    assumption: str

    def text(self, money: Callable[[float], str] | None = None) -> str:
        """``Saves about $120 to $350 a day (…)``; ``money`` formats an amount (default ``$``)."""
        show = money or _dollars
        if self.high <= 0:
            return f"Nothing to save at the current figures ({self.assumption})."
        if self.low <= 0:
            return f"Saves up to {show(self.high)} {self.period} ({self.assumption})."
        if self.low == self.high:
            return f"Saves about {show(self.high)} {self.period} ({self.assumption})."
        return (f"Saves about {show(self.low)} to {show(self.high)} {self.period} "
                f"({self.assumption}).")


def estimate(saving: Saving, figures: SpendFigures) -> Estimate:
    """The range ``saving`` gives for these figures, each end to two significant figures."""
    base = figures.basis(saving.of)
    low, high = saving.share
    return Estimate(_round(base * low), _round(base * high), _PERIOD[saving.of],
                    saving.assumption)


def _round(amount: float) -> float:
    if amount <= 0:
        return 0.0
    if amount < 1:
        return round(amount, 2)
    digits = 2 - int(math.floor(math.log10(amount))) - 1
    return float(round(amount, digits))


def _dollars(amount: float) -> str:
    return f"${amount:,.0f}" if amount >= 1 else f"${amount:.2f}"
