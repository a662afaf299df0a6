"""Real ``spendwatch run`` processes on one PostgreSQL store and the Slack stub, for fault tests.

A :class:`FaultRig` owns a folder with a FOCUS export (``tests.support.fault_story``), a
config that polls it and routes each owner to its channel, and the store's URL. It starts the
bot as users do (``python -m bot run`` in HTTP mode, ``SLACK_API_URL`` at the stub, its log in
a file), kills it with SIGKILL, and reads what happened from the two places that count: the
store (the poll's advisory lock, the outbox) and the stub (the messages people see).

:meth:`FaultRig.tally` counts, per alert, the top-level posts in Slack: *lost* are alerts the
store has and Slack does not show, *duplicated* the posts beyond one per alert, and every
thread message (chart, reply) keyed by the outbox must be there exactly once too.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from tests.support.fault_story import CHANNELS, SPIKING, write_story
from tests.support.slack_stub import SlackApiStub

__all__ = ["BotProcess", "FaultRig", "Tally", "wait_until"]

REPO = Path(__file__).resolve().parents[2]
SECRET = "fault-signing-secret"
LEASE_SECONDS = 5.0  # longer than the slowest send here (a chart drawn on a busy machine)


def wait_until(check: Callable[[], Any], *, timeout: float, what: str,
               every: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy; AssertionError naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(every)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class BotProcess:
    """One ``spendwatch run``; its standard output and error go to ``log``."""

    name: str
    token: str
    log: Path
    process: subprocess.Popen[bytes]

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in an OOM kill or a lost node."""
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Tally:
    alerts: int  # alerts the story must raise
    posted: int  # distinct alerts with a top-level post
    posts: int  # top-level posts in the owners' channels
    thread_keys: Counter[str]  # thread messages and charts by outbox key
    thread_expected: set[str]  # the keys of the replies and charts the outbox sent
    pending: int
    dead: int

    @property
    def lost(self) -> int:
        return self.alerts - self.posted + len(self.thread_expected - set(self.thread_keys))

    @property
    def duplicated(self) -> int:
        return self.posts - self.posted + sum(n - 1 for n in self.thread_keys.values() if n > 1)


@dataclass
class FaultRig:
    root: Path
    database_url: str
    stub: SlackApiStub
    days: int = 14
    skus: int = 2
    bots: list[BotProcess] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.exports = self.root / "exports"
        write_story(self.exports, days=self.days, skus=self.skus)
        self.config = self.root / "spendwatch.yml"
        self.config.write_text(yaml.safe_dump({
            "database_url": self.database_url,
            "sources": [{"path": str(self.exports)}],
            "routing": {"default_channel": "C0FINOPS", "owners": dict(CHANNELS)},
            "detection": {"warmup_days": 5},
            "schedule": {"poll_minutes": 60, "deliver_seconds": 0.2, "channel_pace_seconds": 0,
                         "lease_seconds": LEASE_SECONDS},
            "quarantine_dir": str(self.root / "quarantine"),
        }))
        self.engine: Engine = create_engine(self.database_url, pool_pre_ping=True)

    # -- processes --------------------------------------------------------------------------

    def start(self, name: str) -> BotProcess:
        token = f"xoxb-fault-{name}"
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("SLACK_", "SPENDWATCH_", "TEAMS_"))}
        env.update(SLACK_BOT_TOKEN=token, SLACK_SIGNING_SECRET=SECRET,
                   SLACK_API_URL=self.stub.base_url, SPENDWATCH_LOG_LEVEL="INFO")
        log = self.root / f"{name}-{len(self.bots)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "bot", "run", "--config", str(self.config),
                 "--port", str(_free_port()), "--host", "127.0.0.1"],
                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        bot = BotProcess(name=name, token=token, log=log, process=process)
        self.bots.append(bot)
        return bot

    def close(self) -> None:
        """Kill every process still running and let go of the store."""
        for bot in self.bots:
            bot.kill()
        self.engine.dispose()

    def logs(self) -> str:
        return "\n".join(f"--- {bot.log.name} ---\n{bot.output()[-4000:]}" for bot in self.bots)

    # -- the store --------------------------------------------------------------------------

    def _scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as connection:
            return connection.execute(text(sql), params).scalar()

    def _has_table(self, name: str) -> bool:
        return bool(self._scalar("SELECT to_regclass(:name) IS NOT NULL", name=name))

    def polling(self) -> bool:
        """A bot holds the poll job's advisory lock (``storage.db.job_lock``) right now."""
        key = int.from_bytes(hashlib.sha256(b"spendwatch:poll").digest()[:8], "big")
        return bool(self._scalar(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND classid::bigint = :high AND objid::bigint = :low AND objsubid = 1",
            high=key >> 32, low=key & 0xFFFFFFFF))

    def count(self, table: str, where: str = "true") -> int:
        if not self._has_table(table):
            return 0
        return int(self._scalar(f"SELECT count(*) FROM {table} WHERE {where}") or 0)

    def outbox_done(self, *, operations: int) -> bool:
        """At least ``operations`` outbox rows, none of them still pending."""
        return (self.count("outbox") >= operations
                and self.count("outbox", "status = 'pending'") == 0)

    # -- what people see --------------------------------------------------------------------

    def tally(self) -> Tally:
        channels = set(CHANNELS.values())
        messages = self.stub.messages.values()
        top = [m for m in messages if m.channel in channels and m.thread_ts in (None, m.ts)]
        posted = {project for project in SPIKING
                  if any(_names(m.text, project) for m in top)}
        keys: Counter[str] = Counter()
        uploads = self.stub.uploads
        for message in messages:
            if message.thread_ts in (None, message.ts):
                continue
            key = ((message.metadata or {}).get("event_payload") or {}).get("key")
            if key:
                keys[str(key)] += 1
            for file_id in message.files:
                keys[uploads[file_id].filename] += 1
        with self.engine.connect() as connection:
            sent = connection.execute(text(
                "SELECT id, operation FROM outbox WHERE status = 'sent' "
                "AND operation IN ('reply', 'chart')")).all() if self._has_table("outbox") else []
        expected = {f"spend-sw-outbox-{id_}.png" if operation == "chart" else f"sw-outbox-{id_}"
                    for id_, operation in sent}
        return Tally(alerts=len(SPIKING), posted=len(posted), posts=len(top), thread_keys=keys,
                     thread_expected=expected, pending=self.count("outbox", "status = 'pending'"),
                     dead=self.count("outbox", "status = 'dead'"))

    def thread_of(self, project: str) -> list[str]:
        """What the alert's thread holds: ``chart`` or the reply's text, oldest first."""
        messages = self.stub.messages
        parent = next(m for m in messages.values()
                      if m.thread_ts in (None, m.ts) and _names(m.text, project))
        return ["chart" if m.files else m.text for m in self.stub.thread(parent.channel,
                                                                           parent.ts)]


def _names(text: str, project: str) -> bool:
    """The alert's text names this project (``Spend anomaly: search prod +$...``)."""
    return f": {project} prod " in text
