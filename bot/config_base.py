"""What every part of the configuration shares: frozen models that refuse unknown keys, and
the check for names given twice. A leaf module, so that ``bot.settings`` can compose the
parts (``bot.finance.config``, ...) without the parts importing it back."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["ConfigModel", "named_twice"]


class ConfigModel(BaseModel):
    """A part of the configuration: immutable once loaded; an unknown key is an error (a typo
    in YAML must not be ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def named_twice(names: list[str]) -> list[str]:
    """The names that occur more than once, sorted."""
    return sorted({name for name in names if names.count(name) > 1})
