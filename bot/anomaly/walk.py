"""The playbook walk of an anomaly: start it, show the step it is at, save a step, file the
runbook entry when the last one is done.

Services in the manner of :mod:`bot.anomaly.service` (keyword-only, session first, who may act
checked, audit and message updates in the caller's transaction), kept apart because the walk
is the one part that depends on the playbook library.

The playbook is chosen once, at the first click, by the match rules
(:mod:`bot.anomaly.choice`), and its name stored with the walk (``PlaybookRun.playbook``);
every later step, the alert and the card read that stored name. A walk whose playbook has been
removed since goes on with the default, says so once in the alert's thread, and keeps the
answers to the steps the two share.

A step not answered yet on a workload whose earlier incident was walked to a runbook entry
comes with that walk's answers (:class:`~bot.anomaly.runbooks.Prefill`, on
:attr:`StepStarted.prefill`) for the form to show; they are stored only when submitted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from bot.anomaly.access import ResponseError
from bot.anomaly.choice import lever_options, rebase
from bot.anomaly.choice import playbook_of as _playbook_of
from bot.anomaly.enums import AnomalyResponse, AuditAction
from bot.anomaly.runbooks import Prefill, prefill_for
from bot.anomaly.service import (
    _anomaly,
    _for_action,
    _record,
    _respond,
    _view_and_run,
    notify,
)
from bot.anomaly.views import CLOSING, AlertView, main_service
from bot.playbook import (
    Option,
    Playbook,
    PlaybookState,
    Step,
    answered_steps,
    next_step,
    resolution,
    start,
    submit,
)
from bot.playbook.answers import to_records
from bot.playbook.library import PlaybookLibrary
from bot.settings import Settings
from storage import queries
from storage.models import Anomaly, PlaybookRun, RunbookEntry

__all__ = ["StepStarted", "current_step", "load_card_state", "open_step", "playbook_for",
           "submit_step"]

Playbooks = Playbook | PlaybookLibrary


@dataclass(frozen=True)
class StepStarted:
    anomaly: Anomaly
    step: Step
    position: tuple[int, int]  # (k, n): step k of n
    state: PlaybookState
    options: dict[str, list[Option]]
    playbook: Playbook | None = None  # the walk's playbook (its title heads the form)
    # an earlier incident's answers to this step, to show (not saved) when it has none yet
    prefill: Prefill | None = None


def playbook_for(*, db_session: Session, playbooks: Playbooks, anomaly_id: int) -> Playbook:
    """The anomaly's playbook: its walk's once started, else the one its facts choose."""
    anomaly = _anomaly(db_session, anomaly_id)
    run = queries.runbooks.get_playbook_run(db_session=db_session, anomaly_id=anomaly_id)
    return _playbook_of(db_session=db_session, library=PlaybookLibrary.of(playbooks),
                        anomaly=anomaly, run=run)


def open_step(*, db_session: Session, settings: Settings, playbook: Playbooks, anomaly_id: int,
              user: str, now: datetime, step_id: str | None = None,
              channel: str | None = None) -> StepStarted:
    """Start the walk (first click: the playbook is chosen and stored) or continue it with
    the stored playbook: the step to show next."""
    anomaly = _for_action(db_session, settings, anomaly_id, user, channel)
    library = PlaybookLibrary.of(playbook)
    run = queries.runbooks.get_playbook_run(db_session=db_session, anomaly_id=anomaly_id)
    chosen = _playbook_of(db_session=db_session, library=library, anomaly=anomaly, run=run)
    if run is None:
        state = start(chosen, by=user, at=now)
        run = PlaybookRun(anomaly_id=anomaly_id, playbook=chosen.name,
                          current_step=chosen.steps[0].id, answers=state.model_dump(mode="json"),
                          started_by=user, started_at=now)
        db_session.add(run)
        if anomaly.response in (AnomalyResponse.NONE, AnomalyResponse.ACKNOWLEDGED):
            _respond(anomaly, AnomalyResponse.INVESTIGATING, user, now)
        _record(db_session, anomaly, user, now, AuditAction.PLAYBOOK_STARTED,
                f"started the playbook “{chosen.title}”")
    state = _stored_state(db_session, run, chosen, now)
    step = chosen.step(step_id) if step_id else next_step(chosen, state)
    if step is None:
        raise ResponseError("the playbook is complete; see View runbook for what was recorded")
    return _started(db_session, anomaly, chosen, step, state)


def _started(db_session: Session, anomaly: Anomaly, playbook: Playbook, step: Step,
             state: PlaybookState) -> StepStarted:
    ids = [s.id for s in playbook.steps]
    options = lever_options(anomaly, playbook)
    prefill = prefill_for(db_session=db_session, anomaly=anomaly, playbook=playbook, step=step,
                          state=state, options=options)
    return StepStarted(anomaly, step, (ids.index(step.id) + 1, len(ids)), state, options,
                       playbook, prefill)


def _stored_state(db_session: Session, run: PlaybookRun, playbook: Playbook,
                  now: datetime) -> PlaybookState:
    """The walk's answers; moved to ``playbook`` (and said in the thread, once) when the
    walk's own playbook is no longer installed."""
    state = PlaybookState.model_validate(run.answers)
    if run.playbook == playbook.name:
        return state
    gone = run.playbook
    state = rebase(state, playbook)
    run.playbook = playbook.name
    run.answers = state.model_dump(mode="json")
    db_session.add(run)
    notify(db_session=db_session, anomaly_id=run.anomaly_id, now=now, text=(
        f"The playbook “{gone}” this walk began with is no longer installed; it goes on with "
        f"“{playbook.title}”, keeping the answers to the steps both have."))
    return state


def current_step(*, db_session: Session, playbook: Playbooks, anomaly_id: int
                 ) -> StepStarted | None:
    """The step a walk in progress is at (the first undone one); None before the playbook was
    started, once it is complete, or when the anomaly is closed. Reads only: a card that
    shows the walk is drawn from it, whoever looks."""
    anomaly = _anomaly(db_session, anomaly_id)
    run = queries.runbooks.get_playbook_run(db_session=db_session, anomaly_id=anomaly_id)
    library = PlaybookLibrary.of(playbook)
    chosen = _playbook_of(db_session=db_session, library=library, anomaly=anomaly, run=run)
    return _walk_at(db_session, anomaly, run, chosen)


def load_card_state(*, db_session: Session, anomaly_id: int, playbook: Playbooks
                    ) -> tuple[AlertView, StepStarted | None]:
    """The alert view and the walk's current step, read once (what a card is drawn from)."""
    view, anomaly, run, state, chosen = _view_and_run(db_session, anomaly_id, playbook)
    return view, (_walk_at(db_session, anomaly, run, chosen, state) if chosen is not None
                  else None)


def _walk_at(db_session: Session, anomaly: Anomaly, run: PlaybookRun | None,
             playbook: Playbook, state: PlaybookState | None = None) -> StepStarted | None:
    if anomaly.response in CLOSING:
        return None
    if run is None:
        return None
    state = state or rebase(PlaybookState.model_validate(run.answers), playbook)
    step = next_step(playbook, state)
    if step is None:
        return None
    return _started(db_session, anomaly, playbook, step, state)


def submit_step(*, db_session: Session, settings: Settings, playbook: Playbooks,
                anomaly_id: int, step_id: str, values: dict[str, object], user: str,
                now: datetime, channel: str | None = None) -> PlaybookState:
    """Store one step's answers (raises the engine's StepError for the form to show), in the
    walk's stored playbook.

    The same answers saved again (a double submit, a replay) record nothing and return the
    stored state, so the form can move on as if it had been the first time.
    """
    anomaly = _for_action(db_session, settings, anomaly_id, user, channel)
    run = queries.runbooks.get_playbook_run(db_session=db_session, anomaly_id=anomaly_id,
                                            for_update=True)
    if run is None:
        raise ResponseError("start the playbook from the alert first")
    chosen = _playbook_of(db_session=db_session, library=PlaybookLibrary.of(playbook),
                          anomaly=anomaly, run=run)
    state = _stored_state(db_session, run, chosen, now)
    try:
        title = chosen.step(step_id).title
    except KeyError:
        raise ResponseError(f"this form is from a step the playbook “{chosen.title}” no "
                            f"longer has; open the alert again to continue") from None
    new = submit(chosen, state, step_id, values, by=user, at=now,
                 dynamic_options=lever_options(anomaly, chosen))
    before = state.steps.get(step_id)
    if before is not None and before.values == new.steps[step_id].values:
        return state
    run.answers = new.model_dump(mode="json")
    following = next_step(chosen, new)
    run.current_step = following.id if following else step_id
    if new.completed is not None and state.completed is None:
        run.completed_at = now
        _finish(db_session, chosen, anomaly, new, user, now)
    elif new.stabilised is not None and state.stabilised is None:
        _respond(anomaly, AnomalyResponse.STABILISED, user, now)
        _record(db_session, anomaly, user, now, AuditAction.STABILISED,
                f"completed “{title}”: spend is stabilised")
    else:
        _record(db_session, anomaly, user, now, AuditAction.PLAYBOOK_STEP, f"completed “{title}”",
                {"step": step_id})
    db_session.add(run)
    return new


def _finish(db_session: Session, playbook: Playbook, anomaly: Anomaly, state: PlaybookState,
            user: str, now: datetime) -> None:
    """File the runbook entry: the summary, and every answer of every step beside it."""
    done = resolution(playbook, state)
    entry = RunbookEntry(
        project=anomaly.project, environment=anomaly.environment,
        service_name=main_service(anomaly), anomaly_id=anomaly.id,
        root_cause=_with(done.root_cause, ("changed", done.what_changed)),
        fix=_with(done.fix, ("lever", done.lever), ("what was done", done.action_taken)),
        prevention=done.prevention, author=user, created_at=now,
        answers=to_records(answered_steps(playbook, state)),
    )
    queries.runbooks.add_runbook_entry(db_session=db_session, entry=entry)
    _respond(anomaly, AnomalyResponse.RESOLVED, user, now, note=done.root_cause[:2000])
    _record(db_session, anomaly, user, now, AuditAction.RESOLVED,
            "finished the playbook; the resolution is now in the workload's runbook",
            {"runbook_entry": entry.id})


def _with(text: str, *extras: tuple[str, str | None]) -> str:
    """``text (label: extra; label: extra)``, leaving out the extras nobody gave."""
    given = "; ".join(f"{label}: {extra}" for label, extra in extras if extra)
    return f"{text} ({given})" if given else text
