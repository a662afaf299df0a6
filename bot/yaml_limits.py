"""Read a YAML file people write (the config, playbooks) without letting it eat the process.

``yaml.safe_load`` is safe from code execution, not from size: nine aliases of nine aliases
of a nine-item list are 387 million values once validated, and thousands of nested brackets
overflow the parser's recursion. :func:`load_yaml` composes the node tree once, refuses both
with a :class:`YamlTooLarge` that says what to write instead, and constructs the data from the
same tree (an alias is then one shared object, as with ``safe_load``).
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["MAX_VALUES", "YamlTooLarge", "compose", "load_yaml"]

# A config or a playbook holds a few thousand values; aliases must not multiply them past this
MAX_VALUES = 100_000


class YamlTooLarge(ValueError):
    """The document nests too deeply, refers to itself, or expands past :data:`MAX_VALUES`."""


def compose(text: str) -> tuple[yaml.Node | None, yaml.SafeLoader]:
    """The node tree of ``text`` and the loader to construct it with (dispose it after).

    Raises ``yaml.YAMLError`` for text that is not YAML and :class:`YamlTooLarge` as above.
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except RecursionError:
        loader.dispose()
        raise YamlTooLarge("it nests lists or mappings too deeply to read; write them flatter"
                           ) from None
    except BaseException:
        loader.dispose()
        raise
    if node is not None:
        _check_size(node)
    return node, loader


def load_yaml(text: str) -> Any:
    """``yaml.safe_load(text)``, refusing what :func:`compose` refuses."""
    node, loader = compose(text)
    try:
        return loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_size(root: yaml.Node) -> None:
    """Count values as aliases expand them, each shared node once (no exponential walk)."""
    size: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            open_nodes.discard(key)
            size[key] = 1 + sum(size[id(child)] for child in _children(node))
            if size[key] > MAX_VALUES:
                raise YamlTooLarge(
                    f"its aliases (*name) expand to more than {MAX_VALUES:,} values; write the "
                    f"values out, or refer to an anchor (&name) less often")
            continue
        if key in size:
            continue
        open_nodes.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in open_nodes:
                raise YamlTooLarge("an alias (*name) refers to the value that contains it; "
                                   "write the value out instead")
            if id(child) not in size:
                stack.append((child, False))
