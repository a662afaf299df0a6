"""Allocation: who a line of spend belongs to (project, environment, owner, phase, cost centre).

Tags come first. Keys match case-insensitively, ignoring surrounding spaces and the ``user:``
prefix that AWS puts on user-defined cost allocation tags, through the aliases in
``allocation.tag_keys``. Rules from the config then fill what tags left empty (or replace it,
with ``override``) by provider, account, sub account, service or region. Environment values are
folded to canonical names (``Production`` -> ``prod``), and the phase (build / run / move)
defaults from the environment. Whatever stays unknown is ``unallocated``: visible, never dropped,
because untagged spend is the first thing a FinOps practice has to see.

Work is done once per distinct tag string and per distinct combination, never per row, so a
ten-million-row export with a few hundred tag sets costs a few hundred dictionary look-ups.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

import numpy as np
import pandas as pd

from bot.ingest.frames import factorize, factorize_rows
from bot.settings import AllocationSettings

__all__ = ["DIMENSIONS", "UNALLOCATED", "Allocator", "TagParse", "normalise_tag_key"]

UNALLOCATED = "unallocated"
DIMENSIONS = ("project", "environment", "owner", "phase", "cost_center")
RULE_CONTEXT = {
    "provider": "provider",
    "billing_account": "billing_account_id",
    "sub_account": "sub_account_id",
    "sub_account_name": "sub_account_name",
    "service": "service_name",
    "region": "region",
}


def normalise_tag_key(key: str) -> str:
    key = key.strip().lower()
    return key.removeprefix("user:").strip()


@dataclass(frozen=True, slots=True)
class TagParse:
    values: dict[str, str]
    problem: str | None = None


class Allocator:
    """Turns tags and row context into allocation columns; pure, no I/O."""

    def __init__(self, settings: AllocationSettings) -> None:
        self.settings = settings
        self._alias_to_dimension: dict[str, str] = {}
        for dimension, aliases in settings.tag_keys.items():
            for alias in aliases:
                self._alias_to_dimension.setdefault(normalise_tag_key(alias), dimension)
        self._environments: dict[str, str] = {}
        for canonical, aliases in settings.environment_aliases.items():
            self._environments[canonical.strip().lower()] = canonical
            for alias in aliases:
                self._environments[alias.strip().lower()] = canonical

    def parse_tags(self, text: object) -> TagParse:
        """Allocation values from one Tags cell (a JSON object); problems are reported."""
        if text is None or (isinstance(text, float) and np.isnan(text)):
            return TagParse({})
        if isinstance(text, dict):
            data = text
        else:
            raw = str(text).strip()
            if not raw:
                return TagParse({})
            try:
                data = json.loads(raw)
            except ValueError:
                return TagParse({}, "Tags is not valid JSON")
            if not isinstance(data, dict):
                return TagParse({}, "Tags is not a JSON object")
        values: dict[str, str] = {}
        for key, value in data.items():
            dimension = self._alias_to_dimension.get(normalise_tag_key(str(key)))
            if dimension is None or dimension in values or value is None:
                continue
            text_value = str(value).strip()
            if text_value:
                values[dimension] = text_value
        return TagParse(values)

    def environment(self, value: str) -> str:
        folded = value.strip().lower()
        return self._environments.get(folded, folded)

    def allocate_one(self, tags: dict[str, str], context: Mapping[Hashable, Any]
                     ) -> dict[str, str]:
        """Allocation of one distinct combination of tag values and row context (a record of
        the frame: column to value)."""
        out = dict(tags)
        for rule in self.settings.rules:
            if all(
                fnmatchcase(context.get(RULE_CONTEXT[k], "").lower(), pattern.lower())
                for k, pattern in rule.match.items()
            ):
                for dimension, value in rule.set.items():
                    if rule.override or not out.get(dimension):
                        out[dimension] = value
        environment = self.environment(out["environment"]) if out.get("environment") else ""
        phase = (out.get("phase") or "").strip().lower()
        if not phase and environment:
            phase = self.settings.phase_by_environment.get(environment, "")
        return {
            "project": out.get("project") or UNALLOCATED,
            "environment": environment or UNALLOCATED,
            "owner": out.get("owner") or UNALLOCATED,
            "phase": phase or UNALLOCATED,
            "cost_center": out.get("cost_center") or UNALLOCATED,
        }

    def allocate_frame(self, items: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
        """Add the allocation columns to parsed line items; also count tag problems."""
        problems: dict[str, int] = {}
        n = len(items)
        tags = items["tags"] if "tags" in items and items["tags"] is not None else None
        if tags is None:
            codes = np.zeros(n, dtype=np.intp)
            parsed = [TagParse({})]
        else:
            codes, uniques = factorize(tags)
            parsed = [self.parse_tags(u) for u in uniques] + [TagParse({})]
            codes = np.where(codes < 0, len(uniques), codes)  # missing Tags -> no tags
        counts = np.bincount(codes, minlength=len(parsed))
        for code, result in enumerate(parsed):
            if result.problem and counts[code]:
                problems[result.problem] = problems.get(result.problem, 0) + int(counts[code])
        context_cols = list(RULE_CONTEXT.values()) if self.settings.rules else []
        key = pd.DataFrame({"tag_code": codes})
        for column in context_cols:
            key[column] = items[column].to_numpy()
        combo_codes, combos = factorize_rows(key)
        allocated = []
        for combo in combos.to_dict("records"):
            tag_values = parsed[int(combo.pop("tag_code"))].values
            allocated.append(self.allocate_one(tag_values, combo))
        allocation = pd.DataFrame(allocated, columns=DIMENSIONS)
        out = items.drop(columns=["tags"], errors="ignore").copy()
        for dimension in DIMENSIONS:
            value_codes, values = pd.factorize(allocation[dimension])
            out[dimension] = pd.Categorical.from_codes(
                value_codes[combo_codes], categories=values, validate=False
            )
        return out, problems
