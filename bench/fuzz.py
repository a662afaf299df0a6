"""Fuzz every input spendwatch takes from outside, and print what was tried and what broke.

    python bench/fuzz.py                      # 2000 examples per target
    python bench/fuzz.py --examples 200 --target focus-ingest --target slack

The targets and their properties are the fuzz tests' own (each test module's ``TARGETS``:
a strategy, a fixture to open once and the check one example must pass), so CI's few
reproducible examples and this run of thousands test the same thing. Examples are generated
without shrinking; a failure is the exception's type and first line and the place it was
raised, counted once however many inputs hit it, with the first input that did.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
import time
import traceback
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis.strategies import SearchStrategy  # noqa: E402

MODULES = (
    "tests.bot.ingest.sources.test_focus_fuzz",
    "tests.bot.chat.slack.test_handlers_fuzz",
    "tests.bot.chat.teams.test_handlers_fuzz",
    "tests.bot.playbook.test_loader_fuzz",
    "tests.bot.test_settings_fuzz",
)
Target = tuple[SearchStrategy[Any], Callable[[], AbstractContextManager[Any]],
               Callable[[Any, Any], None]]


@dataclass
class Figures:
    tried: int = 0
    failures: dict[str, tuple[int, str]] = field(default_factory=dict)  # key -> (count, input)
    seconds: float = 0.0


def _key(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/bot/" in f.filename or "/storage/" in f.filename] or frames
    where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "?"
    first = (str(exc).splitlines() or [""])[0]
    if isinstance(exc, AssertionError):  # the property broken, without the input's values
        first = first.split(" (")[0].split(": '")[0]
    first = re.sub(r"#x[0-9a-fA-F]+|\d+", "N", first)[:120]  # one bug, whichever value
    return f"{type(exc).__name__} at {where}: {first}"


def run(name: str, target: Target, examples: int) -> Figures:
    strategy, fixture, check = target
    figures = Figures()
    with fixture() as resource:
        @settings(max_examples=examples, deadline=None, database=None, derandomize=False,
                  phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(value=strategy)
        def fuzz(value: Any) -> None:
            figures.tried += 1
            try:
                check(resource, value)
            except Exception as exc:  # every failure is counted, and the run goes on
                key = _key(exc)
                count, first = figures.failures.get(key, (0, repr(value)[:300]))
                figures.failures[key] = (count + 1, first)

        started = time.perf_counter()
        fuzz()
        figures.seconds = time.perf_counter() - started
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000, help="examples per target")
    parser.add_argument("--target", action="append", default=[],
                        help="run only these targets (repeatable); default: all")
    args = parser.parse_args(argv)
    targets: dict[str, Target] = {}
    for module in MODULES:
        targets.update(importlib.import_module(module).TARGETS)
    chosen = args.target or list(targets)
    unknown = [t for t in chosen if t not in targets]
    if unknown:
        parser.error(f"unknown target {', '.join(unknown)}; choose from {', '.join(targets)}")
    print(f"{'target':<22} {'inputs':>7} {'failures':>8} {'seconds':>8} {'per input':>10}")
    total_failures = 0
    for name in chosen:
        figures = run(name, targets[name], args.examples)
        total_failures += len(figures.failures)
        per = figures.seconds / max(figures.tried, 1) * 1000
        print(f"{name:<22} {figures.tried:>7} {len(figures.failures):>8} "
              f"{figures.seconds:>8.1f} {per:>8.1f}ms", flush=True)
        for key, (count, first) in figures.failures.items():
            print(f"    {count} x {key}\n        first input: {first}")
    return 1 if total_failures else 0


if __name__ == "__main__":
    sys.exit(main())
