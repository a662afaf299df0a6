"""Guided playbooks: the YAML schema, the loader, and the engine that walks an anomaly through.

Pure domain code: no chat, no database. The chat side renders a modal per
:class:`Step`, calls :func:`submit` with what was entered, stores the returned
:class:`PlaybookState` and shows :func:`progress` on the alert; :func:`resolution` becomes the
runbook entry for the workload. :class:`PlaybookLibrary` holds every playbook of a folder and
chooses one per anomaly by the playbooks' ``match`` rules (:func:`choose_playbook`).
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
from bot.playbook.library import Choice, PlaybookLibrary, choose_playbook, explain_choice
from bot.playbook.loader import PlaybookError, Problem, load_playbook, load_playbooks
from bot.playbook.match import AnomalyFacts, Match
from bot.playbook.savings import Estimate, PlaybookLever, Saving, SpendFigures, estimate
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
    "AnomalyFacts",
    "AnsweredField",
    "AnsweredStep",
    "AnyField",
    "ChecklistAnswer",
    "ChecklistField",
    "Choice",
    "Estimate",
    "Match",
    "Option",
    "Playbook",
    "PlaybookError",
    "PlaybookIncompleteError",
    "PlaybookLever",
    "PlaybookLibrary",
    "PlaybookState",
    "PlaybookStatus",
    "Problem",
    "Resolution",
    "Saving",
    "SelectAnswer",
    "SelectField",
    "Step",
    "StepError",
    "SpendFigures",
    "StepProgress",
    "TextField",
    "UserField",
    "answered_steps",
    "choose_playbook",
    "estimate",
    "explain_choice",
    "load_playbook",
    "load_playbooks",
    "next_step",
    "progress",
    "resolution",
    "start",
    "submit",
]
