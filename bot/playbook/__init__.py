"""Guided playbooks: the YAML schema, the loader, and the engine that walks an anomaly through.

Pure domain code: no chat, no database. The chat side renders a modal per
:class:`Step`, calls :func:`submit` with what was entered, stores the returned
:class:`PlaybookState` and shows :func:`progress` on the alert; :func:`resolution` becomes the
runbook entry for the workload.
"""

from bot.playbook.answers import AnsweredField, AnsweredStep, answered_steps
from bot.playbook.engine import (
    ChecklistAnswer,
    PlaybookIncompleteError,
    PlaybookState,
    Resolution,
    SelectAnswer,
    StepError,
    StepProgress,
    next_step,
    progress,
    resolution,
    start,
    submit,
)
from bot.playbook.enums import PlaybookStatus
from bot.playbook.loader import PlaybookError, Problem, load_playbook, load_playbooks
from bot.playbook.schema import (
    AnyField,
    ChecklistField,
    Option,
    Playbook,
    SelectField,
    Step,
    TextField,
    UserField,
)

__all__ = [
    "AnsweredField",
    "AnsweredStep",
    "AnyField",
    "ChecklistAnswer",
    "ChecklistField",
    "Option",
    "Playbook",
    "PlaybookError",
    "PlaybookIncompleteError",
    "PlaybookState",
    "PlaybookStatus",
    "Problem",
    "Resolution",
    "SelectAnswer",
    "SelectField",
    "Step",
    "StepError",
    "StepProgress",
    "TextField",
    "UserField",
    "answered_steps",
    "load_playbook",
    "load_playbooks",
    "next_step",
    "progress",
    "resolution",
    "start",
    "submit",
]
