"""The real app in HTTP mode for the Slack benchmarks, and the HTTP helpers they share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from bot.runner import Runtime, freeze_startup_heap
from bot.settings import LimitSettings, RoutingSettings, ScheduleSettings, Settings
from tests.support.slack_requests import post
from tests.support.slack_runtime import http_runtime
from tests.support.slack_stub import SlackApiStub

SECRET = "bench-signing-secret-0123456789ab"
TOKEN = "xoxb-1234-5678-bench"
FINOPS = "C0FINOPS"
TEAMS = 10  # owners team-0..9, each with its own channel


def bench_settings(database_url: str, workdir: Path, pace: float) -> Settings:
    return Settings(
        database_url=database_url, quarantine_dir=workdir / "quarantine",
        routing=RoutingSettings(default_channel=FINOPS,
                                owners={f"team-{i}": f"C0TEAM{i:02d}" for i in range(TEAMS)}),
        schedule=ScheduleSettings(channel_pace_seconds=pace),
        # one user sends every /cost of a burst: this measures answer times, not the limit
        limits=LimitSettings(commands_per_minute=10_000, actions_per_minute=10_000),
    )


@contextmanager
def running_app(settings: Settings, stub: SlackApiStub, *, freeze: bool = True
                ) -> Iterator[Runtime]:
    """The real app in HTTP mode (no scheduler), talking to ``stub``; with ``freeze``, what
    start-up made is frozen out of the garbage collector's full passes, as ``spendwatch run``
    does (``bot.runner.freeze_startup_heap``)."""
    with http_runtime(settings, stub, token=TOKEN, secret=SECRET) as runtime:
        if freeze:
            freeze_startup_heap()
        yield runtime


def events_url(runtime: Runtime) -> str:
    return f"http://127.0.0.1:{runtime.http_port}/slack/events"


def send(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    """POST a signed body: (HTTP status, ""), or (0, the error) when the connection failed."""
    try:
        return post(url, body, headers, timeout=10)[0], ""
    except OSError as error:
        return 0, type(error).__name__


def listen_overflows() -> int | None:
    """Linux's count of connections dropped because a listen queue was full (all sockets)."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return None
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            row = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return int(row["ListenOverflows"]) if "ListenOverflows" in row else None
    return None


def quantile(values: list[float], q: float) -> float:
    return float(np.quantile(np.asarray(values), q)) if values else float("nan")
