"""The fault scenarios, shared by ``tests/bot/test_run_faults.py`` and ``bench/faults.py``.

Each takes a fresh :class:`~tests.support.fault_rig.FaultRig` (its own database and stub) and
the moment or mix of its faults, runs real bot processes through them, waits until the outbox
has nothing left to send and returns what people saw (:class:`Result`): the test asserts on
it with fixed moments, the bench runs it many times with random ones.

* :func:`mid_poll`: SIGKILL while the first poll holds its lock (ingesting or detecting), at
  ``delay`` seconds into it; restart.
* :func:`mid_send`: the stub keeps a post it accepted and holds the answer; SIGKILL while the
  bot waits; release; new hours arrive that resolve every incident; restart. The new process
  must find the post instead of posting again, then send the charts, updates and replies.
* :func:`replicas`: two processes start together on one store; the stub holds a post of one
  of them, which is then killed; the other sends everything, the held post once.
* :func:`failing_slack`: 500s, 429s with Retry-After, connections dropped before and after
  Slack did the work, and a failing look-up, shuffled over the run.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from tests.support.fault_rig import FaultRig, Tally, wait_until
from tests.support.fault_story import SPIKING, write_calm_hours

__all__ = ["ALERT_ROWS", "FOUND_AGAIN", "Result", "failing_slack", "mid_poll", "mid_send",
           "replicas"]

ALERT_ROWS = 2 * len(SPIKING)  # a post and a chart per alert
RESOLVE_ROWS = 2 * len(SPIKING)  # an update and a reply per alert when it resolves
# seconds for a start, a poll and the sends: about 30 on an idle 2-core machine, three times
# that when five people share it; only a failure waits this long
WAIT = 240.0
FOUND_AGAIN = "had arrived before a failure; not sent again"


@dataclass
class Result:
    scenario: str
    tally: Tally
    faults: int  # faults that hit the bot: kills, failed or dropped calls
    notes: dict[str, object] = field(default_factory=dict)


def _finish(rig: FaultRig, scenario: str, faults: int, *, operations: int,
            **notes: object) -> Result:
    wait_until(lambda: rig.outbox_done(operations=operations), timeout=WAIT,
               what=f"{scenario}: the outbox sent everything\n{rig.logs()}")
    return Result(scenario, rig.tally(), faults, dict(notes))


def mid_poll(rig: FaultRig, *, delay: float = 0.0) -> Result:
    bot = rig.start("a")
    wait_until(rig.polling, timeout=WAIT, what=f"the first poll begins\n{rig.logs()}")
    time.sleep(delay)
    was_polling = rig.polling()
    bot.kill()
    # the kill counts only when it cut the poll short: nothing queued yet, or still polling
    cut = was_polling and rig.count("alert") < len(SPIKING)
    rig.start("a")
    return _finish(rig, "kill mid-poll", int(cut), operations=ALERT_ROWS, cut=cut)


def mid_send(rig: FaultRig, *, skip: int = 2, method: str = "chat.postMessage") -> Result:
    gate = rig.stub.hold_next(method, skip=skip)
    bot = rig.start("a")
    gate.wait_arrived(WAIT)
    bot.kill()
    gate.release()
    write_calm_hours(rig.exports, skus=rig.skus)
    again = rig.start("a")
    result = _finish(rig, "kill mid-send", 1, operations=ALERT_ROWS + RESOLVE_ROWS)
    result.notes["found_again"] = again.output().count(FOUND_AGAIN)
    return result


def replicas(rig: FaultRig, *, skip: int = 2) -> Result:
    gate = rig.stub.hold_next("chat.postMessage", skip=skip)
    bots = [rig.start("a"), rig.start("b")]
    gate.wait_arrived(WAIT)
    holder = next(bot for bot in bots if bot.token == gate.token)
    survivor = next(bot for bot in bots if bot is not holder)
    holder.kill()
    gate.release()
    result = _finish(rig, "two replicas, one killed", 1, operations=ALERT_ROWS)
    senders = {call.headers.get("authorization", "").removeprefix("Bearer ")
               for call in rig.stub.calls_to("chat.postMessage") if call.status == 200}
    result.notes.update(
        senders=len(senders), survivor_alive=survivor.alive(),
        found_again=survivor.output().count(FOUND_AGAIN),
        polls_skipped=sum(bot.output().count("another replica is polling") for bot in bots))
    return result


def failing_slack(rig: FaultRig, *, seed: int = 0) -> Result:
    """Queue the mix in a shuffled order; every fault must have hit the bot by the end."""
    stub = rig.stub
    injections = [
        lambda: stub.fail_next("chat.postMessage", status=500),
        lambda: stub.fail_next("chat.postMessage", status=429, retry_after=1),
        lambda: stub.fail_next("chat.postMessage", status=502, body="<html>Bad Gateway</html>"),
        lambda: stub.fail_next("chat.postMessage", drop=True),
        lambda: stub.fail_next("files.completeUploadExternal", status=503),
        lambda: stub.fail_next("files.completeUploadExternal", drop=True),
        lambda: stub.fail_next("conversations.history", status=500),
    ]
    after = [
        lambda: stub.drop_after_next("chat.postMessage", skip=1),
        lambda: stub.drop_after_next("chat.postMessage", skip=1),
        lambda: stub.drop_after_next("files.completeUploadExternal", skip=1),
    ]
    random.Random(seed).shuffle(injections)
    for inject in injections + after:
        inject()
    bot = rig.start("a")
    result = _finish(rig, "failing Slack", 0, operations=ALERT_ROWS)
    failed = [call for call in stub.calls if call.status is None or call.status >= 400]
    result.faults = len(failed)
    result.notes.update(queued=len(injections) + len(after),
                        found_again=bot.output().count(FOUND_AGAIN))
    return result
