"""Slack acknowledgement latency: button clicks and ``/cost`` against the real app in HTTP mode.

The real slack-bolt app runs in HTTP mode (``bot.runner.Runtime``) on a free port of
127.0.0.1, its WebClient pointed at the local Slack Web API stub (``SLACK_API_URL``); every
request is signed as Slack signs it, so signature checks, parsing and routing all run.

1. **Button clicks**: a fresh store gets anomalies whose alerts are posted through the outbox;
   then ``--clicks`` signed ``block_actions`` (Acknowledge on distinct anomalies, plus Snooze
   clicks) are fired at once from as many threads, ``--repeat`` times. Each click is timed from
   request sent to HTTP response received: Slack's "acknowledged" time (limit 3 s, target p99
   200 ms). After each burst the bench waits for the effects (audit rows, outbox) to land.
2. **/cost**: on the ``--lines`` x ``--days`` hourly store of ``bench/cost_query.py`` (reused
   from ``--db`` when it has that shape, else built), each form is sent ``--cost-repeat`` times,
   one after another, timing the HTTP ack and the answer's arrival on the stub's response_url
   (target p95 500 ms).

Slack's side (the clicking threads) runs in a separate process, so it never competes with the
app for the GIL. The q-drops column counts connections the kernel dropped from a full listen
queue (uvicorn listens with the queue of ``bot.web.WebLimits.backlog``, 1,024).

    .venv/bin/python bench/slack_ack.py --db /tmp/costbench/bench.db
    .venv/bin/python bench/slack_ack.py --quick
    .venv/bin/python bench/slack_ack.py --skip-cost
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import os
import random
import shlex
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func  # noqa: E402
from sqlmodel import select  # noqa: E402

from bench._slack_app import (  # noqa: E402
    SECRET,
    TEAMS,
    bench_settings,
    events_url,
    listen_overflows,
    quantile,
    running_app,
    send,
)
from bench._slack_cost import COST_FORMS, bench_cost  # noqa: E402
from bench.cost_query import ENVIRONMENTS, PROJECTS, SERVICES  # noqa: E402
from bot.anomaly.service import announce  # noqa: E402
from bot.chat.ids import SNOOZE_HOURS, ActionId, AlertRef  # noqa: E402
from bot.runner import Runtime  # noqa: E402
from storage.db import session_scope  # noqa: E402
from storage.models import Alert, Anomaly, AuditLog, OutboxMessage  # noqa: E402
from tests.support.slack_requests import (  # noqa: E402
    block_actions_body,
    sign,
)
from tests.support.slack_stub import SlackApiStub  # noqa: E402

QUICK = {"clicks": 10, "repeat": 2, "cost_repeat": 5, "lines": 50, "days": 30}
FULL = {"clicks": 50, "repeat": 5, "cost_repeat": 20, "lines": 1_000, "days": 365}


# -- 1. button clicks ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Click:
    kind: str  # ack | snooze
    anomaly_id: int
    body: bytes
    response_url: str


@dataclass(frozen=True)
class Timed:
    kind: str
    status: int
    ms: float
    error: str  # why a click got no HTTP answer (status 0), e.g. ConnectionResetError


@dataclass(frozen=True)
class Burst:
    timed: list[Timed]
    overflows: int | None  # connections the kernel dropped from a full listen queue
    landed_s: float | None  # burst start -> every click's audit row written
    settled_s: float | None  # burst start -> outbox empty


def seed_alerts(runtime: Runtime, count: int, timeout: float) -> dict[int, tuple[str, str]]:
    """``count`` open anomalies, their alerts posted to Slack: anomaly id -> (channel, ts)."""
    now = datetime.now(UTC)
    settings = runtime.services.settings
    with session_scope(runtime.services.engine) as session:
        rows = []
        for n in range(count):
            excess = 20.0 + n % 17
            rows.append(Anomaly(
                project=f"project-{n % PROJECTS:03d}", environment=ENVIRONMENTS[n % 3],
                owner=f"team-{n % TEAMS}", phase="run", kind="spike", status="open",
                started_at=now - timedelta(hours=3), detected_at=now - timedelta(hours=1),
                last_seen_at=now, expected_cost=10.0, actual_cost=10.0 + excess,
                impact_usd=3 * excess, peak_hourly_usd=10.0 + excess,
                evidence={"baseline": "seasonal", "contributors": [
                    {"service": SERVICES[n % len(SERVICES)], "region": "us-east-1",
                     "sku": "", "impact_usd": 3 * excess, "expected": 10.0,
                     "actual": 10.0 + excess}]},
            ))
        session.add_all(rows)
        session.flush()
        ids = [int(row.id or 0) for row in rows]
        for anomaly_id in ids:
            announce(db_session=session, settings=settings, anomaly_id=anomaly_id,
                     platform="slack", now=now)
    runtime.deliverer.drain(timeout=timeout)
    with session_scope(runtime.services.engine) as session:
        alerts = session.exec(select(Alert).where(Alert.platform == "slack")).all()
        return {a.anomaly_id: (a.channel, a.message_ref) for a in alerts if a.message_ref}


def plan_bursts(stub: SlackApiStub, posted: dict[int, tuple[str, str]], *, clicks: int,
                repeat: int, ack_ids: list[int], snooze_ids: list[int],
                seed: int = 11) -> list[list[Click]]:
    """Per burst: Acknowledge on anomalies never clicked before, Snooze on a fixed set."""
    rng = random.Random(seed)
    n_snooze = len(snooze_ids)
    n_ack = clicks - n_snooze
    bursts = []
    for b in range(repeat):
        burst = []
        for k, anomaly_id in enumerate(ack_ids[b * n_ack:(b + 1) * n_ack]):
            burst.append(_click(stub, posted, "ack", anomaly_id, f"U0ACK{b}{k:02d}"))
        for k, anomaly_id in enumerate(snooze_ids):
            hours = SNOOZE_HOURS[(b + k) % len(SNOOZE_HOURS)]
            burst.append(_click(stub, posted, "snooze", anomaly_id, f"U0SNZ{b}{k:02d}",
                                hours=hours))
        rng.shuffle(burst)
        bursts.append(burst)
    return bursts


def _click(stub: SlackApiStub, posted: dict[int, tuple[str, str]], kind: str, anomaly_id: int,
           user: str, hours: int | None = None) -> Click:
    channel, ts = posted[anomaly_id]
    value = AlertRef(anomaly_id=anomaly_id, hours=hours).model_dump_json()
    response_url = stub.new_response_url(channel=channel, message_ts=ts, user_id=user)
    if kind == "ack":
        body = block_actions_body(action_id=ActionId.ACKNOWLEDGE.value, value=value,
                                  user_id=user, channel_id=channel, message_ts=ts,
                                  response_url=response_url, button_text="Acknowledge")
    else:
        option = {"text": {"type": "plain_text", "text": f"{hours} h"}, "value": value}
        body = block_actions_body(action_id=ActionId.SNOOZE.value, selected_option=option,
                                  user_id=user, channel_id=channel, message_ts=ts,
                                  response_url=response_url)
    return Click(kind, anomaly_id, body, response_url)


def fire(url: str, requests: list[tuple[str, bytes]]
         ) -> tuple[list[tuple[str, int, float, str]], float]:
    """All requests at once, one thread each, released together by a barrier; runs in the
    client process. Per request (kind, status, ms, error), and the monotonic release time."""
    barrier = threading.Barrier(len(requests) + 1)

    def one(kind: str, body: bytes) -> tuple[str, int, float, str]:
        headers = sign(body, SECRET)  # signed before the clock starts, as Slack does
        barrier.wait()
        started = time.perf_counter()
        status, error = send(url, body, headers)
        return kind, status, (time.perf_counter() - started) * 1000, error

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        futures = [pool.submit(one, kind, body) for kind, body in requests]
        barrier.wait()
        released = time.monotonic()
        return [f.result() for f in futures], released


def audit_rows(runtime: Runtime) -> int:
    with session_scope(runtime.services.engine) as session:
        return int(session.exec(select(func.count()).select_from(AuditLog).where(
            AuditLog.action.in_(("acknowledged", "snoozed")))).one())


def answered(stub: SlackApiStub, clicks: list[Click]) -> int:
    """Clicks answered on their response_url: a repeated snooze that changes nothing, say."""
    return sum(1 for c in clicks if stub.responses(c.response_url))


def wait_landed(runtime: Runtime, started: float, expected: int, timeout: float,
                answers: Callable[[], int] = lambda: 0) -> tuple[float | None, float | None]:
    """Seconds from ``started`` until every click has its audit row (or its answer, when it
    changed nothing), and until the outbox is empty."""
    deadline = started + timeout
    landed = settled = None
    while time.monotonic() < deadline:
        if landed is None and audit_rows(runtime) + answers() >= expected:
            landed = time.monotonic() - started
        if landed is not None and runtime.deliverer.pending() == 0:
            settled = time.monotonic() - started
            break
        time.sleep(0.02)
    return landed, settled


def bench_clicks(args: argparse.Namespace, workdir: Path) -> None:
    n_snooze = max(1, round(args.clicks * args.snooze_share))
    n_ack = args.clicks - n_snooze
    count = n_ack * args.repeat + n_snooze
    settings = bench_settings(f"sqlite:///{workdir / 'clicks.db'}", workdir, args.pace)
    # Slack's side runs in its own process, so the clients never compete with the app for
    # the GIL; the monotonic clock is the machine's, so release times compare across both
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as client, \
            SlackApiStub(ts_base=int(time.time())) as stub, \
            running_app(settings, stub, freeze=not args.no_freeze) as runtime:
        started = time.perf_counter()
        posted = seed_alerts(runtime, count, timeout=max(60.0, count * args.pace * 4))
        print(f"store: {len(posted)} of {count} anomalies posted as alerts in "
              f"{time.perf_counter() - started:.1f}s ({TEAMS} owner channels, outbox pace "
              f"{args.pace} s/channel)")
        ids = sorted(posted)
        ack_ids, snooze_ids = ids[n_snooze:], ids[:n_snooze]
        bursts = plan_bursts(stub, posted, clicks=args.clicks, repeat=args.repeat,
                             ack_ids=ack_ids, snooze_ids=snooze_ids)
        url = events_url(runtime)
        warm = _click(stub, posted, "snooze", snooze_ids[0], "U0WARM", hours=1)
        client.submit(fire, url, [("warm-up", warm.body)]).result()  # untimed: imports, caches
        expected = 1
        wait_landed(runtime, time.monotonic(), expected, args.settle_timeout)
        results: list[Burst] = []
        sent: list[Click] = [warm]
        for clicks in bursts:
            sent.extend(clicks)
            before = listen_overflows()
            answers, released = client.submit(
                fire, url, [(c.kind, c.body) for c in clicks]).result()
            after = listen_overflows()
            timed = [Timed(*answer) for answer in answers]
            dropped = after - before if after is not None and before is not None else None
            # a click with no HTTP answer may or may not have been processed: wait for the rest
            expected += sum(t.status == 200 for t in timed)
            landed, settled = wait_landed(runtime, released, expected, args.settle_timeout,
                                          lambda: answered(stub, sent))
            results.append(Burst(timed, dropped, landed, settled))
            time.sleep(args.pause)
        report_clicks(runtime, stub, results, bursts, target_ms=args.target_ack_ms)


def report_clicks(runtime: Runtime, stub: SlackApiStub, results: list[Burst],
                  bursts: list[list[Click]], *, target_ms: float) -> None:
    print("\nlatency = request sent -> HTTP response, over the clicks that got one (failed: "
          "no HTTP 200)")
    print(f"{'burst':<8}{'clicks':>7}{'failed':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
          f"{'max ms':>9}{'>=1 s':>7}{'q-drops':>9}{'landed s':>10}{'settled s':>11}")
    everything = [t for burst in results for t in burst.timed]
    dropped = [b.overflows for b in results]
    rows = [(str(n + 1), burst.timed, burst.overflows, burst.landed_s, burst.settled_s)
            for n, burst in enumerate(results)]
    rows.append(("all", everything, None if None in dropped else sum(dropped), None, None))
    rows += [(f"  {kind}", [t for t in everything if t.kind == kind], None, None, None)
             for kind in ("ack", "snooze")]
    for name, timed, overflows, landed, settled in rows:
        ms = [t.ms for t in timed if t.status == 200] or [float("nan")]
        failed = sum(t.status != 200 for t in timed)
        slow = sum(t.ms >= 1000 for t in timed if t.status == 200)
        per_burst = name[0].isdigit()
        print(f"{name:<8}{len(timed):>7}{failed:>7}{statistics.median(ms):>9.1f}"
              f"{quantile(ms, 0.95):>9.1f}{quantile(ms, 0.99):>9.1f}{max(ms):>9.1f}{slow:>7}"
              f"{'' if overflows is None else overflows:>9}"
              f"{_seconds(landed) if per_burst else '':>10}"
              f"{_seconds(settled) if per_burst else '':>11}")
    answered = [t.ms for t in everything if t.status == 200]
    failed = len(everything) - len(answered)
    p99 = quantile(answered, 0.99) if answered else float("inf")
    statuses = Counter(t.status for t in everything)
    print(f"ack p99 {p99:.1f} ms with {failed} failed, target p99 <= {target_ms:.0f} ms and "
          f"none failed: {'ok' if p99 <= target_ms and not failed else 'MISSED'}; Slack's 3 s: "
          f"{'ok' if max(answered, default=0) < 3000 and not failed else 'MISSED'}; "
          f"HTTP statuses {dict(sorted(statuses.items()))}")
    errors = Counter(t.error for t in everything if t.error)
    if errors:
        print(f"no HTTP answer (status 0): {dict(errors)}; Slack shows such a click as failed")
    print("q-drops: Linux TcpExt ListenOverflows during the burst (connections dropped because "
          "a listen queue was full); landed: audit rows of the answered clicks written; "
          "settled: outbox empty (both from the burst's release)")

    clicks = [c for burst in bursts for c in burst]
    ack_ids = {c.anomaly_id for c in clicks if c.kind == "ack"}
    snooze_ids = {c.anomaly_id for c in clicks if c.kind == "snooze"}
    now = datetime.now(UTC)
    with session_scope(runtime.services.engine) as session:
        anomalies = {a.id: a for a in session.exec(select(Anomaly)).all()}
        audit = Counter(a.action for a in session.exec(select(AuditLog)).all())
        outbox = Counter(m.status for m in session.exec(select(OutboxMessage)).all())
    acked = sum(anomalies[i].response == "acknowledged" for i in ack_ids)
    answered_ids = {c.anomaly_id for burst, result in zip(bursts, results, strict=True)
                    for c, t in zip(burst, result.timed, strict=True)
                    if c.kind == "ack" and t.status == 200}
    snoozed = sum(_aware(anomalies[i].snoozed_until) > now for i in snooze_ids
                  if anomalies[i].snoozed_until is not None)
    n_snooze_clicks = sum(c.kind == "snooze" for c in clicks)
    warnings = sum(len(stub.responses(c.response_url)) for c in clicks)
    updates = [c for c in stub.calls_to("chat.update") if c.ok]
    replies = [c for c in stub.calls_to("chat.postMessage") if c.ok and "thread_ts" in c.params]
    print("effects after the outbox settled:")
    print(f"  anomalies acknowledged   {acked} of {len(ack_ids)} clicked "
          f"({len(answered_ids)} of those clicks got HTTP 200)")
    print(f"  anomalies snoozed        {snoozed} of {len(snooze_ids)} clicked "
          f"({n_snooze_clicks} snooze clicks)")
    ok_snoozes = sum(t.status == 200 for t in everything if t.kind == "snooze")
    print(f"  audit rows               acknowledged {audit['acknowledged']}, snoozed "
          f"{audit['snoozed']} (clicks answered 200: {len(answered_ids)} and {ok_snoozes}, "
          "+1 snooze for the untimed warm-up)")
    print(f"  ephemeral warnings       {warnings} (on the clicks' response_urls)")
    print(f"  outbox                   {dict(sorted(outbox.items()))}")
    print(f"  Slack saw                {len(updates)} chat.update, {len(replies)} thread "
          f"replies, {len(stub.errors)} stub errors")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _seconds(value: float | None) -> str:
    return "timeout" if value is None else f"{value:.2f}"


# -- main ---------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 10 clicks x 2 bursts, 5 per /cost form, small store")
    parser.add_argument("--clicks", type=int, default=None, help="concurrent clicks per burst "
                        f"(default {FULL['clicks']}, quick {QUICK['clicks']})")
    parser.add_argument("--repeat", type=int, default=None,
                        help=f"bursts (default {FULL['repeat']}, quick {QUICK['repeat']})")
    parser.add_argument("--snooze-share", type=float, default=0.3,
                        help="share of each burst's clicks that are Snooze (rest Acknowledge)")
    parser.add_argument("--cost-repeat", type=int, default=None, help="timed /cost per form "
                        f"(default {FULL['cost_repeat']}, quick {QUICK['cost_repeat']})")
    parser.add_argument("--warmup", type=int, default=1, help="untimed /cost per form")
    parser.add_argument("--db", type=Path, default=None,
                        help="SQLite file of bench/cost_query.py's store to reuse (or build)")
    parser.add_argument("--lines", type=int, default=None, help="lines of spend in the /cost "
                        f"store (default {FULL['lines']}, quick {QUICK['lines']})")
    parser.add_argument("--days", type=int, default=None, help="days of hourly points "
                        f"(default {FULL['days']}, quick {QUICK['days']})")
    parser.add_argument("--pace", type=float, default=0.05,
                        help="outbox seconds between messages per channel (Slack: about 1)")
    parser.add_argument("--pause", type=float, default=0.5, help="seconds between bursts")
    parser.add_argument("--settle-timeout", type=float, default=60.0)
    parser.add_argument("--answer-timeout", type=float, default=30.0)
    parser.add_argument("--target-ack-ms", type=float, default=200.0)
    parser.add_argument("--target-answer-ms", type=float, default=500.0)
    parser.add_argument("--skip-clicks", action="store_true")
    parser.add_argument("--skip-cost", action="store_true")
    parser.add_argument("--no-freeze", action="store_true",
                        help="leave start-up's objects to the garbage collector's full passes "
                             "(spendwatch run freezes them), to compare")
    args = parser.parse_args()
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    print("reproduce: .venv/bin/python " + shlex.join(["bench/slack_ack.py", *sys.argv[1:]]))
    print("load average at start: " + " ".join(f"{v:.2f}" for v in os.getloadavg())
          + f" ({os.cpu_count()} CPUs)")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="slack-ack-") as tmp:
        if not args.skip_clicks:
            print(f"\n== button clicks: {args.repeat} bursts of {args.clicks} concurrent signed "
                  f"block_actions ({args.snooze_share:.0%} Snooze, rest Acknowledge) ==")
            bench_clicks(args, Path(tmp))
        if not args.skip_cost:
            print(f"\n== /cost: {len(COST_FORMS)} forms x {args.cost_repeat} (+{args.warmup} "
                  f"warm-up), sequential, {args.lines:,} lines x {args.days} days ==")
            bench_cost(args, Path(tmp))
    print("\nload average at end: " + " ".join(f"{v:.2f}" for v in os.getloadavg())
          + f"; wall {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
