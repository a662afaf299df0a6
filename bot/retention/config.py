"""The ``retention:`` section of the configuration.

Off unless ``hourly_days`` is set: rolling up is lossy (charts and replays of an old day see
one point at its midnight), so an upgrade never does it on its own. The shortest age allowed
keeps every hour that something still reads hourly: detection's last four weeks
(``bot.anomaly.poll.poll_store``) plus a week of margin, and the overlap a window source re-reads
behind its watermark (a re-read deletes its points from an hour on, which must be an hourly
point, not inside a rolled-up day).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from pydantic import Field, field_validator

from bot.config_base import ConfigModel

__all__ = ["DETECTION_DAYS", "MIN_HOURLY_DAYS", "RetentionSettings", "check_hourly_days"]

DETECTION_DAYS = 28  # what the detection pass loads (poll_store's ``days``)
MIN_HOURLY_DAYS = DETECTION_DAYS + 7


class RetentionSettings(ConfigModel):
    """``hourly_days``: hourly points older than this many days (counted from today's UTC
    midnight) become one point per day; None keeps every hour. ``hour``: the UTC hour the
    daily prune runs at."""

    hourly_days: int | None = Field(default=None, le=100 * 366)
    hour: int = Field(default=3, ge=0, le=23)

    @field_validator("hourly_days")
    @classmethod
    def _long_enough(cls, value: int | None) -> int | None:
        if value is not None:
            check_hourly_days(value)
        return value

    @property
    def enabled(self) -> bool:
        return self.hourly_days is not None


def check_hourly_days(days: int, *, overlaps_hours: Iterable[int] = ()) -> None:
    """Refuse an age that would roll up hours detection or a window source still reads."""
    needed = max([MIN_HOURLY_DAYS, *(math.ceil(h / 24) + 7 for h in overlaps_hours)])
    if days < needed:
        raise ValueError(
            f"{days} days is too short: detection reads the last {DETECTION_DAYS} days of "
            f"hourly points and window sources re-read their overlap, so hourly points must "
            f"be kept at least {needed} days; use {needed} or more, or leave retention off "
            f"to keep every hour")
