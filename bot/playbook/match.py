"""A playbook's ``match:`` block: which anomalies it is for, and how specific that rule is.

Every key holds shell-style patterns (``*``, ``?``, ``[abc]``), compared without regard to
case; a key matches when any of its patterns does, and a rule matches when every key it gives
does. Specificity is the number of keys given, so ``{spend: [tokens], environment: [prod]}``
beats ``{spend: [tokens]}`` for a production anomaly.

Keys whose values come from a fixed list (anomaly kinds, phases, spend kinds, FOCUS service
categories) are checked when the file is loaded: a pattern that matches none of them is a typo
that would silently never match, so it is refused with the list to choose from. The lists live
here because this package may not import the anomaly or ingest code; tests keep them equal to
``AnomalyKind``, ``bot.ingest.tags.Phase`` and ``LeverCategory``.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Annotated, Any

from pydantic import Field as _Field
from pydantic import StringConstraints, model_validator

from bot.playbook.base import Problems, StrictModel, raise_if

__all__ = [
    "ANOMALY_KINDS", "FOCUS_CATEGORIES", "MATCH_KEYS", "PHASES", "SPEND_KINDS", "AnomalyFacts",
    "Match",
]

ANOMALY_KINDS = ("spike", "level-shift", "new-spend", "off-hours", "ramp", "unit-cost")
PHASES = ("build", "run", "move")
# what the levers call a kind of spend (bot.anomaly.levers.LeverCategory): it tells LLM tokens
# from GPU hours, which share the FOCUS category "AI and Machine Learning"
SPEND_KINDS = ("tokens", "gpu", "logging", "transfer", "storage", "compute", "databases", "other")
# FOCUS 1.x ServiceCategory values (https://focus.finops.org/focus-specification/)
FOCUS_CATEGORIES = (
    "AI and Machine Learning", "Analytics", "Business Applications", "Compute", "Databases",
    "Developer Tools", "Multicloud", "Identity", "Integration", "Internet of Things",
    "Management and Governance", "Media", "Migration", "Mobile", "Networking", "Security",
    "Storage", "Web", "Other",
)
# in the order a rule is explained; the keys with a fixed list of values name it
MATCH_KEYS = ("cost_category", "spend", "kind", "phase", "project", "environment")
_KNOWN: dict[str, tuple[str, tuple[str, ...]]] = {
    "cost_category": ("FOCUS service category", FOCUS_CATEGORIES),
    "spend": ("kind of spend", SPEND_KINDS),
    "kind": ("anomaly kind", ANOMALY_KINDS),
    "phase": ("phase", PHASES),
}

Pattern = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Patterns = Annotated[list[Pattern], _Field(min_length=1, max_length=50)]


def matches(pattern: str, value: str) -> bool:
    """Shell-style, whole value, case ignored: ``*prod*`` matches ``Prod-EU``."""
    return fnmatchcase(value.strip().lower(), pattern.strip().lower())


@dataclass(frozen=True)
class AnomalyFacts:
    """What a match rule is compared with, read from one anomaly.

    ``cost_category`` and ``spend`` are those of the anomaly's top contributor (the service
    that rose most); empty when the anomaly names none.
    """

    project: str
    environment: str
    phase: str
    kind: str
    cost_category: str = ""
    spend: str = ""

    def value(self, key: str) -> str:
        return str(getattr(self, key))


class Match(StrictModel):
    """``match:``: the anomalies a playbook is for. A single text is read as a list of one."""

    cost_category: Patterns | None = None
    spend: Patterns | None = None
    kind: Patterns | None = None
    phase: Patterns | None = None
    project: Patterns | None = None
    environment: Patterns | None = None

    @model_validator(mode="before")
    @classmethod
    def _lists(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: [v] if isinstance(v, str) else v for k, v in data.items()}
        return data

    @property
    def keys(self) -> tuple[str, ...]:
        """The keys this rule gives, in :data:`MATCH_KEYS` order."""
        return tuple(k for k in MATCH_KEYS if getattr(self, k) is not None)

    @property
    def specificity(self) -> int:
        return len(self.keys)

    def patterns(self, key: str) -> list[str]:
        return list(getattr(self, key) or [])

    def failed_key(self, facts: AnomalyFacts) -> str | None:
        """The first key whose patterns all miss ``facts``; None when the rule matches."""
        for key in self.keys:
            if not any(matches(p, facts.value(key)) for p in self.patterns(key)):
                return key
        return None

    def describe(self) -> str:
        """``spend: tokens · environment: prod, staging`` (what ``playbooks check`` prints)."""
        return " · ".join(f"{k}: {', '.join(self.patterns(k))}" for k in self.keys)

    @model_validator(mode="after")
    def _known_values(self) -> Match:
        problems: Problems = []
        if not self.keys:
            problems.append(((), (
                "an empty match block matches nothing in particular; give at least one of "
                f"{', '.join(MATCH_KEYS)}, or remove `match:` to make this the default")))
        for key, (what, known) in _KNOWN.items():
            for index, pattern in enumerate(self.patterns(key)):
                if not any(matches(pattern, value) for value in known):
                    problems.append(((key, index), (
                        f"{pattern!r} matches no {what}; use one of: {', '.join(known)}")))
        raise_if(problems)
        return self
