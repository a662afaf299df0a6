"""The fields allocation fills from tags, and the tag keys read for each by default.

A leaf module: the allocation settings, the showback pools and the budgets all name these
fields, and none of them should have to import the others to do so.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["DEFAULT_TAG_KEYS", "Phase", "TagField"]

TagField = Literal["project", "environment", "owner", "phase", "cost_center"]
Phase = Literal["build", "run", "move"]

DEFAULT_TAG_KEYS: dict[TagField, list[str]] = {
    "project": ["project", "proj"],
    "environment": ["environment", "env"],
    "owner": ["owner", "team"],
    "phase": ["phase", "lifecycle"],
    "cost_center": ["cost_center", "costcenter", "cost-center", "cost centre", "cost_centre"],
}
