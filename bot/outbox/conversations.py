"""The conversations a platform can be posted to, and the address of each.

Teams has no fixed API host: each conversation is reached at the ``serviceUrl`` its activities
came from (it differs by region and cloud). The Teams adapter records it when the bot is
installed or added, and from every activity it receives (the newest wins, as Microsoft asks);
the outbox's Teams sender reads it before every send. It lives beside the outbox, which owns
what is sent where, so the chat adapter stays free of the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from storage import queries
from storage.db import session_scope

__all__ = ["Conversation", "ConversationBook"]


@dataclass(frozen=True)
class Conversation:
    conversation_id: str
    service_url: str
    kind: str | None
    name: str | None
    installed: bool  # the bot is (still) a member


class ConversationBook:
    def __init__(self, engine: Engine, *, platform: str) -> None:
        self._engine = engine
        self.platform = platform
        self._known: dict[str, str] = {}  # conversation id -> service url, as last written

    def remember(self, conversation_id: str, *, service_url: str, tenant_id: str | None = None,
                 kind: str | None = None, name: str | None = None, team_id: str | None = None,
                 installed: bool | None = None) -> None:
        """Record where ``conversation_id`` is reached (and whether the bot was just added or
        removed). An activity from a known conversation at the same address writes nothing."""
        if installed is None and self._known.get(conversation_id) == service_url:
            return
        with session_scope(self._engine) as session:
            queries.conversations.save_conversation(
                db_session=session, platform=self.platform, conversation_id=conversation_id,
                service_url=service_url, seen_at=datetime.now(UTC), tenant_id=tenant_id,
                kind=kind, name=name, team_id=team_id, installed=installed)
        self._known[conversation_id] = service_url

    def is_known(self, conversation_id: str, service_url: str) -> bool:
        """Recorded at this address already (in memory: no database, no thread needed)."""
        return self._known.get(conversation_id) == service_url

    def service_url(self, conversation_id: str) -> str | None:
        """Where to send to ``conversation_id`` (a thread's id is its channel's); None when the
        bot never heard from it."""
        base = conversation_id.partition(";messageid=")[0]
        with session_scope(self._engine) as session:
            row = queries.conversations.get_conversation(
                db_session=session, platform=self.platform, conversation_id=base)
            return row.service_url if row is not None else None

    def kind(self, conversation_id: str) -> str | None:
        """``channel``, ``groupChat`` or ``personal``, as Teams said; None when unknown."""
        with session_scope(self._engine) as session:
            row = queries.conversations.get_conversation(
                db_session=session, platform=self.platform,
                conversation_id=conversation_id.partition(";messageid=")[0])
            return row.kind if row is not None else None

    def conversations(self) -> list[Conversation]:
        with session_scope(self._engine) as session:
            return [Conversation(r.conversation_id, r.service_url, r.kind, r.name,
                                 r.installed_at is not None and r.removed_at is None)
                    for r in queries.conversations.list_conversations(
                        db_session=session, platform=self.platform)]
