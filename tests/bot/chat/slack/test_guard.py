"""Replayed signed requests: remembered for Slack's five-minute window."""

from __future__ import annotations

from bot.chat.slack.guard import ReplayGuard


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_signature_is_refused_again_within_the_window_only():
    clock = Clock()
    guard = ReplayGuard(window=300, clock=clock)
    assert guard.first_time("v0=abc") and guard.first_time("v0=def")
    assert not guard.first_time("v0=abc")
    clock.now += 301
    assert guard.first_time("v0=abc")
