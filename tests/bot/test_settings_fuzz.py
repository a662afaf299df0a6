"""Fuzzing the config loader with broken YAML made from ``spendwatch.example.yml``.

The properties: ``load_settings`` returns settings or raises :class:`ConfigError` whose text
names the file; never another exception, and never a hang on an alias bomb or deep nesting.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import example, given

from bot.settings import ConfigError, Settings, load_settings
from tests.support.fuzzing import fuzz_settings
from tests.support.yaml_fuzz import ALIAS_BOMB, DEEP, YamlFile, yaml_documents

EXAMPLE = (Path(__file__).resolve().parents[2] / "spendwatch.example.yml").read_text(
    encoding="utf-8")
config_files = yaml_documents(EXAMPLE)


@contextmanager
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="config-fuzz-") as folder:
        yield Path(folder)


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with workdir() as path:
        yield path


def check_config(folder: Path, fuzzed: YamlFile) -> None:
    path = folder / "spendwatch.yml"
    path.write_bytes(fuzzed.data)
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        assert str(path) in str(exc), f"the error does not name the file: {str(exc)[:200]}"
        return
    assert isinstance(settings, Settings)


@fuzz_settings(10)
@given(fuzzed=config_files)
# nine aliases of nine aliases: validation walked 387 million values and never answered
@example(fuzzed=YamlFile((EXAMPLE + ALIAS_BOMB).encode(), ("alias_bomb",)))
# 5000 nested brackets: RecursionError out of the YAML parser
@example(fuzzed=YamlFile((EXAMPLE + DEEP).encode(), ("deep_list",)))
# a byte that is not UTF-8: UnicodeDecodeError, not a ConfigError
@example(fuzzed=YamlFile(EXAMPLE.encode() + "note: caf\u00e9\n".encode("latin-1"), ("latin1",)))
def test_a_fuzzed_config_loads_or_says_what_is_wrong(folder: Path, fuzzed: YamlFile) -> None:
    check_config(folder, fuzzed)


TARGETS = {"config": (config_files, workdir, check_config)}
