"""Time as the store keeps it: every moment is UTC, and a datetime without a zone means UTC.

SQLite hands back naive datetimes (or, from an aggregate over a subquery, their text), and
config files, CLI options and Slack payloads carry naive ones too: each of them is UTC here.
The one place that says so, below every layer that needs it (storage must not import the bot).
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["as_utc", "stored_utc"]


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive one is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def stored_utc(value: datetime | str | None) -> datetime | None:
    """A moment read from the database (a datetime or its ISO text), in UTC; None stays None."""
    if value is None:
        return None
    return as_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)
