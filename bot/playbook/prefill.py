"""Answers from an earlier walk, fitted to a step of the current playbook, to pre-fill its form.

A form is pre-filled, never saved: the responder confirms or changes each answer and submits,
and :func:`bot.playbook.submit` validates it as any other submission. So only what the form
can show as it is offered now is kept:

* an answer is kept for a field of the same id whose kind still matches (a choice for a
  select, a checklist answer for a checklist, text for a text or person field);
* a choice is kept only while the option is still offered (the playbook's, or the levers of
  *this* anomaly); a choice that no longer exists is dropped, not mapped to another;
* a checklist keeps the ticked items that still exist, and its reason;
* a text longer than the field now allows is dropped (cutting someone's words would change
  what they said).
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.playbook.engine import Answer, ChecklistAnswer, SelectAnswer
from bot.playbook.schema import (
    AnyField,
    ChecklistField,
    DynamicOptions,
    SelectField,
    Step,
    TextField,
    UserField,
)

__all__ = ["fit_answers"]


def fit_answers(step: Step, previous: Mapping[str, Answer | None],
                dynamic_options: DynamicOptions | None = None) -> dict[str, Answer]:
    """The answers of ``previous`` (field id -> answer) that fit ``step`` as offered now."""
    fitted: dict[str, Answer] = {}
    for field in step.fields:
        answer = _fit(field, previous.get(field.id), dynamic_options)
        if answer is not None:
            fitted[field.id] = answer
    return fitted


def _fit(field: AnyField, answer: Answer | None,
         dynamic: DynamicOptions | None) -> Answer | None:
    if isinstance(field, SelectField):
        if not isinstance(answer, SelectAnswer):
            return None
        offered = next((o for o in field.offered(dynamic) if o.value == answer.value), None)
        return SelectAnswer(value=offered.value, label=offered.label) if offered else None
    if isinstance(field, ChecklistField):
        if not isinstance(answer, ChecklistAnswer):
            return None
        known = [item.value for item in field.items]
        checked = [value for value in known if value in answer.checked]
        if not checked and not answer.reason:
            return None
        return ChecklistAnswer(checked=checked,
                               unchecked=[value for value in known if value not in checked],
                               reason=answer.reason)
    if not isinstance(answer, str) or not answer.strip():
        return None
    if isinstance(field, TextField) and len(answer) > field.max_length:
        return None
    if isinstance(field, TextField | UserField):
        return answer
    return None
