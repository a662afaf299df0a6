"""``/cost`` through the real app: time to the HTTP ack and to the answer on the response_url."""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from bench._slack_app import FINOPS, SECRET, bench_settings, events_url, quantile, running_app, send
from bench.cost_query import PROJECTS, store
from tests.support.slack_requests import sign, slash_command_body
from tests.support.slack_stub import RESPONSE_URL, SlackApiStub

COST_FORMS = {
    "/cost <project>": "{project}",
    "/cost <project> prod 30d": "{project} prod 30d",
    "/cost top 10 30d": "top 10 30d",
    "/cost anomalies": "anomalies",
}

@dataclass(frozen=True)
class Answered:
    ack_ms: float
    answer_ms: float | None  # None: no answer within the timeout
    ok: bool  # an answer, not a warning or the help


def bench_cost(args: argparse.Namespace, workdir: Path) -> None:
    with store(args.db, lines=args.lines, days=args.days) as engine:
        database = engine.url.database
        engine.dispose()
        settings = bench_settings(f"sqlite:///{database}", workdir, args.pace)
        projects = [f"project-{p:03d}" for p in range(min(args.lines, PROJECTS))]
        with SlackApiStub(ts_base=int(time.time())) as stub, \
                running_app(settings, stub) as runtime:
            url = events_url(runtime)
            timings: dict[str, list[Answered]] = {}
            for form, template in COST_FORMS.items():
                samples = []
                for n in range(args.warmup + args.cost_repeat):
                    text = template.format(project=projects[(n * 37) % len(projects)])
                    answered = ask(stub, url, text, timeout=args.answer_timeout)
                    if n >= args.warmup:
                        samples.append(answered)
                timings[form] = samples
            report_cost(timings, target_ms=args.target_answer_ms)


def ask(stub: SlackApiStub, url: str, text: str, *, timeout: float) -> Answered:
    """One /cost from the FinOps channel: ms to the HTTP ack and to the response_url post."""
    response_url = stub.new_response_url()
    body = slash_command_body(text=text, user_id="U0FINOPS", channel_id=FINOPS,
                              response_url=response_url)
    headers = sign(body, SECRET)
    seen = len(stub.calls_to(RESPONSE_URL))
    started = time.monotonic()
    status, _ = send(url, body, headers)
    ack_ms = (time.monotonic() - started) * 1000
    if status != 200:
        return Answered(ack_ms, None, False)
    try:
        calls = stub.wait_for(RESPONSE_URL, count=seen + 1, timeout=timeout)
    except AssertionError:
        return Answered(ack_ms, None, False)
    url_id = response_url.rsplit("/", 1)[-1]
    call = next((c for c in calls[seen:] if c.path.rstrip("/").endswith(url_id)), None)
    if call is None:
        return Answered(ack_ms, None, False)
    answers = stub.responses(response_url)
    reply = str(answers[-1].get("text", "")) if answers else ""
    ok = bool(reply) and ":warning:" not in reply and "Ask about spend with /cost" not in reply
    return Answered(ack_ms, (call.received_at - started) * 1000, ok)


def report_cost(timings: dict[str, list[Answered]], *, target_ms: float) -> None:
    print(f"\n{'form':<28}{'n':>4}{'ack p50':>9}{'ack p95':>9}{'ans p50':>9}{'ans p95':>9}"
          f"{'ans max':>9}{'failed':>8}  target (answer p95)")
    everything = [a for values in timings.values() for a in values]
    early = sum(a.answer_ms is not None and a.answer_ms < a.ack_ms for a in everything)
    for form, values in [*timings.items(), ("overall", everything)]:
        acks = [a.ack_ms for a in values]
        answers = [a.answer_ms for a in values if a.answer_ms is not None]
        failed = sum(not a.ok for a in values)
        p95 = quantile(answers, 0.95) if answers else float("inf")
        verdict = "ok" if p95 <= target_ms and failed == 0 else "MISSED"
        print(f"{form:<28}{len(values):>4}{statistics.median(acks):>9.1f}"
              f"{quantile(acks, 0.95):>9.1f}"
              f"{statistics.median(answers) if answers else float('nan'):>9.1f}{p95:>9.1f}"
              f"{max(answers) if answers else float('nan'):>9.1f}{failed:>8}  "
              f"{verdict} (<= {target_ms:.0f} ms)")
    print("ack: request sent -> HTTP 200; ans: request sent -> the answer's arrival on the "
          f"response_url; {early} of {len(everything)} answers arrived before the ack (Bolt "
          "checks whether ack() was called every 10 ms)")
