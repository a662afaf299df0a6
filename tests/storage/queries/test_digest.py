"""The digest's once-a-week mark: it lives and dies with the transaction that queues it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine

from storage.db import session_scope
from storage.queries import digest as digest_q

NOW = datetime(2026, 11, 30, 9, tzinfo=UTC)


def test_a_digest_is_claimed_once(engine: Engine) -> None:
    with session_scope(engine) as session:
        assert digest_q.claim_digest(db_session=session, key="digest:2026-W48",
                                     value={"platforms": ["slack"]}, now=NOW)
    with session_scope(engine) as session:
        assert not digest_q.claim_digest(db_session=session, key="digest:2026-W48", value={},
                                         now=NOW)
        assert digest_q.digest_sent(db_session=session, key="digest:2026-W48") == {
            "platforms": ["slack"]}
        assert digest_q.claim_digest(db_session=session, key="digest:2026-W49", value={},
                                     now=NOW)


def test_a_claim_rolled_back_with_its_transaction_leaves_the_week_unsent(engine: Engine) -> None:
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        assert digest_q.claim_digest(db_session=session, key="digest:2026-W48", value={},
                                     now=NOW)
        raise RuntimeError("the outbox rows could not be written")
    with session_scope(engine) as session:
        assert digest_q.digest_sent(db_session=session, key="digest:2026-W48") is None
