"""The real bot in HTTP mode for end-to-end tests, and a wait for what a user sees next."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bot.runner import Mode, Runtime
from bot.settings import Settings
from bot.wiring import build_services
from tests.support.slack_stub import SlackApiStub


@contextmanager
def http_runtime(settings: Settings, stub: SlackApiStub, *, token: str, secret: str
                 ) -> Iterator[Runtime]:
    """The bot serving Slack's signed requests on a free port of 127.0.0.1, its Web API calls
    going to ``stub``; no scheduler (tests poll when they mean to)."""
    services = build_services(settings)
    mode = Mode("http", bot_token=token, signing_secret=secret, api_url=stub.base_url)
    running = Runtime(services, mode, port=0, host="127.0.0.1", schedule=False).start()
    try:
        yield running
    finally:
        running.stop()
        services.close()


def until(check: Any, timeout: float = 10.0) -> None:
    """Wait for what a user would see next (listeners and the outbox run in the background)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"not seen within {timeout} s: {check.__doc__ or check}")
