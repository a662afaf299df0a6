"""The playbook as a pure state machine: (playbook, state, submission) -> new state.

No chat, no database, no clock: the caller passes who acted and when, stores the returned
:class:`PlaybookState` (a versioned, JSON round-trippable model) and renders modals from the
:class:`~bot.playbook.schema.Playbook`. Any step can be taken by anyone in any order, except
that a step's ``requires`` must be done first; resubmitting a step overwrites it, so a later
responder can correct an earlier answer. The state is ``stabilised`` once the step marked
``stabilises`` is done and ``completed`` once every step is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict

from bot.playbook.enums import PlaybookStatus
from bot.playbook.schema import (
    MAX_TEXT_LENGTH,
    AnyField,
    ChecklistField,
    DynamicOptions,
    Option,
    Playbook,
    SelectField,
    Step,
    TextField,
)

__all__ = [
    "Answer", "ChecklistAnswer", "PlaybookIncompleteError", "PlaybookState", "PlaybookStatus",
    "Resolution", "SelectAnswer", "Stamp", "StepError", "StepProgress", "StepRecord",
    "next_step", "progress", "resolution", "start", "submit",
]


class StepError(Exception):
    """A submission was refused; ``errors`` maps field id -> what to do, shown under the field.

    Step-level problems (a required step not done yet) are reported under the step's first
    field, because a chat modal can only show errors next to an input.
    """

    def __init__(self, step_id: str, errors: Mapping[str, str]) -> None:
        self.step_id = step_id
        self.errors = dict(errors)
        details = "; ".join(f"{field}: {message}" for field, message in self.errors.items())
        super().__init__(f"step {step_id!r} not saved: {details}")


class PlaybookIncompleteError(Exception):
    """A resolution was asked for before every step was done."""


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]


class _State(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SelectAnswer(_State):
    """The chosen option; the label is kept because dynamic options are not in the playbook."""

    value: str
    label: str


class ChecklistAnswer(_State):
    checked: list[str]
    unchecked: list[str]
    reason: str | None = None


Answer = str | SelectAnswer | ChecklistAnswer


class Stamp(_State):
    """Who did something, and when (UTC)."""

    by: str
    at: UtcDatetime


class StepRecord(Stamp):
    """The answers of one step and who last submitted them."""

    values: dict[str, Answer | None]


class PlaybookState(_State):
    """Everything the engine needs between two clicks; store it as ``model_dump_json()``."""

    v: Literal[1] = 1
    playbook: str
    status: PlaybookStatus = PlaybookStatus.IN_PROGRESS
    started: Stamp
    steps: dict[str, StepRecord] = {}
    stabilised: Stamp | None = None
    completed: Stamp | None = None


@dataclass(frozen=True)
class StepProgress:
    """One line of the progress shown on the alert."""

    step_id: str
    title: str
    done: bool
    by: str | None = None
    at: datetime | None = None
    blocked_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Resolution:
    """What the runbook entry for the workload is made of; optional parts may be None."""

    playbook: str
    root_cause: str
    fix: str
    prevention: str
    what_changed: str | None
    what_changed_note: str | None
    lever: str | None
    action_taken: str | None
    owner: str | None
    review_notes: str | None
    completed_by: str
    completed_at: datetime


def start(playbook: Playbook, *, by: str, at: datetime) -> PlaybookState:
    """A fresh state for ``playbook``, started by ``by`` at ``at`` (timezone-aware)."""
    return PlaybookState(playbook=playbook.name, started=_stamp(by, at))


def submit(
    playbook: Playbook,
    state: PlaybookState,
    step_id: str,
    values: Mapping[str, object],
    *,
    by: str,
    at: datetime,
    dynamic_options: DynamicOptions | None = None,
) -> PlaybookState:
    """Validate one step's values and return the new state; the given state is not changed.

    ``values`` maps field id to what the person entered: a string for user, select and text
    fields; for a checklist a list of ticked item values, or ``{"checked": [...], "reason":
    "..."}``. ``dynamic_options`` maps an ``options_from`` source (``"levers"``) to the options
    offered in the modal; pass the same ones that were rendered. Raises :class:`StepError`.
    """
    _check_playbook(playbook, state)
    step = playbook.step(step_id)
    unknown = sorted(set(values) - {f.id for f in step.fields})
    if unknown:
        raise ValueError(f"step {step.id!r} has no field(s) {', '.join(unknown)}")
    stamp = _stamp(by, at)
    blockers = _blocked_by(state, step)
    if blockers:
        titles = ", ".join(f"“{playbook.step(s).title}”" for s in blockers)
        raise StepError(step.id, {step.fields[0].id: (
            f"Finish {titles} first: “{step.title}” can only be saved after that step is done."
        )})
    answers = _read_step(step, values, dynamic_options or {})
    steps = {**state.steps, step.id: StepRecord(values=answers, by=stamp.by, at=stamp.at)}
    return _advance(playbook, state, steps, stamp)


def progress(playbook: Playbook, state: PlaybookState) -> list[StepProgress]:
    """Every step of the playbook in order, done or not, and by whom."""
    _check_playbook(playbook, state)
    return [
        StepProgress(
            step_id=step.id, title=step.title, done=record is not None,
            by=record.by if record else None, at=record.at if record else None,
            blocked_by=_blocked_by(state, step),
        )
        for step in playbook.steps
        for record in [state.steps.get(step.id)]
    ]


def next_step(playbook: Playbook, state: PlaybookState) -> Step | None:
    """The first step not done yet (its ``requires`` are earlier, so it is never blocked)."""
    _check_playbook(playbook, state)
    return next((s for s in playbook.steps if s.id not in state.steps), None)


def resolution(playbook: Playbook, state: PlaybookState) -> Resolution:
    """The runbook entry, from the fields named in the playbook's ``resolution:`` mapping."""
    _check_playbook(playbook, state)
    missing = [s.title for s in playbook.steps if s.id not in state.steps]
    if state.completed is None or missing:
        raise PlaybookIncompleteError(
            f"playbook {playbook.name!r} is not complete; still to do: {', '.join(missing)}"
        )
    text = {key: _answer_text(playbook, state, ref) for key, ref in playbook.resolution}
    return Resolution(
        playbook=playbook.name, root_cause=text["root_cause"] or "", fix=text["fix"] or "",
        prevention=text["prevention"] or "", what_changed=text["what_changed"],
        what_changed_note=text["what_changed_note"], lever=text["lever"],
        action_taken=text["action_taken"], owner=text["owner"], review_notes=text["review"],
        completed_by=state.completed.by, completed_at=state.completed.at,
    )


# -- state transitions -----------------------------------------------------------------------


def _stamp(by: str, at: datetime) -> Stamp:
    if not by or not by.strip():
        raise ValueError("`by` must name the person acting (a chat user id)")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"`at` must be timezone-aware, got {at.isoformat()}")
    return Stamp(by=by.strip(), at=at)


def _check_playbook(playbook: Playbook, state: PlaybookState) -> None:
    if state.playbook != playbook.name:
        raise ValueError(
            f"this state belongs to playbook {state.playbook!r}, not {playbook.name!r}"
        )


def _blocked_by(state: PlaybookState, step: Step) -> tuple[str, ...]:
    return tuple(r for r in step.requires if r not in state.steps)


def _advance(
    playbook: Playbook, state: PlaybookState, steps: dict[str, StepRecord], stamp: Stamp
) -> PlaybookState:
    """The new status; stamps record the first time a status was reached."""
    done = {s.id for s in playbook.steps if s.id in steps}
    stabilising = {s.id for s in playbook.steps if s.stabilises}
    all_done = len(done) == len(playbook.steps)
    completed = (state.completed or stamp) if all_done else None
    stabilised = (state.stabilised or stamp) if stabilising and stabilising <= done else None
    status = (PlaybookStatus.COMPLETED if completed else
              PlaybookStatus.STABILISED if stabilised else PlaybookStatus.IN_PROGRESS)
    return state.model_copy(update={
        "steps": steps, "status": status, "stabilised": stabilised, "completed": completed,
    })


# -- reading submitted values ----------------------------------------------------------------


class _Invalid(ValueError):
    """What the person should do about one field's value."""


def _read_step(
    step: Step, values: Mapping[str, object], dynamic: DynamicOptions
) -> dict[str, Answer | None]:
    answers: dict[str, Answer | None] = {}
    errors: dict[str, str] = {}
    for field in step.fields:
        try:
            answers[field.id] = _read_field(
                field, values.get(field.id),
                missing=_missing_message(step, field, values), dynamic=dynamic,
            )
        except _Invalid as exc:
            errors[field.id] = str(exc)
    if errors:
        raise StepError(step.id, errors)
    return answers


def _missing_message(step: Step, field: AnyField, values: Mapping[str, object]) -> str | None:
    """What to say if the field is left empty, or None when it may be.

    ``required_if`` looks at the submitted value of a select in the same step, and the message
    says which answer made the field required.
    """
    condition = field.required_if
    if condition is None:
        return f"Required: {_REQUIRED[field.kind]}" if field.is_required else None
    chosen = values.get(condition.field)
    if chosen not in condition.one_of:
        return None
    select = step.field(condition.field)
    label = next((o.label for o in getattr(select, "options", []) if o.value == chosen), chosen)
    return f"Required when “{select.label}” is “{label}”: {_REQUIRED[field.kind]}"


def _read_field(
    field: AnyField, raw: object, *, missing: str | None, dynamic: DynamicOptions
) -> Answer | None:
    if isinstance(field, ChecklistField):
        return _read_checklist(field, raw, required=missing is not None)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if missing is not None:
            raise _Invalid(missing)
        return None
    if not isinstance(raw, str):
        raise _Invalid(f"Expected text, got {type(raw).__name__}.")
    if isinstance(field, SelectField):
        return _read_select(field, raw, dynamic)
    text = raw.strip()
    if isinstance(field, TextField) and len(text) > field.max_length:
        raise _Invalid(
            f"Too long: {len(text)} characters. Shorten it to {field.max_length} or fewer."
        )
    return text


_REQUIRED = {
    "user": "choose a person.",
    "select": "choose one of the options.",
    "text": "write a few words.",
    "checklist": "tick the items that are done.",
}


def _read_select(field: SelectField, raw: str, dynamic: DynamicOptions) -> SelectAnswer:
    options = field.offered(dynamic)
    chosen = next((o for o in options if o.value == raw), None)
    if chosen is None:
        labels = ", ".join(f"“{o.label}”" for o in options[:10])
        more = ", ..." if len(options) > 10 else ""
        raise _Invalid(f"“{raw}” is not one of the options; choose one of {labels}{more}.")
    return SelectAnswer(value=chosen.value, label=chosen.label)


def _read_checklist(field: ChecklistField, raw: object, *, required: bool) -> ChecklistAnswer:
    checked, reason = _checklist_parts(raw)
    known = [item.value for item in field.items]
    strange = [value for value in checked if value not in known]
    if strange:
        raise _Invalid(f"Unknown item(s): {', '.join(strange)}. Tick items from the list only.")
    unchecked = [item for item in field.items if item.value not in checked]
    if unchecked and required:
        _require_reason(field, unchecked, reason)
    return ChecklistAnswer(
        checked=[v for v in known if v in checked],
        unchecked=[item.value for item in unchecked],
        reason=reason,
    )


def _checklist_parts(raw: object) -> tuple[list[str], str | None]:
    """``[values]`` or ``{"checked": [values], "reason": text}`` -> (checked, reason)."""
    reason: object = None
    if isinstance(raw, Mapping):
        reason = raw.get("reason")
        raw = raw.get("checked")
    if raw is None:
        raw = []
    if not isinstance(raw, list | tuple) or not all(isinstance(v, str) for v in raw):
        raise _Invalid("Expected the list of ticked items.")
    if reason is None:
        return list(raw), None
    if not isinstance(reason, str):
        raise _Invalid("Expected the reason as text.")
    if len(reason.strip()) > MAX_TEXT_LENGTH:
        raise _Invalid(f"The reason is too long; shorten it to {MAX_TEXT_LENGTH} characters.")
    return list(raw), reason.strip() or None


def _require_reason(field: ChecklistField, unchecked: list[Option], reason: str | None) -> None:
    names = "; ".join(f"“{item.label}”" for item in unchecked)
    if field.reason_label is None:
        raise _Invalid(f"Tick every item before saving. Not ticked yet: {names}.")
    if reason is None:
        raise _Invalid(
            f"Tick the remaining items, or explain in “{field.reason_label}” why they are not "
            f"done. Not ticked yet: {names}."
        )
    if len(reason) < field.reason_min_length:
        raise _Invalid(
            f"Say a little more in “{field.reason_label}” (at least {field.reason_min_length} "
            f"characters): why are these not done, and who follows up?"
        )


# -- resolution ------------------------------------------------------------------------------


def _answer_text(playbook: Playbook, state: PlaybookState, ref: str | None) -> str | None:
    """An answer as text for the runbook: labels for choices, a note for an unfinished review."""
    if ref is None:
        return None
    step_id, field_id = ref.split(".")
    record = state.steps.get(step_id)
    answer = record.values.get(field_id) if record else None
    if answer is None or isinstance(answer, str):
        return answer
    if isinstance(answer, SelectAnswer):
        return answer.label
    if not answer.unchecked and not answer.reason:
        return None
    field = playbook.step(step_id).field(field_id)
    labels = {i.value: i.label for i in getattr(field, "items", [])}
    parts = []
    if answer.unchecked:
        parts.append("Not done: " + "; ".join(labels.get(v, v) for v in answer.unchecked) + ".")
    if answer.reason:
        parts.append(f"Reason: {answer.reason}")
    return " ".join(parts)
