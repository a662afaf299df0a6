"""The states of an anomaly: what the detector says of it, what people did, what a pass saw.

Every value is stored as it reads here (``anomaly.status``, ``anomaly.kind``,
``anomaly.response``, ``audit_log.action`` are plain text columns), so a member's value must
never change; add a member instead. The detector alone writes :class:`AnomalyStatus` and
:class:`AnomalyKind`; people alone (through :mod:`bot.anomaly.service`) write
:class:`AnomalyResponse`, so a poll never overwrites what someone did.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["AnomalyKind", "AnomalyResponse", "AnomalyStatus", "AuditAction", "EventKind"]


class AnomalyStatus(StrEnum):
    """The detector's view of an incident (``anomaly.status``, :class:`Incident.status`)."""

    OPEN = "open"  # spend is still elevated, or has not been quiet for long enough yet
    AUTO_RESOLVED = "auto-resolved"  # back to normal for ``quiet_hours``; it may re-open


class AnomalyKind(StrEnum):
    """The shape of an incident (``anomaly.kind``), named when it opens."""

    SPIKE = "spike"  # a jump against the line's own history
    LEVEL_SHIFT = "level-shift"  # a spike that stayed elevated for six hours or more
    NEW_SPEND = "new-spend"  # spend on a line that had none before
    OFF_HOURS = "off-hours"  # spend at hours the workload is normally quiet
    RAMP = "ramp"  # a steady climb rather than a jump
    UNIT_COST = "unit-cost"  # the same usage costs more per unit: the price changed, not traffic


class AnomalyResponse(StrEnum):
    """What people did about an anomaly (``anomaly.response``), in the order it usually
    happens; the detector never writes it."""

    NONE = "none"  # nobody has responded yet (reminders and escalation apply)
    ACKNOWLEDGED = "acknowledged"  # someone has seen it and owns the next step
    INVESTIGATING = "investigating"  # someone started the playbook
    STABILISED = "stabilised"  # the playbook's stabilising step is done: spend is under control
    EXPECTED = "expected"  # the spend is known and intended (with a reason); nothing to fix
    RESOLVED = "resolved"  # the playbook is complete; the runbook entry is filed
    # a false positive: the spend is normal for its lines, which are judged against a wider
    # normal from then on (``bot.anomaly.feedback``); closed, like expected
    NOT_AN_ANOMALY = "not-an-anomaly"


class EventKind(StrEnum):
    """What one detection pass did to an incident (:class:`LifecycleEvent.kind`)."""

    OPENED = "opened"  # a new incident: alert people if the event says so
    UPDATED = "updated"  # still elevated: impact, peak or kind changed
    RESOLVED = "resolved"  # back to normal for ``quiet_hours`` (status auto-resolved)
    REOPENED = "reopened"  # flared again within ``reopen_hours`` of resolving: same incident


class AuditAction(StrEnum):
    """What a person did, as the audit log records it (``audit_log.action``)."""

    ACKNOWLEDGED = "acknowledged"  # acknowledged the alert
    SNOOZED = "snoozed"  # paused reminders and escalation for some hours
    EXPECTED = "expected"  # marked the spend as expected, with a reason
    ESCALATED = "escalated"  # posted it to the escalation (FinOps) channel
    PLAYBOOK_STARTED = "playbook_started"  # opened the playbook for the first time
    PLAYBOOK_STEP = "playbook_step"  # saved one step of the playbook
    STABILISED = "stabilised"  # saved the playbook's stabilising step
    RESOLVED = "resolved"  # finished the playbook; the runbook entry is filed
    PLAN_ADDED = "plan.added"  # declared planned spend (a dollar envelope, until a date)
    PLAN_REMOVED = "plan.removed"  # ended a plan before its date
    PLAN_EXCEEDED = "plan.exceeded"  # an anomaly went past a plan's envelope (by the bot)
    RUNBOOK_EDITED = "runbook.edited"  # edited a runbook entry; the text it replaced is kept
    NOT_AN_ANOMALY = "not_an_anomaly"  # said it was normal spend: line feedback recorded
    FEEDBACK_UNDONE = "feedback_undone"  # undid one piece of line feedback
