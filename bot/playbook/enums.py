"""The states of a playbook walk (kept in the walk's :class:`~bot.playbook.PlaybookState`)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["PlaybookStatus"]


class PlaybookStatus(StrEnum):
    """How far the walk of an anomaly's playbook has come (``PlaybookState.status``)."""

    IN_PROGRESS = "in_progress"  # started; the step that stabilises spend is not done yet
    STABILISED = "stabilised"  # the step marked ``stabilises`` is done
    COMPLETED = "completed"  # every step is done: the resolution can be filed
