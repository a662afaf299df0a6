"""Queue the weekly digest to the finance channel of each running platform, once per week.

The digest is computed and queued in one transaction: a ``notice`` per platform (the text of
``bot.finance.digest_view.digest_text``) and, where the platform threads uploads (Slack, the
console), a ``chart`` that hangs off it (``payload.after_message``) and goes into its thread
once it is sent. Teams gets the text only: its notices are plain text messages, and a chart
there needs a card of its own.

Once per week: the digest's key (``digest:2026-W48``) is marked in the same transaction
(``storage.queries.digest.claim_digest``), so a second replica, a restart or a second run of
the job queues nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from bot.chat.enums import Platform
from bot.finance.config import WEEKDAYS
from bot.finance.digest import Digest, compute_digest
from bot.finance.digest_view import digest_text
from bot.outbox.enums import Operation
from bot.settings import Settings
from storage.queries import digest as digest_q
from storage.queries import outbox as outbox_q

__all__ = ["Queued", "last_digest_hour", "queue_digest"]

log = logging.getLogger(__name__)

WITHOUT_CHART = (Platform.TEAMS,)


@dataclass(frozen=True)
class Queued:
    """What one attempt came to: the digest, and the platforms it was queued for (none when
    it had been queued before)."""

    digest: Digest
    platforms: tuple[str, ...]

    @property
    def already_sent(self) -> bool:
        return not self.platforms


def last_digest_hour(settings: Settings, now: datetime) -> datetime:
    """The configured digest moment (``finance.digest.day`` at ``hour`` UTC) at or before
    ``now``: the end of the week the newest digest covers."""
    config = settings.finance.digest
    moment = now.replace(hour=config.hour, minute=0, second=0, microsecond=0)
    moment -= timedelta(days=(moment.weekday() - WEEKDAYS.index(config.day)) % 7)
    if moment > now:
        moment -= timedelta(days=7)
    return moment


def queue_digest(*, db_session: Session, settings: Settings, week_ending: datetime,
                 platforms: Sequence[str], now: datetime, what_changed: str | None
                 ) -> Queued:
    """Compute the digest and queue it to each platform's finance channel, unless it was
    queued before (then nothing is queued). ``what_changed``: see ``compute_digest``."""
    digest = compute_digest(db_session=db_session, settings=settings, week_ending=week_ending,
                            what_changed=what_changed)
    targets = [(p, channel) for p in platforms
               for channel in [settings.finance_channel(p)] if channel]
    if not digest_q.claim_digest(db_session=db_session, key=digest.key, now=now, value={
            "week_ending": digest.week_ending.isoformat(), "queued_at": now.isoformat(),
            "platforms": [p for p, _ in targets]}):
        log.info("the digest %s was queued before; not again", digest.key)
        return Queued(digest, ())
    text = digest_text(digest)
    for platform, channel in targets:
        notice = outbox_q.enqueue(db_session=db_session, platform=platform, channel=channel,
                                  operation=Operation.NOTICE, now=now,
                                  payload={"text": text, "digest": digest.key})
        if platform not in WITHOUT_CHART:
            outbox_q.enqueue(db_session=db_session, platform=platform, channel=channel,
                             operation=Operation.CHART, now=now, payload={
                                 "after_message": notice.id, "digest": digest.key,
                                 "week_ending": digest.week_ending.isoformat()})
    log.info("the digest %s is queued for %s", digest.key,
             ", ".join(p for p, _ in targets) or "no platform with a finance channel")
    return Queued(digest, tuple(p for p, _ in targets))
