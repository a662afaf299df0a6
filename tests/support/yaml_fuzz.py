"""Fuzzed YAML files made from a valid one: what a person editing a config might write.

:func:`yaml_documents` starts from a valid document (a shipped playbook, the example config)
and either changes its data (a value of the wrong type, a key removed, an unknown key, a huge
string, deep nesting) and dumps it, or damages the text itself (an alias bomb, thousands of
nested brackets, bytes that are not UTF-8, a cut, tabs, a duplicate key). The result is the
file's bytes and what was done, so a failure says which mutation caused it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import yaml
from hypothesis import strategies as st

__all__ = ["YamlFile", "yaml_documents"]

ALIAS_BOMB = (
    'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n"
              for i in range(8))
)
DEEP = "x: " + "[" * 5000 + "]" * 5000 + "\n"
DEEP_MAP = "x:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 400)) + "  " * 400 + "v: 1\n"

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20), st.just("x" * 100_000), st.just("-1"), st.just("NaN"),
    st.just("2025-13-01"), st.just("\x00\x07"), st.just("<!channel> <@U123>"),
    st.just(".inf"), st.just("~"),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=8,
)


@dataclass(frozen=True)
class YamlFile:
    data: bytes
    mutations: tuple[str, ...]

    def __repr__(self) -> str:  # the bytes can be 100 kB: show what was done and the start
        return f"YamlFile(mutations={self.mutations!r}, data={self.data[:300]!r})"


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += _paths(child, (*prefix, index))
    return found


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


@st.composite
def _data_mutation(draw: st.DrawFn, base: Any) -> YamlFile:
    data = copy.deepcopy(base)
    done = []
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(data)
        path = draw(st.sampled_from(paths))
        kind = draw(st.sampled_from(["replace", "delete", "unknown_key", "wrap"]))
        if not path:
            kind = "unknown_key" if isinstance(data, dict) else "replace"
        parent = _get(data, path[:-1]) if path else None
        if kind == "replace":
            value = draw(values)
            if path:
                parent[path[-1]] = value
            else:
                data = value
        elif kind == "delete" and path:
            del parent[path[-1]]
        elif kind == "unknown_key":
            target = _get(data, path)
            if not isinstance(target, dict):
                continue
            target[draw(st.sampled_from(["colour", "stpes", "Name", "extra", "1"]))] = draw(values)
        elif kind == "wrap" and path:
            parent[path[-1]] = draw(st.sampled_from([[parent[path[-1]]],
                                                     {"value": parent[path[-1]]}]))
        done.append(f"{kind} {'.'.join(map(str, path)) or '<top>'}")
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    return YamlFile(text.encode("utf-8"), tuple(done))


@st.composite
def _text_mutation(draw: st.DrawFn, text: str) -> YamlFile:
    kind = draw(st.sampled_from(["alias_bomb", "deep_list", "deep_map", "latin1", "cut",
                                 "tabs", "duplicate_key", "bom", "garbage", "empty",
                                 "binary_tag", "python_tag"]))
    if kind == "alias_bomb":
        data = (text + ALIAS_BOMB).encode()
    elif kind == "deep_list":
        data = (text + DEEP).encode()
    elif kind == "deep_map":
        data = (text + DEEP_MAP).encode()
    elif kind == "latin1":
        data = text.encode() + "note: caf\u00e9\n".encode("latin-1")
    elif kind == "cut":
        data = text.encode()[: draw(st.integers(0, len(text)))]
    elif kind == "tabs":
        data = text.replace("  ", "\t", 1).encode()
    elif kind == "duplicate_key":
        first = text.splitlines()[0]
        data = (text + first + "\n").encode()
    elif kind == "bom":
        data = b"\xef\xbb\xbf" + text.encode()
    elif kind == "garbage":
        data = draw(st.binary(max_size=200))
    elif kind == "empty":
        data = b""
    elif kind == "binary_tag":
        data = (text + "blob: !!binary aGVsbG8=\n").encode()
    else:
        data = (text + "run: !!python/object/apply:os.system ['true']\n").encode()
    return YamlFile(data, (kind,))


def yaml_documents(text: str) -> st.SearchStrategy[YamlFile]:
    """Fuzzed versions of the valid YAML document ``text``."""
    base = yaml.safe_load(text)
    return st.one_of(_data_mutation(base), _text_mutation(text))
