"""Budget alerts: what a budget's news says, and to whom it goes.

:func:`check_budgets` is the scheduler's step after each poll: it evaluates the budgets
(``bot.finance.budgets.evaluate_budgets``, which stores each crossing once) and queues one
message per budget with news, through the outbox like every other message, to the owner's
channel and to the finance channel of each running platform (once when they are the same).

The text is plain (adapters escape it): which budget, which thresholds spend and the forecast
passed, the figures behind them, the burn rate when the budget runs out before its period
ends, and the two commands that answer the obvious next questions.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session

from bot.chat.text import money, when
from bot.finance.budgets import FORECAST_LEVEL, BudgetNews, evaluate_budgets
from bot.finance.config import ALL_ENVIRONMENTS
from bot.outbox.enums import Operation
from bot.settings import Settings
from storage import queries

__all__ = ["budget_text", "check_budgets", "queue_budget_news"]

log = logging.getLogger(__name__)


def _percents(levels: Sequence[float]) -> str:
    names = [f"{level:g} %" for level in levels]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def budget_text(news: BudgetNews) -> str:
    """The alert: the news first, then the figures, then what to do."""
    status = news.status
    budget = status.budget
    head = f"Budget {budget.label} ({budget.period_label}, {money(budget.amount)})"
    said = []
    if news.actual:
        said.append(f"spend passed {_percents(news.actual)}")
    if news.forecast:
        said.append(f"the forecast passed {_percents(news.forecast)}")
    if news.burn:
        spent_out = status.burn is not None and status.burn.hours_left <= 0
        said.append("it is spent" if spent_out else "it runs out before the period ends")
    lines = [f"{head}: {'; '.join(said)}."]
    lines.append(f"Spent {money(status.spent)} ({status.percent_spent:.1f} %) as of "
                 f"{when(status.as_of)}.")
    if status.forecast is not None and status.forecast_low is not None \
            and status.forecast_high is not None and status.percent_forecast is not None:
        lines.append(f"Forecast for the period: {money(status.forecast)} "
                     f"({status.percent_forecast:.1f} %; {FORECAST_LEVEL * 100:.0f} % interval "
                     f"{money(status.forecast_low)} to {money(status.forecast_high)}).")
    if status.burn is not None:
        burn = status.burn
        if burn.hours_left > 0:
            lines.append(f"At the last 24 hours' rate ({money(burn.hourly_rate)} an hour) this "
                         f"budget is gone in {burn.hours_left:.0f} hours, by "
                         f"{when(burn.runs_out_at)}.")
    environment = "" if budget.environment == ALL_ENVIRONMENTS else f" {budget.environment}"
    lines.append(f"Owner: {news.owner}. See `/cost {budget.project}{environment} mtd`; FinOps "
                 f"can change it with `/cost budget set {budget.project} "
                 f"{budget.environment} AMOUNT`.")
    return "\n".join(lines)


def queue_budget_news(*, db_session: Session, settings: Settings, news: Sequence[BudgetNews],
                      platforms: tuple[str, ...], now: datetime) -> int:
    """Queue each budget's news to its owner's and the finance channel on each platform;
    returns how many messages were queued."""
    queued = 0
    for item in news:
        text = budget_text(item)
        for platform in platforms:
            channels = [settings.routing.channel_for(item.owner, platform, platforms),
                        settings.finance_channel(platform)]
            for channel in dict.fromkeys(c for c in channels if c):
                queries.outbox.enqueue(
                    db_session=db_session, platform=platform, channel=channel,
                    operation=Operation.NOTICE, now=now,
                    payload={"text": text, "budget": item.status.budget.key})
                queued += 1
        log.info("budget %s: %s", item.status.budget.key, text.splitlines()[0])
    return queued


def check_budgets(*, db_session: Session, settings: Settings, platforms: tuple[str, ...],
                  now: datetime) -> int:
    """Evaluate every active budget and queue what is news; returns the messages queued."""
    news = evaluate_budgets(db_session=db_session, settings=settings, now=now)
    return queue_budget_news(db_session=db_session, settings=settings, news=news,
                             platforms=platforms, now=now)
