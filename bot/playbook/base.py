"""What every part of a playbook's schema shares: the strict model, ids and problem reports.

Kept apart from :mod:`bot.playbook.schema` so the match rules and the levers, which the schema
holds, can use the same model base and report problems the same way without importing it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

__all__ = [
    "ID_PATTERN", "MAX_ID", "Id", "KeyPath", "Problems", "SchemaProblem", "StrictModel",
    "key_path", "raise_if",
]

ID_PATTERN = r"^[a-z][a-z0-9_]*$"
MAX_ID = 64  # three ids joined (playbook, step, field) stay well under Slack's 255 for block ids

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN, max_length=MAX_ID)]

KeyPath = tuple[str | int, ...]
Problems = list[tuple[KeyPath, str]]  # (key path relative to a model, what to do)


class SchemaProblem(ValueError):
    """Several problems in one model, each as (key path relative to the model, message)."""

    def __init__(self, problems: Iterable[tuple[KeyPath, str]]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"{key_path(p)}: {m}" for p, m in self.problems))


def key_path(path: KeyPath) -> str:
    """``("steps", 2, "fields", 0, "kind")`` -> ``steps[2].fields[0].kind``, as users read it."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def raise_if(problems: Problems) -> None:
    if problems:
        raise SchemaProblem(problems)


class StrictModel(BaseModel):
    """Unknown keys are refused (a typo is an error, not a silently ignored key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
