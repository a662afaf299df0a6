"""How many examples a fuzz test runs: a few in CI, the profile's thousands when fuzzing.

``@fuzz_settings(10)`` runs 10 reproducible examples under the default ``ci`` profile
(registered in ``tests/conftest.py``) and ``max_examples`` of the profile otherwise
(``HYPOTHESIS_PROFILE=fuzz``). ``bench/fuzz.py`` runs the same checks with ``--examples``.
"""

from __future__ import annotations

import os

from hypothesis import settings

__all__ = ["fuzz_settings"]


def fuzz_settings(ci_examples: int) -> settings:
    if os.environ.get("HYPOTHESIS_PROFILE", "ci") == "ci":
        return settings(max_examples=ci_examples)
    return settings(max_examples=settings.default.max_examples)
