"""The playbook library: every playbook of a folder, and which one an anomaly gets.

:func:`choose_playbook` is pure: the playbooks and the facts of one anomaly in, one playbook
out. Of the playbooks whose ``match`` rule holds, the most specific wins (the rule giving the
most keys); a tie goes to the name that sorts first, so the choice never depends on the order
files were read in. When no rule holds, the default comes last: the playbook named
``default``, else the only playbook without a ``match`` block.

A walk keeps the playbook it started with (its name is stored with the walk), so the library
also answers "the playbook named X", and says so when X has been removed since.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from bot.playbook.match import AnomalyFacts
from bot.playbook.schema import Playbook

__all__ = ["DEFAULT_NAME", "Choice", "PlaybookLibrary", "choose_playbook", "explain_choice"]

DEFAULT_NAME = "default"


@dataclass(frozen=True)
class Choice:
    """The playbook chosen for some facts, and why, in words (``playbooks which``)."""

    playbook: Playbook
    reason: str
    # (name, why it was passed over) for every other playbook with a match rule
    passed_over: tuple[tuple[str, str], ...] = ()


def _default(playbooks: Mapping[str, Playbook]) -> Playbook:
    if DEFAULT_NAME in playbooks:
        return playbooks[DEFAULT_NAME]
    unmatched = sorted(name for name, p in playbooks.items() if p.match is None)
    if unmatched:
        return playbooks[unmatched[0]]
    if not playbooks:
        raise ValueError("no playbooks to choose from; add playbooks/default.yml")
    return playbooks[sorted(playbooks)[0]]


def explain_choice(playbooks: Mapping[str, Playbook], facts: AnomalyFacts) -> Choice:
    """The playbook for ``facts``, with the reason it won and why each other one lost."""
    held: list[Playbook] = []
    passed: list[tuple[str, str]] = []
    for name in sorted(playbooks):
        rule = playbooks[name].match
        if rule is None:
            continue
        failed = rule.failed_key(facts)
        if failed is None:
            held.append(playbooks[name])
        else:
            value = facts.value(failed) or "(unknown)"
            passed.append((name, f"{failed} is {value!r}, not {', '.join(rule.patterns(failed))}"))
    if not held:
        default = _default(playbooks)
        return Choice(default, "no match rule holds, so the default applies", tuple(passed))
    held.sort(key=lambda p: (-(p.match.specificity if p.match else 0), p.name))
    winner, rule = held[0], held[0].match
    assert rule is not None
    reason = f"its rule holds ({rule.describe()}), {rule.specificity} key(s)"
    for other in held[1:]:
        other_rule = other.match
        assert other_rule is not None
        why = ("fewer keys" if other_rule.specificity < rule.specificity
               else f"as specific, and {winner.name!r} sorts first")
        passed.append((other.name, f"its rule holds too, but {why}"))
    return Choice(winner, reason, tuple(sorted(passed)))


def choose_playbook(playbooks: Mapping[str, Playbook], facts: AnomalyFacts) -> Playbook:
    """The most specific playbook whose rule holds for ``facts``; else the default."""
    return explain_choice(playbooks, facts).playbook


class PlaybookLibrary(Mapping[str, Playbook]):
    """Playbooks by name, with the default and the choice for an anomaly's facts."""

    def __init__(self, playbooks: Mapping[str, Playbook]) -> None:
        if not playbooks:
            raise ValueError("a playbook library needs at least one playbook")
        self._playbooks = dict(sorted(playbooks.items()))
        self.default = _default(self._playbooks)

    @classmethod
    def of(cls, playbook: Playbook | PlaybookLibrary) -> PlaybookLibrary:
        """A library as it is, or one playbook as a library of one (its own default)."""
        if isinstance(playbook, PlaybookLibrary):
            return playbook
        return cls({playbook.name: playbook})

    def __getitem__(self, name: str) -> Playbook:
        return self._playbooks[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._playbooks)

    def __len__(self) -> int:
        return len(self._playbooks)

    def choose(self, facts: AnomalyFacts) -> Playbook:
        return choose_playbook(self._playbooks, facts)

    def explain(self, facts: AnomalyFacts) -> Choice:
        return explain_choice(self._playbooks, facts)
