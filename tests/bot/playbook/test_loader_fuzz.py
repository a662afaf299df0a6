"""Fuzzing the playbook loader and the playbook library with broken YAML.

Each example is a shipped playbook changed the way a person editing it might (a value of the
wrong type, a key removed or misspelt, a huge text, deep nesting) or damaged as text (an alias
bomb, thousands of brackets, bytes that are not UTF-8, a cut, a duplicate key, a Python tag).
The properties: the loader returns a playbook or raises :class:`PlaybookError` whose every
problem names the file, and a problem in the data names the key or line it is at; never
another exception. The library (a folder of playbooks) holds to the same.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot.playbook import Playbook, PlaybookError, load_playbook, load_playbooks
from tests.support.fuzzing import fuzz_settings
from tests.support.yaml_fuzz import ALIAS_BOMB, DEEP, YamlFile, yaml_documents

SHIPPED = sorted((Path(__file__).resolve().parents[3] / "playbooks").glob("*.yml"))

playbook_files = st.one_of(*(yaml_documents(p.read_text(encoding="utf-8")) for p in SHIPPED))


@contextmanager
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="playbook-fuzz-") as folder:
        yield Path(folder)


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with workdir() as path:
        yield path


def _check_error(exc: PlaybookError, files: list[Path], fuzzed: YamlFile) -> None:
    assert exc.problems, "a PlaybookError must list at least one problem"
    names = {str(f) for f in files}
    for problem in exc.problems:
        assert problem.file in names, f"a problem does not name its file: {problem}"
        assert problem.message.strip(), f"a problem without a message: {problem}"
    assert str(exc).startswith(tuple(names)) or "problems in" in str(exc), str(exc)[:200]


def check_playbook(folder: Path, fuzzed: YamlFile) -> None:
    """One fuzzed file through ``load_playbook``."""
    path = folder / "fuzzed.yml"
    path.write_bytes(fuzzed.data)
    try:
        playbook = load_playbook(path)
    except PlaybookError as exc:
        _check_error(exc, [path], fuzzed)
        return
    assert isinstance(playbook, Playbook)


def check_library(folder: Path, fuzzed: YamlFile) -> None:
    """The shipped playbooks and a fuzzed one, as a library folder."""
    library = folder / "library"
    shutil.rmtree(library, ignore_errors=True)
    library.mkdir()
    for shipped in SHIPPED:
        shutil.copy(shipped, library / shipped.name)
    fuzzed_path = library / "zz_fuzzed.yml"
    fuzzed_path.write_bytes(fuzzed.data)
    try:
        playbooks = load_playbooks(library)
    except PlaybookError as exc:
        _check_error(exc, [fuzzed_path], fuzzed)
        return
    assert len(playbooks) == len(SHIPPED) + 1, sorted(playbooks)


@pytest.mark.parametrize("check", [check_playbook, check_library], ids=["file", "library"])
@fuzz_settings(8)
@given(fuzzed=playbook_files)
# nine aliases of nine aliases: the loader walked 387 million values and never answered
@example(fuzzed=YamlFile((SHIPPED[0].read_text(encoding="utf-8") + ALIAS_BOMB).encode(),
                         ("alias_bomb",)))
# 5000 nested brackets: RecursionError out of the YAML parser
@example(fuzzed=YamlFile((SHIPPED[0].read_text(encoding="utf-8") + DEEP).encode(),
                         ("deep_list",)))
# a control character: yaml's ReaderError escaped the loader
@example(fuzzed=YamlFile(b"name: x\x18", ("garbage",)))
def test_a_fuzzed_playbook_loads_or_says_where_it_is_broken(folder: Path, check,
                                                            fuzzed: YamlFile) -> None:
    check(folder, fuzzed)


TARGETS = {"playbook-file": (playbook_files, workdir, check_playbook),
           "playbook-library": (playbook_files, workdir, check_library)}
