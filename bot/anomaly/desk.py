"""The anomaly desk: everything a chat adapter asks of the domain, one short transaction each.

Chat adapters (Slack, Teams, the console) translate what people click or type into calls on
an :class:`AnomalyDesk` and render what it returns (views, the next playbook step, the answer
to a ``/cost`` question); they never open a session, read the store or decide who may act or
see. Each method opens one transaction, calls the domain services of
:mod:`bot.anomaly.service` (which check :mod:`bot.anomaly.access`; budgets:
:mod:`bot.finance.chat`), and commits, or rolls back on an error: a :class:`ResponseError`
(with :class:`NotAllowed` and :class:`NothingChanged`) or the playbook's ``StepError`` for the
person, anything else a bug.

An anomaly and its playbook answers are read, changed and written back, so two actions at the
same moment must apply one after the other: PostgreSQL locks the rows (``for_update`` in
``storage.queries.anomalies``), and within a process every desk on the same engine also
takes one lock for each action (SQLite has no row locks).

A click whose answer is the refreshed card (Teams) does its action and reads the card's state
back in the same transaction (:meth:`AnomalyDesk.on_card`): the card shows exactly what the
action stored, and the anomaly just locked and changed is not read again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from copy import copy
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.anomaly import feedback, feedback_chat, plans_chat, service, walk
from bot.anomaly.access import (
    NotAllowed,
    NothingChanged,
    ResponseError,
    check_may_act,
    check_may_see,
    visible_owners,
)
from bot.anomaly.feedback_chat import FeedbackAnswer
from bot.anomaly.feedback_view import FeedbackView
from bot.anomaly.plans import ExpectedPlan, expected_defaults
from bot.anomaly.plans_chat import PlanAnswer
from bot.anomaly.runbooks import runbook_views
from bot.anomaly.service import EXPECTED_MAX_CHARS, EXPECTED_MIN_CHARS
from bot.anomaly.views import AlertView, RunbookView, main_service, runbook_view
from bot.anomaly.walk import StepStarted
from bot.costs.command import CostAnswer, Scope, respond
from bot.finance import chat as budget_chat
from bot.finance.chat import BudgetAnswer
from bot.playbook import Playbook, PlaybookState, next_step
from bot.playbook.library import PlaybookLibrary
from bot.settings import Settings
from storage import queries
from storage.db import session_scope

__all__ = [
    "EXPECTED_MAX_CHARS",
    "EXPECTED_MIN_CHARS",
    "AnomalyDesk",
    "HomeView",
    "NotAllowed",
    "NothingChanged",
    "ResponseError",
    "StepSaved",
    "StepStarted",
    "WorkloadRunbook",
]

T = TypeVar("T")
HOME_ALERTS = 20
HOME_RESOLUTIONS = 10

_LOCKS: WeakKeyDictionary[Engine, threading.Lock] = WeakKeyDictionary()
_LOCKS_LOCK = threading.Lock()


def _lock_for(engine: Engine) -> threading.Lock:
    with _LOCKS_LOCK:
        return _LOCKS.setdefault(engine, threading.Lock())


@dataclass(frozen=True)
class HomeView:
    """What App Home shows a user: open anomalies of their teams, newest first, and how recent
    ones were resolved (workload title, runbook entry), newest first."""

    open_alerts: list[AlertView]
    resolutions: list[tuple[str, RunbookView]]


@dataclass(frozen=True)
class WorkloadRunbook:
    """The runbook of an anomaly's workload (its project, environment and main service)."""

    workload: tuple[str, str, str]  # project, environment, main service ("" when unknown)
    entries: list[RunbookView]  # newest first
    filed: RunbookView | None  # the entry this anomaly's own playbook wrote, if it did


@dataclass(frozen=True)
class StepSaved:
    """A playbook step saved: the answers now, and the next undone step (None when done)."""

    state: PlaybookState
    following: StepStarted | None


class AnomalyDesk:
    """The domain's actions and views for chat adapters, over one store."""

    def __init__(self, *, engine: Engine, settings: Settings,
                 playbook: Playbook | PlaybookLibrary) -> None:
        self._engine = engine
        self.settings = settings
        # every playbook by name: each anomaly walks the one its match rules chose
        self.playbooks = PlaybookLibrary.of(playbook)
        self.playbook = self.playbooks.default
        self._lock = _lock_for(engine)
        self._bound: Session | None = None  # the transaction of :meth:`on_card`, inside it

    def playbook_for(self, anomaly_id: int) -> Playbook:
        """The anomaly's playbook: its walk's once started, else the one chosen for it."""
        with self._session() as session:
            return walk.playbook_for(db_session=session, playbooks=self.playbooks,
                                     anomaly_id=anomaly_id)

    def with_operator(self, user: str) -> AnomalyDesk:
        """The same desk for whoever runs the bot at its console: ``user`` may act on and see
        every anomaly, as ``routing.finops`` users may."""
        routing = self.settings.routing
        trusted = routing.model_copy(update={"finops": [*routing.finops, user]})
        return AnomalyDesk(engine=self._engine, playbook=self.playbooks,
                           settings=self.settings.model_copy(update={"routing": trusted}))

    # -- views ----------------------------------------------------------------------------------

    def exists(self, anomaly_id: int) -> bool:
        with self._session() as session:
            found = queries.anomalies.get_anomaly(db_session=session, anomaly_id=anomaly_id)
            return found is not None

    def home(self, *, user: str) -> HomeView:
        owners = visible_owners(self.settings.routing, user=user)
        with self._session() as session:
            rows = queries.anomalies.anomalies_by_status(db_session=session, owners=owners,
                                                         limit=HOME_ALERTS)
            alerts = [service.load_alert_view(db_session=session, anomaly_id=int(a.id or 0),
                                              playbook=self.playbooks) for a in rows]
            recent = queries.runbooks.recent_runbook(db_session=session, owners=owners,
                                                     limit=HOME_RESOLUTIONS)
            return HomeView(alerts, [(f"{e.project} · {e.environment}", runbook_view(e))
                                     for e in recent])

    def runbook(self, anomaly_id: int, *, user: str,
                channel: str | None = None) -> tuple[str, list[RunbookView]]:
        """The runbook of the anomaly's project and environment (title, entries), for someone
        who may see it."""
        with self._session() as session:
            return service.load_runbook(db_session=session, settings=self.settings,
                                        anomaly_id=anomaly_id, user=user, channel=channel)

    def workload_runbook(self, anomaly_id: int, *, user: str,
                         channel: str | None = None) -> WorkloadRunbook:
        """The runbook of the anomaly's workload, down to its main service."""
        with self._session() as session:
            anomaly = service.load_anomaly(db_session=session, anomaly_id=anomaly_id)
            check_may_see(self.settings.routing, user=user, owner=anomaly.owner,
                          channel=channel)
            workload = (anomaly.project, anomaly.environment, main_service(anomaly))
            rows = queries.runbooks.runbook_for(db_session=session, project=anomaly.project,
                                                environment=anomaly.environment,
                                                service_name=workload[2] or None)
            views = runbook_views(db_session=session, entries=list(rows))
            filed = next((v for e, v in zip(rows, views, strict=True)
                          if e.anomaly_id == anomaly_id), None)
            return WorkloadRunbook(workload, views, filed)

    def current_step(self, anomaly_id: int) -> StepStarted | None:
        """The playbook step a walk in progress is at, for a card that shows the walk."""
        with self._session() as session:
            return walk.current_step(db_session=session, playbook=self.playbooks,
                                     anomaly_id=anomaly_id)

    def card_state(self, anomaly_id: int) -> tuple[AlertView, StepStarted | None]:
        """The alert view and the walk's current step, in one read (a Teams card's inputs)."""
        with self._session() as session:
            return walk.load_card_state(db_session=session, anomaly_id=anomaly_id,
                                        playbook=self.playbooks)

    def alert_view(self, anomaly_id: int) -> AlertView:
        """The alert as the store has it now (what the outbox would draw)."""
        with self._session() as session:
            return service.load_alert_view(db_session=session, anomaly_id=anomaly_id,
                                           playbook=self.playbooks)

    def channel_owners(self, *, channel: str | None) -> frozenset[str] | None:
        """The owners whose spend a request from ``channel`` sees (``/cost``); None means all:
        the FinOps channel, and the local console (``channel`` None)."""
        owners = None if channel is None else self.settings.routing.owners_of(channel)
        return None if owners is None else frozenset(owners)

    def cost(self, text: str, *, user: str, channel: str | None
             ) -> CostAnswer | BudgetAnswer | PlanAnswer | FeedbackAnswer:
        """Answer a ``/cost`` text within what ``channel`` sees. ``budget ...`` reads budgets,
        and sets them for FinOps (audited): ``bot.finance.chat``; ``plan ...`` and ``plans``
        declare and list planned spend (audited): ``bot.anomaly.plans_chat``; ``feedback ...``
        lists and undoes line feedback: ``bot.anomaly.feedback_chat``."""
        owners = self.channel_owners(channel=channel)
        scope = Scope.everything() if owners is None else Scope.of_owners(owners)
        if plans_chat.asks_plans(text):
            with self._session() as session:
                return plans_chat.respond(text, db_session=session, settings=self.settings,
                                          scope=scope, user=user, channel=channel,
                                          now=datetime.now(UTC))
        if feedback_chat.asks_feedback(text):
            with self._action() as (session, now):
                return feedback_chat.respond(text, db_session=session, settings=self.settings,
                                             owners=owners, user=user, channel=channel,
                                             now=now)
        if not budget_chat.asks_budget(text):
            return respond(text, connection_or_engine=self._engine, scope=scope,
                           environment_aliases=self.settings.allocation.environment_aliases)
        with self._session() as session:
            return budget_chat.respond(text, db_session=session, settings=self.settings,
                                       scope=scope, user=user, now=datetime.now(UTC))

    # -- actions --------------------------------------------------------------------------------

    def announce(self, anomaly_id: int, *, platform: str) -> bool:
        """Queue the anomaly's alert for ``platform`` (once); False when it was queued before."""
        with self._action() as (session, now):
            return service.announce(db_session=session, settings=self.settings,
                                    anomaly_id=anomaly_id, platform=platform, now=now)

    def acknowledge(self, anomaly_id: int, *, user: str, channel: str | None = None) -> None:
        with self._action() as (session, now):
            service.acknowledge(db_session=session, settings=self.settings,
                                anomaly_id=anomaly_id, user=user, now=now, channel=channel)

    def snooze(self, anomaly_id: int, *, user: str, hours: int,
               channel: str | None = None) -> None:
        with self._action() as (session, now):
            service.snooze(db_session=session, settings=self.settings, anomaly_id=anomaly_id,
                           user=user, hours=hours, now=now, channel=channel)

    def check_may_act(self, anomaly_id: int, *, user: str, channel: str | None = None) -> None:
        """Before a form is shown: ``user`` may act on this anomaly (NotAllowed if not)."""
        with self._session() as session:
            anomaly = service.load_anomaly(db_session=session, anomaly_id=anomaly_id)
            check_may_act(self.settings.routing, user=user, owner=anomaly.owner,
                          channel=channel)

    def check_may_mark_expected(self, anomaly_id: int, *, user: str,
                                channel: str | None = None) -> None:
        """Before the reason is asked for: ``user`` may act, and it is not expected yet."""
        with self._action() as (session, _):
            service.check_may_mark_expected(db_session=session, settings=self.settings,
                                            anomaly_id=anomaly_id, user=user, channel=channel)

    def mark_expected(self, anomaly_id: int, *, user: str, reason: str,
                      channel: str | None = None, plan: ExpectedPlan | None = None) -> None:
        with self._action() as (session, now):
            service.mark_expected(db_session=session, settings=self.settings,
                                  anomaly_id=anomaly_id, user=user, reason=reason, now=now,
                                  channel=channel, plan=plan)

    def expected_defaults(self, anomaly_id: int) -> ExpectedPlan:
        """What the expected form offers as the plan: this workload, twice the impact so far,
        a week from now."""
        with self._session() as session:
            anomaly = service.load_anomaly(db_session=session, anomaly_id=anomaly_id)
            return expected_defaults(anomaly, datetime.now(UTC))

    def check_may_say_not_an_anomaly(self, anomaly_id: int, *, user: str,
                                     channel: str | None = None) -> None:
        """Before the note is asked for: ``user`` may act, and nobody said it already."""
        with self._action() as (session, _):
            feedback.check_may_say(db_session=session, settings=self.settings,
                                   anomaly_id=anomaly_id, user=user, channel=channel)

    def not_an_anomaly(self, anomaly_id: int, *, user: str, note: str | None = None,
                       channel: str | None = None) -> list[FeedbackView]:
        """Close the alert as not an anomaly; its lines' spend becomes normal for them."""
        with self._action() as (session, now):
            return feedback.not_an_anomaly(db_session=session, settings=self.settings,
                                           anomaly_id=anomaly_id, user=user, note=note,
                                           now=now, channel=channel)

    def undo_feedback(self, feedback_id: int, *, user: str,
                      channel: str | None = None) -> FeedbackView:
        """Undo one piece of line feedback (audited); the line is judged normally again."""
        with self._action() as (session, now):
            return feedback.undo(db_session=session, settings=self.settings,
                                 feedback_id=feedback_id, user=user, now=now, channel=channel)

    def escalate(self, anomaly_id: int, *, user: str, channel: str | None = None) -> None:
        with self._action() as (session, now):
            service.escalate(db_session=session, settings=self.settings,
                             anomaly_id=anomaly_id, user=user, now=now, channel=channel)

    def open_step(self, anomaly_id: int, *, user: str,
                  channel: str | None = None) -> StepStarted:
        """Start the playbook (the first time) or continue it: the next undone step."""
        with self._action() as (session, now):
            return walk.open_step(db_session=session, settings=self.settings,
                                  playbook=self.playbooks, anomaly_id=anomaly_id, user=user,
                                  now=now, channel=channel)

    def save_step(self, anomaly_id: int, *, step_id: str, values: dict[str, object],
                  user: str, channel: str | None = None) -> StepSaved:
        """Store one step's answers (the playbook's ``StepError`` names the refused fields)
        and open the next undone step, so one person can walk on."""
        with self._action() as (session, now):
            state = walk.submit_step(db_session=session, settings=self.settings,
                                     playbook=self.playbooks, anomaly_id=anomaly_id,
                                     step_id=step_id, values=values, user=user, now=now,
                                     channel=channel)
            playbook = walk.playbook_for(db_session=session, playbooks=self.playbooks,
                                         anomaly_id=anomaly_id)
            step = next_step(playbook, state)
            if step is None:
                return StepSaved(state, None)
            return StepSaved(state, walk.open_step(
                db_session=session, settings=self.settings, playbook=self.playbooks,
                anomaly_id=anomaly_id, user=user, now=now, step_id=step.id, channel=channel))

    def on_card(self, anomaly_id: int, act: Callable[[AnomalyDesk], T]
                ) -> tuple[T, AlertView, StepStarted | None]:
        """``act`` on this desk, then the card's state after it (:meth:`card_state`), in one
        transaction under the desk's lock: committed together, or rolled back together when
        ``act`` raises."""
        with self._lock, session_scope(self._engine) as session:
            bound = copy(self)
            bound._bound = session
            # the session's identity map holds rows weakly: keeping what ``act`` loaded lets
            # the read below take the anomaly as the action left it instead of reading it again
            kept: list[object] = []
            event.listen(session, "loaded_as_persistent", lambda _, row: kept.append(row))
            done = act(bound)
            view, step = walk.load_card_state(db_session=session, anomaly_id=anomaly_id,
                                              playbook=self.playbooks)
            return done, view, step

    @contextmanager
    def _session(self) -> Iterator[Session]:
        if self._bound is not None:
            yield self._bound
            return
        with session_scope(self._engine) as session:
            yield session

    @contextmanager
    def _action(self) -> Iterator[tuple[Session, datetime]]:
        if self._bound is not None:  # inside on_card: its lock and transaction
            yield self._bound, datetime.now(UTC)
            return
        with self._lock, session_scope(self._engine) as session:
            yield session, datetime.now(UTC)
