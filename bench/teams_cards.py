"""What drawing a Teams card costs, part by part: the budget a card action spends on the card.

A card action must be answered with the refreshed card (target: p99 under 200 ms for the whole
answer), so this prints, for the pure card side alone: reading the click
(``parse_action`` + ``step_values``), drawing the alert with the open step form
(``alert_card``), compacting the chart (done once per alert update, not per click) and the
schema check (tests and ``teams cards`` only; the bot does not run it per send), with each
card's size.

    .venv/bin/python -m bench.teams_cards [--rounds 300]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from bot.anomaly.chart_image import spend_chart
from bot.chat.teams.cards import alert_card, compact_chart_uri
from bot.chat.teams.schema import validate_card
from bot.chat.teams.verbs import Verb, action_data, parse_action, step_values
from tests.bot.chat.slack import T0, alert_view, runbook_entry, steps
from tests.bot.chat.teams.test_cards import PLAYBOOK, started


def timed(label: str, rounds: int, work: Callable[[], object]) -> None:
    work()  # warm caches (the schema, imports)
    took = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        took.append((time.perf_counter() - start) * 1000)
    p50, p99 = np.percentile(took, [50, 99])
    print(f"{label:<44} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   ({rounds} rounds)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    rounds = parser.parse_args().rounds

    hours = pd.date_range(T0, periods=72, freq="h", tz="UTC")
    expected = 4 + 1.5 * np.sin(np.arange(72) / 24 * 2 * np.pi)
    actual = expected + np.random.default_rng(1).normal(0, 0.3, 72)
    actual[50:] += 8
    png = spend_chart(hours, actual, expected, title="support-agent · prod: hourly spend",
                      started_at=hours[50].to_pydatetime())
    uri = compact_chart_uri(png)
    review = started("review", done=("owner", "what_changed", "stabilise"))
    view = alert_view(playbook=steps(3), last_fix=runbook_entry(3), runbook_entries=2)
    click = {"action": {"type": "Action.Execute", "verb": Verb.STEP_SAVE.value,
                        "data": action_data(Verb.STEP_SAVE, 42, step_id="review")
                        | {"t.checks.guardrail": "true", "r.checks": "booked for Monday"}}}

    timed("read a click (parse_action + step_values)", rounds,
          lambda: step_values(PLAYBOOK.step("review"), parse_action(click).inputs))
    timed("draw the alert with the step form", rounds,
          lambda: alert_card(view, step=review, chart_uri=uri))
    timed("draw the alert, no form", rounds, lambda: alert_card(view, chart_uri=uri))
    timed("compact the chart (once per update)", max(rounds // 10, 5),
          lambda: compact_chart_uri(png))
    card = alert_card(view, step=review, chart_uri=uri)
    timed("schema check (tests and teams cards only)", max(rounds // 10, 5),
          lambda: validate_card(card))
    size = len(json.dumps(card, separators=(",", ":"), ensure_ascii=False).encode())
    print(f"chart PNG {len(png):,} B -> {len(uri or '') * 3 // 4:,} B compacted; "
          f"card with chart and step form {size:,} B")


if __name__ == "__main__":
    main()
