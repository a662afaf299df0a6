"""All tables, in one module.

Datetimes are aware and in UTC on both sides (SQLModel's UTCDateTime: ``timestamptz`` on
PostgreSQL, UTC text on SQLite); a naive datetime is refused at bind time. Money is stored as
floats in the configured base currency: cost points are aggregates used for detection and
showback, not an invoice ledger.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.anomaly.enums import AnomalyResponse, AnomalyStatus
from bot.ingest.enums import RunStatus
from bot.outbox.enums import AlertStatus, MessageStatus

__all__ = [
    "Alert",
    "Anomaly",
    "AuditLog",
    "BudgetChange",
    "BudgetCrossing",
    "ChangeEvent",
    "CostPoint",
    "CostSeries",
    "DetectorState",
    "IngestRun",
    "LineFeedback",
    "OutboxMessage",
    "Plan",
    "PlaybookRun",
    "RunbookEntry",
    "RunbookRevision",
    "FOCUS_LINE_COLUMNS",
    "SERIES_COLUMNS",
]

# The columns of a line of spend read from the export as text (FOCUS names in snake case).
FOCUS_LINE_COLUMNS: tuple[str, ...] = (
    "provider",
    "billing_account_id",
    "sub_account_id",
    "sub_account_name",
    "service_name",
    "service_category",
    "region",
    "sku_id",
)
# The columns that, with the hour, identify one hourly point of one line of spend: the export's,
# then what allocation gives it, then what its points are counted in.
SERIES_COLUMNS: tuple[str, ...] = (
    *FOCUS_LINE_COLUMNS,
    "project",
    "environment",
    "owner",
    "phase",
    "cost_center",
    "charge_category",
    "currency",
    "usage_unit",
)


class IngestRun(SQLModel, table=True):
    """One file of one delivery, and what became of its rows."""

    __tablename__ = "ingest_run"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: str = Field(index=True, max_length=36)
    source: str = Field(index=True, max_length=500)
    file_path: str = Field(max_length=2000)
    checksum: str = Field(max_length=64)
    fingerprint: str = Field(index=True, max_length=64)
    file_size: int = 0
    # a RunStatus (bot.ingest.enums): running, succeeded, duplicate, failed, held
    status: str = Field(default=RunStatus.RUNNING, max_length=20)
    started_at: datetime
    finished_at: datetime | None = None
    rows_read: int = 0
    rows_kept: int = 0
    rows_rejected: int = 0
    points_written: int = 0
    billing_periods: list[Any] = Field(default_factory=list, sa_column=Column(JSON))
    rejected_reasons: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    warnings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    quarantine_path: str | None = Field(default=None, max_length=2000)
    # set when a later delivery replaced some of this run's points (it is no longer current)
    superseded_at: datetime | None = None
    message: str | None = None
    # a read of a window source (an API, a warehouse) from this hour on; None for a file.
    # A file delivery replaces (billing account, billing period) scopes of earlier files; a
    # window read replaces its own source's points from this hour on.
    window_start: datetime | None = None


class SourceState(SQLModel, table=True):
    """Where each configured source stands: its watermark, freshness and last error."""

    __tablename__ = "source_state"

    name: str = Field(primary_key=True, max_length=200)  # the source's label
    kind: str = Field(max_length=30)  # its settings ``type``
    # window sources: the next read starts here less the overlap (exclusive end of the last)
    watermark: datetime | None = None
    # the first hour still an estimate; the next read starts no later than this
    provisional_from: datetime | None = None
    # the newest hour the source had data for: its lag is now minus the end of this hour
    newest_hour: datetime | None = None
    last_attempt_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = Field(default=None, sa_type=Text)
    last_error_at: datetime | None = None
    failures: int = 0  # failed reads in a row
    retry_at: datetime | None = None  # not read again by the scheduler before this
    rows_last: int = 0  # rows kept by the last successful read
    rows_total: int = 0
    points_last: int = 0
    requests_last: int = 0
    paid_requests_total: int = 0


class ChatConversation(SQLModel, table=True):
    """A conversation the bot was added to on a platform that needs an address to post
    (Teams): where to send (``service_url``), kept from the install and from the latest
    activity that came from it."""

    __tablename__ = "chat_conversation"

    platform: str = Field(primary_key=True, max_length=20)
    conversation_id: str = Field(primary_key=True, max_length=400)
    service_url: str = Field(max_length=400)
    tenant_id: str | None = Field(default=None, max_length=100)
    kind: str | None = Field(default=None, max_length=30)  # channel, groupChat, personal
    name: str | None = Field(default=None, max_length=400)
    team_id: str | None = Field(default=None, max_length=400)
    installed_at: datetime | None = None  # the bot was added (None: only written from)
    removed_at: datetime | None = None  # the bot was removed from it
    seen_at: datetime  # the latest activity from it


class CostSeries(SQLModel, table=True):
    """One line of spend: everything that identifies it, allocation included.

    Text columns are unbounded: providers allow tag values of 256 characters and more.
    """

    __tablename__ = "cost_series"
    __table_args__ = (
        UniqueConstraint(*SERIES_COLUMNS, name="uq_cost_series_identity"),
        Index("ix_cost_series_workload", "project", "environment"),
        Index("ix_cost_series_account", "billing_account_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(sa_type=Text)
    billing_account_id: str = Field(sa_type=Text)
    sub_account_id: str = Field(sa_type=Text)
    sub_account_name: str = Field(sa_type=Text)
    service_name: str = Field(sa_type=Text)
    service_category: str = Field(sa_type=Text)
    region: str = Field(sa_type=Text)
    # the provider's SKU (for AI services: the model and token kind); "" when the export has none
    sku_id: str = Field(default="", sa_type=Text)
    project: str = Field(sa_type=Text)
    environment: str = Field(sa_type=Text)
    owner: str = Field(sa_type=Text)
    phase: str = Field(max_length=20)
    cost_center: str = Field(sa_type=Text)
    charge_category: str = Field(max_length=20)
    currency: str = Field(max_length=3)
    usage_unit: str = Field(sa_type=Text)


class CostPoint(SQLModel, table=True):
    """Spend of one series in one hour, from one ingest run (narrow: it is the big table).

    ``hours`` is 1 for what ingest writes and 24 for a day rolled up by retention
    (``storage.queries.retention``): then ``hour`` is the day's 00:00 UTC and the values are
    the day's sums, so a sum over any period holding the whole day is unchanged.
    """

    __tablename__ = "cost_point"
    __table_args__ = (
        # the one index: every read goes through the series (join, then a range of hours),
        # and each extra index on this table roughly halved the bulk-load speed; the amounts
        # ride in it so sums are read from the index alone (migration 0011)
        Index("ix_cost_point_series_hour_cost", "series_id", "hour", "effective_cost",
              "billed_cost"),
    )

    id: int | None = Field(default=None, primary_key=True)
    series_id: int = Field(foreign_key="cost_series.id")
    ingest_run_id: int = Field(foreign_key="ingest_run.id")
    hour: datetime
    billing_period_start: datetime
    billed_cost: float = 0.0
    effective_cost: float = 0.0
    usage_quantity: float = 0.0
    line_items: int = 0
    hours: int = Field(default=1, sa_column_kwargs={"server_default": "1"})


class Anomaly(SQLModel, table=True):
    """One incident of unusual spend on one workload, updated while it lasts."""

    __tablename__ = "anomaly"
    __table_args__ = (Index("ix_anomaly_workload", "project", "environment", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    project: str = Field(sa_type=Text)
    environment: str = Field(sa_type=Text)
    owner: str = Field(sa_type=Text)
    phase: str = Field(max_length=20)
    kind: str = Field(max_length=50)  # an AnomalyKind (bot.anomaly.enums)
    # the detector's: an AnomalyStatus (bot.anomaly.enums): open, auto-resolved
    status: str = Field(default=AnomalyStatus.OPEN, max_length=30)
    started_at: datetime
    detected_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None = None
    expected_cost: float = 0.0
    actual_cost: float = 0.0
    impact_usd: float = 0.0
    peak_hourly_usd: float = 0.0
    evidence: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    # what people did about it (the detector never writes these): an AnomalyResponse
    # (bot.anomaly.enums): none, acknowledged, investigating, stabilised, expected, resolved
    response: str = Field(default=AnomalyResponse.NONE, max_length=30)
    response_by: str | None = Field(default=None, max_length=100)
    response_at: datetime | None = None
    response_note: str | None = Field(default=None, sa_type=Text)
    snoozed_until: datetime | None = None
    reminded_at: datetime | None = None
    escalated_at: datetime | None = None


class DetectorState(SQLModel, table=True):
    """Small named state of scheduled jobs, e.g. the last hour the detector judged."""

    __tablename__ = "detector_state"

    name: str = Field(primary_key=True, max_length=100)
    value: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    updated_at: datetime


class Alert(SQLModel, table=True):
    """The one chat message that represents an anomaly on one platform."""

    __tablename__ = "alert"
    __table_args__ = (UniqueConstraint("anomaly_id", "platform", name="uq_alert_anomaly"),)

    id: int | None = Field(default=None, primary_key=True)
    anomaly_id: int = Field(foreign_key="anomaly.id", index=True)
    platform: str = Field(max_length=20)  # a Platform (bot.chat.enums): slack, console
    channel: str = Field(max_length=100)
    message_ref: str | None = Field(default=None, max_length=200)
    # an AlertStatus (bot.outbox.enums): pending, posted, dead
    status: str = Field(default=AlertStatus.PENDING, max_length=20)
    created_at: datetime
    updated_at: datetime


class OutboxMessage(SQLModel, table=True):
    """A message to send, stored before it is sent (see ``bot.outbox.deliverer``)."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=20)  # a Platform (bot.chat.enums): slack, console
    channel: str = Field(max_length=100)
    # an Operation (bot.outbox.enums): post, update, reply, chart, notice
    operation: str = Field(max_length=20)
    alert_id: int | None = Field(default=None, foreign_key="alert.id", index=True)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    # a MessageStatus (bot.outbox.enums): pending, sent, dead
    status: str = Field(default=MessageStatus.PENDING, max_length=20)
    attempts: int = 0
    next_attempt_at: datetime
    created_at: datetime
    sent_at: datetime | None = None
    result_ref: str | None = Field(default=None, max_length=200)
    last_error: str | None = Field(default=None, sa_type=Text)


class PlaybookRun(SQLModel, table=True):
    __tablename__ = "playbook_run"

    id: int | None = Field(default=None, primary_key=True)
    anomaly_id: int = Field(foreign_key="anomaly.id", index=True)
    playbook: str = Field(max_length=100)
    current_step: str = Field(max_length=100)
    answers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    started_by: str = Field(max_length=100)
    started_at: datetime
    completed_at: datetime | None = None


class RunbookEntry(SQLModel, table=True):
    """What the team learned from one incident on a workload."""

    __tablename__ = "runbook_entry"
    __table_args__ = (Index("ix_runbook_workload", "project", "environment", "service_name"),)

    id: int | None = Field(default=None, primary_key=True)
    project: str = Field(sa_type=Text)
    environment: str = Field(sa_type=Text)
    service_name: str = Field(sa_type=Text)
    anomaly_id: int | None = Field(default=None, foreign_key="anomaly.id")
    root_cause: str
    fix: str
    prevention: str
    author: str = Field(max_length=100)
    created_at: datetime
    # every answer of the playbook walk: [{step, title, by, at, fields: [{label, text}]}]
    answers: list[Any] = Field(default_factory=list, sa_column=Column(JSON))
    # 1 when written; each edit adds one and keeps the text it replaced in runbook_revision
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    updated_by: str | None = Field(default=None, max_length=100)
    updated_at: datetime | None = None


class RunbookRevision(SQLModel, table=True):
    """What a runbook entry said before an edit: its version, text, and who wrote it when."""

    __tablename__ = "runbook_revision"
    __table_args__ = (UniqueConstraint("entry_id", "version", name="uq_runbook_revision"),)

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="runbook_entry.id", index=True)
    version: int
    root_cause: str = Field(sa_type=Text)
    fix: str = Field(sa_type=Text)
    prevention: str = Field(sa_type=Text)
    author: str = Field(max_length=100)  # who wrote this version
    written_at: datetime  # when this version was written


class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    actor: str = Field(max_length=100)
    action: str = Field(max_length=100)
    subject_type: str = Field(max_length=50)
    subject_id: str = Field(max_length=100)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))


class BudgetChange(SQLModel, table=True):
    """A monthly budget set in chat (``/cost budget set``): the newest for a project and
    environment replaces the configured amount. Rows are kept, so the history stays."""

    __tablename__ = "budget_change"

    id: int | None = Field(default=None, primary_key=True)
    project: str = Field(sa_type=Text)
    environment: str = Field(sa_type=Text)
    monthly: float
    set_by: str = Field(max_length=100)
    set_at: datetime = Field(index=True)


class BudgetCrossing(SQLModel, table=True):
    """A threshold of a budget reached in one period, by actual spend, by the forecast, or
    (``burn``) a pace that empties the budget before the period ends. One row per threshold,
    basis and period: the unique key is what makes each threshold alert once, across replicas.
    Raising the budget deletes the rows its new amount is no longer past (they re-arm)."""

    __tablename__ = "budget_crossing"
    __table_args__ = (UniqueConstraint("budget", "period_start", "basis", "threshold",
                                       name="uq_budget_crossing"),)

    id: int | None = Field(default=None, primary_key=True)
    budget: str = Field(max_length=400)  # Budget.key: project/environment/period kind
    period_start: datetime
    basis: str = Field(max_length=20)  # a Basis (bot.finance.budgets): actual, forecast, burn
    threshold: float  # percent of the budget; 0 for burn
    crossed_at: datetime
    amount: float  # the budget when it was crossed
    spent: float
    forecast: float | None = None


class Plan(SQLModel, table=True):
    """Planned spend on a workload: within its dollar envelope and its dates no alert fires;
    beyond the envelope an alert says the plan was exceeded. Declared in advance (``/cost plan``,
    ``spendwatch plans add``) or made when an alert is marked expected (``anomaly_id``). A plan
    is never deleted: removing one stamps ``removed_at``, so the history stays."""

    __tablename__ = "plan"
    __table_args__ = (Index("ix_plan_workload", "project", "environment", "ends_at"),)

    id: int | None = Field(default=None, primary_key=True)
    project: str = Field(sa_type=Text)
    environment: str = Field(sa_type=Text)  # "*": every environment of the project
    service_name: str = Field(default="", sa_type=Text)  # "": every service of the workload
    amount_usd: float  # the envelope: spend above normal the plan covers, in total
    starts_at: datetime
    ends_at: datetime
    reason: str = Field(default="", sa_type=Text)
    created_by: str = Field(max_length=100)
    created_at: datetime
    anomaly_id: int | None = Field(default=None, foreign_key="anomaly.id")
    removed_by: str | None = Field(default=None, max_length=100)
    removed_at: datetime | None = None


class LineFeedback(SQLModel, table=True):
    """"Not an anomaly" said about one line of spend: what counts as normal for that line is
    widened until someone undoes it (``undone_at``)."""

    __tablename__ = "line_feedback"
    __table_args__ = (Index("ix_line_feedback_line", "project", "environment", "service_name"),)

    id: int | None = Field(default=None, primary_key=True)
    project: str = Field(sa_type=Text)
    environment: str = Field(sa_type=Text)
    service_name: str = Field(sa_type=Text)
    region: str = Field(default="", sa_type=Text)
    sku_id: str = Field(default="", sa_type=Text)
    anomaly_id: int | None = Field(default=None, foreign_key="anomaly.id")
    # the line's hourly spend the person called normal, and the baseline it was judged against
    level_usd: float
    baseline_usd: float
    note: str | None = Field(default=None, sa_type=Text)
    created_by: str = Field(max_length=100)
    created_at: datetime
    undone_by: str | None = Field(default=None, max_length=100)
    undone_at: datetime | None = None


class ChangeEvent(SQLModel, table=True):
    """A deploy, release or config change on a workload, from the signed webhook or a poller:
    what an alert lists under "what changed". ``external_id`` is the sender's own id, so a
    resent event is stored once."""

    __tablename__ = "change_event"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_change_event_source"),
        Index("ix_change_event_workload", "project", "environment", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=50)  # webhook, github
    external_id: str = Field(max_length=400)
    kind: str = Field(max_length=30)  # deploy, release, config, ...
    project: str = Field(sa_type=Text)
    environment: str = Field(default="", sa_type=Text)  # "": not known
    service_name: str = Field(default="", sa_type=Text)
    summary: str = Field(sa_type=Text)
    url: str | None = Field(default=None, sa_type=Text)
    actor: str | None = Field(default=None, max_length=200)
    at: datetime  # when the change happened
    recorded_at: datetime
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
