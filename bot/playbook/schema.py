"""The shape of ``playbooks/*.yml``: a playbook is steps, a step is fields, a field has a kind.

The limits below are Slack's, because every step is rendered as one modal: a step title becomes
the modal title, a select holds at most 100 options, a checkbox group at most 10. Checking them
here means a platform team editing YAML hears about an over-long title when the file is loaded,
not when a responder clicks "Start playbook" in the middle of an incident.

Cross-references (duplicate ids, ``requires``, ``required_if``, ``resolution``) are checked by
model validators that raise :class:`SchemaProblem`, which carries the key path of each problem
relative to the model, so the loader can point at the exact line of the YAML file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import Discriminator, StringConstraints, model_validator
from pydantic import Field as _Field

from bot.playbook.base import (
    MAX_ID,
    Id,
    KeyPath,
    Problems,
    SchemaProblem,
    StrictModel,
    raise_if,
)
from bot.playbook.match import Match
from bot.playbook.savings import MAX_LEVERS, PlaybookLever

__all__ = [
    "AnyField", "ChecklistField", "Condition", "DynamicOptions", "Option", "Playbook",
    "ResolutionMap", "SchemaProblem", "SelectField", "Step", "TextField", "UserField",
]

REF_PATTERN = r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$"
FIELD_KINDS = ("checklist", "select", "text", "user")

# Slack Block Kit limits (https://api.slack.com/reference/block-kit).
MAX_STEP_TITLE = 24  # modal title
MAX_PLAYBOOK_TITLE = 150  # header block
MAX_LABEL = 2000  # input block label and hint
MAX_DESCRIPTION = 3000  # section block text
MAX_PLACEHOLDER = 150
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_OPTIONS = 100  # static_select
MAX_CHECKLIST_ITEMS = 10  # checkboxes
MAX_TEXT_LENGTH = 3000  # plain_text_input max_length
MAX_FIELDS = 20  # a modal holds 100 blocks; a longer form is not filled in during an incident
MAX_STEPS = 20

FieldRef = Annotated[str, StringConstraints(pattern=REF_PATTERN, max_length=2 * MAX_ID + 1)]
StepTitle = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_STEP_TITLE)
]
PlaybookTitle = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_PLAYBOOK_TITLE)
]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_LABEL)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_DESCRIPTION)]
Placeholder = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_PLACEHOLDER)]
OptionText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_OPTION_TEXT)
]
OptionValue = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_OPTION_VALUE)
]

def _duplicates(values: list[str], what: str, prefix: str, key: str) -> Problems:
    """One problem per repeated value, pointing at every occurrence after the first."""
    counts = Counter(values)
    return [
        ((prefix, index, key), (
            f"duplicate {what} {value!r} (already used by {prefix}[{values.index(value)}]); "
            f"give each one its own {key}"
        ))
        for index, value in enumerate(values)
        if counts[value] > 1 and index != values.index(value)
    ]


class Option(StrictModel):
    """One choice of a select or one item of a checklist.

    In YAML either a mapping ``{value: scaling_rules, label: Scaling rules}`` or plain text,
    which is then both the value and the label. The value is what answers store, so labels can
    be reworded later without changing past answers.
    """

    value: OptionValue
    label: OptionText

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        if isinstance(data, int | float) and not isinstance(data, bool):
            data = str(data)
        if isinstance(data, str):
            return {"value": data, "label": data}
        return data


class Condition(StrictModel):
    """``required_if: {field: change, one_of: [unknown]}``: required for some select answers."""

    field: Id
    one_of: Annotated[list[OptionValue], _Field(min_length=1)]


DynamicOptions = Mapping[str, Sequence[Option | str]]


def _as_option(option: Option | str) -> Option:
    if isinstance(option, Option):
        return option
    value = option.strip()[:MAX_OPTION_VALUE]
    label = value if len(value) <= MAX_OPTION_TEXT else value[: MAX_OPTION_TEXT - 1] + "…"
    return Option(value=value, label=label)


class _FieldBase(StrictModel):
    id: Id
    label: Label
    hint: Label | None = None
    required: bool | None = None
    required_if: Condition | None = None

    @property
    def is_required(self) -> bool:
        """Required unless marked optional; ``required_if`` alone makes it conditional."""
        if self.required is not None:
            return self.required
        return self.required_if is None

    @model_validator(mode="after")
    def _one_requirement_rule(self) -> _FieldBase:
        if self.required is True and self.required_if is not None:
            raise SchemaProblem([(("required",), (
                "`required: true` and `required_if` contradict each other; remove "
                "`required: true` so the field is required only when the condition holds"
            ))])
        return self


class UserField(_FieldBase):
    """A person (a chat user id), e.g. who owns the workload."""

    kind: Literal["user"]
    placeholder: Placeholder | None = None


class SelectField(_FieldBase):
    """One choice out of ``options``, or out of options the caller supplies at run time.

    ``options_from`` asks the caller for options: ``levers`` (the levers suggested for the
    anomaly's cost category) or ``changes`` (the deploys, releases and config changes recorded
    before the anomaly started). Those come first, then ``options`` (always offered, e.g.
    "Other" or "none of these"). ``fallback_options`` stand in for the dynamic ones when the
    caller has none.
    """

    kind: Literal["select"]
    placeholder: Placeholder | None = None
    options: Annotated[list[Option], _Field(max_length=MAX_OPTIONS)] = []
    options_from: Literal["levers", "changes"] | None = None
    fallback_options: Annotated[list[Option], _Field(max_length=MAX_OPTIONS)] = []

    def offered(self, dynamic_options: DynamicOptions | None = None) -> list[Option]:
        """The options to show: dynamic ones (or the fallback), then the static ones.

        ``dynamic_options`` maps a source (``"levers"``, ``"changes"``) to its options for
        this anomaly. Capped at Slack's 100 by dropping dynamic options from the end; static
        ones (such as "Other") always stay. Plain-text dynamic options longer than Slack
        allows are cut.
        """
        dynamic: list[Option] = []
        if self.options_from is not None:
            given = (dynamic_options or {}).get(self.options_from) or []
            dynamic = [_as_option(o) for o in given] or list(self.fallback_options)
        static = [o.value for o in self.options]
        merged: dict[str, Option] = {}
        for option in dynamic:
            if option.value not in static:
                merged.setdefault(option.value, option)
        room = MAX_OPTIONS - len(self.options)
        return list(merged.values())[:room] + list(self.options)

    @model_validator(mode="after")
    def _options_make_sense(self) -> SelectField:
        problems: Problems = []
        if not self.options and self.options_from is None:
            problems.append((("options",), (
                "a select needs `options` (a list of choices) or `options_from` (levers or "
                "changes)"
            )))
        if self.fallback_options and self.options_from is None:
            problems.append((("fallback_options",), (
                "`fallback_options` only apply with `options_from`; move them to `options`"
            )))
        total = len(self.options) + len(self.fallback_options)
        if total > MAX_OPTIONS:
            problems.append((("options",), (
                f"{total} options with fallback_options; a Slack select holds at most "
                f"{MAX_OPTIONS}, remove some"
            )))
        problems += _duplicates([o.value for o in self.options], "option", "options", "value")
        problems += _duplicates(
            [o.value for o in self.fallback_options], "option", "fallback_options", "value"
        )
        raise_if(problems)
        return self


class TextField(_FieldBase):
    """Free text, one line or several (``multiline: true``)."""

    kind: Literal["text"]
    multiline: bool = False
    max_length: Annotated[int, _Field(ge=1, le=MAX_TEXT_LENGTH)] = MAX_TEXT_LENGTH
    placeholder: Placeholder | None = None


class ChecklistField(_FieldBase):
    """Items to tick. A required checklist must be complete, unless ``reason_label`` is set:
    then unticked items are accepted with one written reason (at least ``reason_min_length``
    characters) in a text box under the checklist labelled ``reason_label``.
    """

    kind: Literal["checklist"]
    items: Annotated[list[Option], _Field(min_length=1, max_length=MAX_CHECKLIST_ITEMS)]
    reason_label: Label | None = None
    reason_min_length: Annotated[int, _Field(ge=1, le=MAX_TEXT_LENGTH)] = 10

    @model_validator(mode="after")
    def _unique_items(self) -> ChecklistField:
        raise_if(_duplicates([o.value for o in self.items], "item", "items", "value"))
        return self


AnyField = Annotated[
    UserField | SelectField | TextField | ChecklistField, Discriminator("kind")
]


class Step(StrictModel):
    """One modal: a title, optional help text and the fields to fill in.

    ``requires`` names earlier steps that must be done before this one can be submitted;
    ``stabilises: true`` marks the step whose completion means spend is under control.
    """

    id: Id
    title: StepTitle
    description: Description | None = None
    fields: Annotated[list[AnyField], _Field(min_length=1, max_length=MAX_FIELDS)]
    requires: list[Id] = []
    stabilises: bool = False

    def field(self, field_id: str) -> AnyField:
        for field in self.fields:
            if field.id == field_id:
                return field
        known = ", ".join(f.id for f in self.fields)
        raise KeyError(f"step {self.id!r} has no field {field_id!r}; its fields are {known}")

    @model_validator(mode="after")
    def _fields_fit_together(self) -> Step:
        ids = [f.id for f in self.fields]
        problems = _duplicates(ids, "field id", "fields", "id")
        for index, field in enumerate(self.fields):
            if field.required_if is not None:
                problems += _condition_problems(self, index, field.required_if)
        raise_if(problems)
        return self


def _condition_problems(step: Step, index: int, condition: Condition) -> Problems:
    path: KeyPath = ("fields", index, "required_if", "field")
    selects = {f.id: f for f in step.fields if isinstance(f, SelectField)}
    target = selects.get(condition.field)
    if target is None:
        names = ", ".join(selects) or "none in this step"
        return [(path, (
            f"{condition.field!r} is not a select field of step {step.id!r}; "
            f"required_if must name a select of the same step ({names})"
        ))]
    if target.options_from is not None:
        return []
    allowed = [o.value for o in target.options]
    return [
        (("fields", index, "required_if", "one_of", i), (
            f"{value!r} is not an option value of {target.id!r}; use one of: {', '.join(allowed)}"
        ))
        for i, value in enumerate(condition.one_of) if value not in allowed
    ]


class ResolutionMap(StrictModel):
    """Which answers (``step_id.field_id``) become the runbook entry for the workload."""

    root_cause: FieldRef
    fix: FieldRef
    prevention: FieldRef
    what_changed: FieldRef | None = None
    what_changed_note: FieldRef | None = None
    lever: FieldRef | None = None
    action_taken: FieldRef | None = None
    owner: FieldRef | None = None
    review: FieldRef | None = None


class Playbook(StrictModel):
    """A named sequence of steps and the mapping from their answers to a runbook entry.

    ``match`` says which anomalies it is for (none: it is the default, or chosen by name
    only); ``levers`` are offered by a select with ``options_from: levers``, each with its
    estimate, in place of the generic levers for the anomaly's kind of spend.
    """

    name: Id
    title: PlaybookTitle
    description: Description | None = None
    match: Match | None = None
    levers: Annotated[list[PlaybookLever], _Field(max_length=MAX_LEVERS)] = []
    steps: Annotated[list[Step], _Field(min_length=1, max_length=MAX_STEPS)]
    resolution: ResolutionMap

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        known = ", ".join(s.id for s in self.steps)
        raise KeyError(f"playbook {self.name!r} has no step {step_id!r}; its steps are {known}")

    @model_validator(mode="after")
    def _steps_fit_together(self) -> Playbook:
        problems = _duplicates([s.id for s in self.steps], "step id", "steps", "id")
        problems += _requires_problems(self.steps)
        stabilising = [i for i, s in enumerate(self.steps) if s.stabilises]
        problems += [
            (("steps", i, "stabilises"), (
                f"only one step may stabilise (already steps[{stabilising[0]}]); "
                f"remove `stabilises: true` here"
            ))
            for i in stabilising[1:]
        ]
        problems += _resolution_problems(self)
        problems += _duplicates([lever.id for lever in self.levers], "lever id", "levers", "id")
        raise_if(problems)
        return self


def _requires_problems(steps: list[Step]) -> Problems:
    """``requires`` may only name earlier steps, which also rules out cycles."""
    problems: Problems = []
    for index, step in enumerate(steps):
        earlier = [s.id for s in steps[:index]]
        for i, required in enumerate(step.requires):
            if required not in earlier:
                names = ", ".join(earlier) or "none: this is the first step"
                problems.append((("steps", index, "requires", i), (
                    f"{required!r} is not a step listed before {step.id!r}; "
                    f"requires may name earlier steps only ({names})"
                )))
    return problems


def _resolution_problems(playbook: Playbook) -> Problems:
    steps = {s.id: s for s in playbook.steps}
    problems: Problems = []
    for key, ref in playbook.resolution:
        if ref is None:
            continue
        step_id, field_id = ref.split(".")
        step = steps.get(step_id)
        if step is None:
            problems.append((("resolution", key), (
                f"{ref!r} names no step {step_id!r}; steps are: {', '.join(steps)}"
            )))
        elif field_id not in {f.id for f in step.fields}:
            fields = ", ".join(f.id for f in step.fields)
            problems.append((("resolution", key), (
                f"{ref!r} names no field {field_id!r} of step {step_id!r}; its fields are: "
                f"{fields}"
            )))
    return problems
