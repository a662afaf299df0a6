"""Every answer of a playbook walk, as text a reader can follow without the playbook at hand.

A runbook entry keeps this record beside its summary (root cause, fix, prevention), so what
each responder typed (the person made responsible, what they saw, what was done to stabilise
spend, which checks were left open and why) survives a later edit of the playbook's YAML.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.playbook.engine import Answer, ChecklistAnswer, PlaybookState, SelectAnswer
from bot.playbook.schema import AnyField, ChecklistField, Playbook

__all__ = ["AnsweredField", "AnsweredStep", "answered_steps", "from_records", "to_records"]


@dataclass(frozen=True)
class AnsweredField:
    label: str
    text: str


@dataclass(frozen=True)
class AnsweredStep:
    step_id: str
    title: str
    by: str
    at: datetime
    fields: tuple[AnsweredField, ...]


def answered_steps(playbook: Playbook, state: PlaybookState) -> list[AnsweredStep]:
    """The steps done so far, in playbook order, each with every field that has an answer."""
    done = []
    for step in playbook.steps:
        record = state.steps.get(step.id)
        if record is None:
            continue
        fields = tuple(
            AnsweredField(field.label, text)
            for field in step.fields
            for text in [_text(field, record.values.get(field.id))] if text
        )
        done.append(AnsweredStep(step.id, step.title, record.by, record.at, fields))
    return done


def to_records(steps: list[AnsweredStep]) -> list[dict[str, object]]:
    """JSON for the store (``RunbookEntry.answers``)."""
    return [{"step": s.step_id, "title": s.title, "by": s.by, "at": s.at.isoformat(),
             "fields": [{"label": f.label, "text": f.text} for f in s.fields]} for s in steps]


def from_records(records: list[dict[str, object]] | None) -> list[AnsweredStep]:
    """Back from :func:`to_records`; an entry written before answers were kept has none."""
    steps = []
    for record in records or []:
        fields = record.get("fields")
        steps.append(AnsweredStep(
            step_id=str(record.get("step", "")), title=str(record.get("title", "")),
            by=str(record.get("by", "")), at=datetime.fromisoformat(str(record.get("at"))),
            fields=tuple(AnsweredField(str(f.get("label", "")), str(f.get("text", "")))
                         for f in fields if isinstance(f, dict)) if isinstance(
                fields, list) else (),
        ))
    return steps


def _text(field: AnyField, answer: Answer | None) -> str:
    if answer is None:
        return ""
    if isinstance(answer, str):
        return answer
    if isinstance(answer, SelectAnswer):
        return answer.label
    return _checklist(field, answer)


def _checklist(field: AnyField, answer: ChecklistAnswer) -> str:
    labels = {i.value: i.label for i in field.items} if isinstance(field, ChecklistField) else {}
    parts = []
    if answer.checked:
        parts.append("Done: " + "; ".join(labels.get(v, v) for v in answer.checked) + ".")
    if answer.unchecked:
        parts.append("Not done: " + "; ".join(labels.get(v, v) for v in answer.unchecked) + ".")
    if answer.reason:
        parts.append(f"Reason: {answer.reason}")
    return " ".join(parts)
