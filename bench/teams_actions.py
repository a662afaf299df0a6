"""Teams card actions: time to answer 50 concurrent ``Action.Execute`` clicks, over real HTTP.

The real bot serves ``/api/messages`` (``bot.runner.Runtime`` with Teams credentials) on a
free port of 127.0.0.1, trusting a local issuer and sending to a local Teams service stub
(``tests/support/teams_stub.py``). A fresh store gets anomalies whose cards are posted through
the outbox; then ``--clicks`` signed ``adaptiveCard/action`` invokes (Acknowledge on distinct
anomalies, plus "open the playbook" and "view runbook" clicks) are fired at once from as many
threads, ``--repeat`` times. Each click is timed from request sent to HTTP response received,
which for Teams is the refreshed card itself: token check, the desk's transaction and the
card drawn from the store all happen before it (target p99 200 ms).

Teams' side (the clicking threads) runs in a separate process, so it never competes with the
bot for the GIL; its tokens are signed before the clock starts, as Teams' are (and, as
Teams', one token serves the activities of the same moment: they are signed to the second).
``cpu/click`` is the bot process's CPU time during a burst divided by its clicks: steadier
than wall time when the machine is shared, and what the p99 is made of, since 50 clicks
queue for one interpreter lock.

Where a click's time goes, and the figures of each round of work on it, are in
``docs/teams.md`` ("How fast a click is answered"). In short, on this shared 2-core machine,
with the action and the card's read-back in one transaction, the card's statements built
once, and card actions answered on one worker thread without the SDK's turn: p50 509 ms
before and 300 ms after, p99 1034 and 581 ms, bot CPU 14.3 and 8.0 ms a click (medians of
four alternating runs each). 50 clicks × 8 ms of interpreter time is about 400 ms, so on
that machine the 200 ms target is not met by one process. Where the bot has both cores, a
click costs about 2.7 ms and the target is met once start-up's objects are frozen out of the
garbage collector's full passes, as ``spendwatch run`` does (``--no-freeze`` to compare):
p99 145 ms against 200 ms, medians of eight alternated runs.

    .venv/bin/python bench/teams_actions.py
    .venv/bin/python bench/teams_actions.py --clicks 10 --repeat 2
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlmodel import select  # noqa: E402

from bench._slack_app import quantile  # noqa: E402
from bot.anomaly.service import announce  # noqa: E402
from bot.runner import Runtime, freeze_startup_heap  # noqa: E402
from bot.settings import (  # noqa: E402
    LimitSettings,
    RoutingSettings,
    Settings,
    TeamsRouting,
)
from storage.db import session_scope  # noqa: E402
from storage.models import Alert, Anomaly  # noqa: E402
from tests.support.teams_requests import (  # noqa: E402
    APP_ID,
    action,
    bot_added,
    card_action,
    post,
    teams_runtime,
)
from tests.support.teams_stub import TeamsStub  # noqa: E402

TEAMS = 10
SERVICES = ["Amazon Bedrock", "AmazonCloudWatch", "Amazon EC2", "Amazon S3"]


def conversation(team: int) -> str:
    return f"19:team{team:02d}0123456789abcdef@thread.tacv2"


def seed(runtime: Runtime, stub: TeamsStub, count: int) -> dict[int, tuple[str, str]]:
    """``count`` open anomalies with their cards posted: anomaly id -> (conversation, id)."""
    for team in range(TEAMS):
        post(runtime, stub, bot_added(stub, conversation(team)))
    now = datetime.now(UTC)
    with session_scope(runtime.services.engine) as session:
        rows = []
        for n in range(count):
            excess = 20.0 + n % 17
            rows.append(Anomaly(
                project=f"project-{n % 40:03d}", environment="prod", owner=f"team-{n % TEAMS}",
                phase="run", kind="spike", status="open", started_at=now - timedelta(hours=3),
                detected_at=now - timedelta(hours=1), last_seen_at=now, expected_cost=10.0,
                actual_cost=10.0 + excess, impact_usd=3 * excess, peak_hourly_usd=10.0 + excess,
                evidence={"baseline": "seasonal", "contributors": [
                    {"service": SERVICES[n % len(SERVICES)], "region": "us-east-1", "sku": "",
                     "impact_usd": 3 * excess, "expected": 10.0, "actual": 10.0 + excess}]}))
        session.add_all(rows)
        session.flush()
        for row in rows:
            announce(db_session=session, settings=runtime.services.settings,
                     anomaly_id=int(row.id or 0), platform="teams", now=now)
    runtime.parts["deliverers"]["teams"].drain(timeout=max(60.0, count * 0.2))
    with session_scope(runtime.services.engine) as session:
        alerts = session.exec(select(Alert).where(Alert.platform == "teams")).all()
        return {a.anomaly_id: (a.channel, a.message_ref) for a in alerts if a.message_ref}


def fire(url: str, requests: list[tuple[str, bytes, str]]
         ) -> list[tuple[str, int, float, str]]:
    """All requests at once, one thread each, released together; runs in the client process.
    Per request (kind, status, ms, answer type or error)."""
    from tests.support.slack_requests import post as http_post

    barrier = threading.Barrier(len(requests) + 1)

    def one(kind: str, body: bytes, token: str) -> tuple[str, int, float, str]:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        barrier.wait()
        started = time.perf_counter()
        try:
            status, _, text = http_post(url, body, headers, timeout=10)
        except OSError as exc:
            return kind, 0, (time.perf_counter() - started) * 1000, type(exc).__name__
        ms = (time.perf_counter() - started) * 1000
        return kind, status, ms, json.loads(text).get("type", "") if text else ""

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        futures = [pool.submit(one, *request) for request in requests]
        barrier.wait()
        return [f.result() for f in futures]


def plan(stub: TeamsStub, posted: dict[int, tuple[str, str]], *, clicks: int, burst: int
         ) -> list[tuple[str, bytes, str]]:
    ids = sorted(posted)
    kinds = ["ack"] * (clicks - 2 * (clicks // 5)) + ["step_open"] * (clicks // 5) \
        + ["runbook"] * (clicks // 5)
    start = burst * clicks
    requests = []
    for k, kind in enumerate(kinds):
        anomaly_id = ids[(start + k) % len(ids)]
        conv, ref = posted[anomaly_id]
        card = stub.messages[ref].card or {}
        verb = {"ack": "ack", "step_open": "step_open", "runbook": "runbook"}[kind]
        try:
            clicked = action(card, verb)
        except AssertionError:
            clicked = {"verb": verb, "data": {"v": 1, "verb": verb, "anomaly_id": anomaly_id}}
        body = json.dumps(card_action(stub, conv, ref, clicked, user=f"aad-bench-{k:03d}"))
        requests.append((kind, body.encode(), stub.token()))
    return requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=50, help="concurrent clicks per burst")
    parser.add_argument("--repeat", type=int, default=5, help="bursts")
    parser.add_argument("--target-ms", type=float, default=200.0)
    parser.add_argument("--no-freeze", action="store_true",
                        help="leave start-up's objects to the collector (the bot before "
                             "freeze_startup_heap), to compare")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    count = args.clicks * args.repeat
    with tempfile.TemporaryDirectory() as tmp, \
            ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as client, \
            TeamsStub(client_id=APP_ID) as stub:
        settings = Settings(
            database_url=f"sqlite:///{Path(tmp) / 'teams.db'}",
            quarantine_dir=Path(tmp) / "quarantine",
            routing=RoutingSettings(teams=TeamsRouting(
                owners={f"team-{i}": conversation(i) for i in range(TEAMS)})),
            limits=LimitSettings(actions_per_minute=10_000, commands_per_minute=10_000))
        with teams_runtime(settings, stub) as runtime:
            if not args.no_freeze:
                freeze_startup_heap()  # as `spendwatch run` does once started
            started = time.perf_counter()
            posted = seed(runtime, stub, count)
            print(f"store: {len(posted)} of {count} anomalies posted as cards in "
                  f"{time.perf_counter() - started:.1f}s ({TEAMS} conversations)")
            url = f"http://127.0.0.1:{runtime.http_port}/api/messages"
            client.submit(fire, url, plan(stub, posted, clicks=2, burst=0)).result()  # warm
            print(f"{'burst':<8}{'clicks':>7}{'failed':>7}{'p50 ms':>9}{'p95 ms':>9}"
                  f"{'p99 ms':>9}{'max ms':>9}{'cpu/click':>11}")
            everything: list[float] = []
            failed = 0
            cpu: list[float] = []
            answers: Counter[str] = Counter()
            for burst in range(args.repeat):
                requests = plan(stub, posted, clicks=args.clicks, burst=burst)
                cpu_started = time.process_time()
                timed = client.submit(fire, url, requests).result()
                cpu.append((time.process_time() - cpu_started) * 1000 / len(requests))
                ms = [t[2] for t in timed if t[1] == 200]
                bad = sum(1 for t in timed if t[1] != 200)
                failed += bad
                everything.extend(ms)
                answers.update(t[3] for t in timed)
                print(f"{burst + 1:<8}{len(timed):>7}{bad:>7}{quantile(ms, 0.5):>9.1f}"
                      f"{quantile(ms, 0.95):>9.1f}{quantile(ms, 0.99):>9.1f}{max(ms):>9.1f}"
                      f"{cpu[-1]:>8.1f} ms")
                runtime.parts["deliverers"]["teams"].drain(timeout=60)
            p99 = quantile(everything, 0.99)
            print(f"all {len(everything)} answered clicks: p50 "
                  f"{statistics.median(everything):.1f} ms, p99 {p99:.1f} ms, bot CPU "
                  f"{statistics.median(cpu):.1f} ms a click; answers "
                  f"{dict(answers)}; target p99 <= {args.target_ms:.0f} ms with none failed: "
                  f"{'ok' if p99 <= args.target_ms and not failed else 'MISSED'}")


if __name__ == "__main__":
    main()
