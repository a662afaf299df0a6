"""Failures *after* the Slack stub did what was asked: the platform has it, the app has no answer.

``fail_next`` fails a call before it touches anything. Crash tests need the other half: the
message is in the channel, and then the answer is held (the app waits, and is killed while it
waits) or the connection is dropped (the app sees an error for a message that exists). A
:class:`Gate` is queued per method; the call it catches is applied and recorded first, then
its answer waits until :meth:`Gate.release`, and is sent or dropped.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

__all__ = ["Gate"]


@dataclass(eq=False)
class Gate:
    """One call's answer, held after the call was applied.

    ``skip`` successful calls pass first. ``arrived`` is set when the call came in
    (``params`` and ``token`` say what it was and who sent it, e.g. which of two bot
    processes); the answer goes out after :meth:`release` (dropped instead when ``drop``).
    """

    method: str
    drop: bool = False
    skip: int = 0  # successful calls let through untouched before the one caught
    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    params: dict | None = None
    token: str | None = None

    def release(self) -> None:
        self.released.set()

    def wait_arrived(self, timeout: float) -> Gate:
        """Block until the call came in; AssertionError after ``timeout`` seconds."""
        if not self.arrived.wait(timeout):
            raise AssertionError(f"no call to {self.method} reached the gate within {timeout}s")
        return self

    def _caught(self, params: dict, token: str | None) -> None:
        self.params, self.token = params, token
        self.arrived.set()
