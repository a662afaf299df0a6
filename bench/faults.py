"""Fault rounds over real processes: alerts, faults injected, lost and duplicated, per scenario.

Runs the scenarios of ``tests/support/fault_scenarios.py`` (``spendwatch run`` processes on a
real PostgreSQL store, against the local Slack stub) ``--rounds`` times each, with the fault's
moment drawn at random from ``--seed``:

* kill mid-poll: SIGKILL 0 to 6 s after the first poll took its lock (a kill that lands after
  the poll finished is not counted as a fault);
* kill mid-send: the stub holds the 1st to 6th post (or chart) it accepted; SIGKILL while the
  bot waits;
* two replicas, one killed: the same, with two processes sharing the store;
* failing Slack: the mix of 500s, 429s, dropped connections and a failed look-up, shuffled.

Every round gets its own database and stub. PostgreSQL is the tests' throwaway server
(``tests/support/pg_server.py``), or ``SPENDWATCH_TEST_POSTGRES=host:port:user``.

    .venv/bin/python bench/faults.py --rounds 3 --seed 14
    .venv/bin/python bench/faults.py --rounds 1 --only failing
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_postgresql.janitor import DatabaseJanitor  # noqa: E402

from tests.support import fault_scenarios as scenarios  # noqa: E402
from tests.support.fault_rig import FaultRig  # noqa: E402
from tests.support.pg_server import PgProcess, PgServer  # noqa: E402
from tests.support.slack_stub import SlackApiStub  # noqa: E402

Draw = Callable[[random.Random], dict[str, Any]]
SCENARIOS: dict[str, tuple[Callable[..., scenarios.Result], Draw]] = {
    "mid-poll": (scenarios.mid_poll, lambda rng: {"delay": round(rng.uniform(0.0, 6.0), 2)}),
    "mid-send": (scenarios.mid_send, lambda rng: {
        "skip": rng.randrange(6),
        "method": rng.choice(("chat.postMessage", "files.completeUploadExternal"))}),
    "replicas": (scenarios.replicas, lambda rng: {"skip": rng.randrange(6)}),
    "failing": (scenarios.failing_slack, lambda rng: {"seed": rng.randrange(1 << 30)}),
}


@contextmanager
def postgres() -> Iterator[PgServer]:
    configured = os.environ.get("SPENDWATCH_TEST_POSTGRES")
    if configured:
        host, port, user = configured.split(":")
        yield PgServer(host=host, port=int(port), user=user)
        return
    process = PgProcess()
    try:
        yield process.start()
    finally:
        process.stop()


@contextmanager
def fresh_rig(server: PgServer) -> Iterator[FaultRig]:
    name = f"spendwatch_faults_{uuid.uuid4().hex[:10]}"
    janitor = DatabaseJanitor(user=server.user, host=server.host, port=server.port,
                              dbname=name)
    janitor.init()
    url = f"postgresql+psycopg://{server.user}@{server.host}:{server.port}/{name}"
    try:
        with tempfile.TemporaryDirectory(prefix="spendwatch-faults-") as root, \
                SlackApiStub(wall_clock=True) as stub:
            rig = FaultRig(root=Path(root), database_url=url, stub=stub)
            try:
                yield rig
            finally:
                rig.close()
    finally:
        janitor.drop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per scenario")
    parser.add_argument("--seed", type=int, default=14, help="draws the fault moments")
    parser.add_argument("--only", choices=sorted(SCENARIOS), action="append",
                        help="run only this scenario (repeatable)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    rng = random.Random(args.seed)
    names = args.only or list(SCENARIOS)
    totals = {name: [0, 0, 0, 0, 0.0] for name in names}  # alerts, faults, lost, dup, seconds
    problems = 0
    with postgres() as server:
        for round_ in range(1, args.rounds + 1):
            for name in names:
                run, draw = SCENARIOS[name]
                moment = draw(rng)
                started = time.monotonic()
                with fresh_rig(server) as rig:
                    try:
                        result = run(rig, **moment)
                    except AssertionError as failure:  # a wait ran out: say so, go on
                        problems += 1
                        print(f"round {round_} {name:<9} FAILED {moment}: "
                              f"{str(failure).splitlines()[0]}", flush=True)
                        continue
                tally = result.tally
                row = totals[name]
                row[0] += tally.alerts
                row[1] += result.faults
                row[2] += tally.lost
                row[3] += tally.duplicated
                row[4] += time.monotonic() - started
                problems += tally.lost + tally.duplicated + tally.pending + tally.dead
                print(f"round {round_} {name:<9} alerts {tally.alerts} faults {result.faults} "
                      f"lost {tally.lost} duplicated {tally.duplicated} "
                      f"pending {tally.pending} dead {tally.dead} {moment} {result.notes}",
                      flush=True)
    print(f"\n{'scenario':<28}{'rounds':>7}{'alerts':>8}{'faults':>8}{'lost':>6}"
          f"{'duplicated':>12}{'s/round':>9}")
    for name in names:
        alerts, faults, lost, duplicated, seconds = totals[name]
        print(f"{SCENARIO_TITLES[name]:<28}{args.rounds:>7}{alerts:>8}{faults:>8}{lost:>6}"
              f"{duplicated:>12}{seconds / args.rounds:>9.1f}")
    return 1 if problems else 0


SCENARIO_TITLES = {"mid-poll": "SIGKILL mid-poll", "mid-send": "SIGKILL mid-send",
                   "replicas": "two replicas, one killed", "failing": "failing Slack"}


if __name__ == "__main__":
    sys.exit(main())
