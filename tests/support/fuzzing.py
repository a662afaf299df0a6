"""How many examples a fuzz test runs: a few in CI, the profile's thousands when fuzzing.

``@fuzz_settings(10)`` runs 10 reproducible examples under the default ``ci`` profile
(registered in ``tests/conftest.py``) and ``max_examples`` of the profile otherwise
(``HYPOTHESIS_PROFILE=fuzz``). ``bench/fuzz.py`` runs the same checks with ``--examples``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from hypothesis import settings

__all__ = ["fuzz_settings"]


def fuzz_settings(ci_examples: int) -> settings:
    if os.environ.get("HYPOTHESIS_PROFILE", "ci") == "ci":
        return settings(max_examples=ci_examples)
    return settings(max_examples=settings.default.max_examples)


def texts(value: Any) -> Iterator[str]:
    """Every string inside a JSON-like value: what a chat answer could show a person."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from texts(item)
