"""Conversations the bot can post to, per platform (``chat_conversation``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from storage.models import ChatConversation

__all__ = ["get_conversation", "list_conversations", "save_conversation"]


def get_conversation(*, db_session: Session, platform: str,
                     conversation_id: str) -> ChatConversation | None:
    return db_session.get(ChatConversation, (platform, conversation_id))


def list_conversations(*, db_session: Session, platform: str) -> Sequence[ChatConversation]:
    statement = (select(ChatConversation).where(col(ChatConversation.platform) == platform)
                 .order_by(col(ChatConversation.conversation_id)))
    return db_session.scalars(statement).all()


def save_conversation(*, db_session: Session, platform: str, conversation_id: str,
                      service_url: str, seen_at: datetime, tenant_id: str | None = None,
                      kind: str | None = None, name: str | None = None,
                      team_id: str | None = None, installed: bool | None = None
                      ) -> ChatConversation:
    """Create or refresh a conversation's address; ``installed`` True/False records the bot
    being added or removed, None leaves that as it was. Known fields are never blanked."""
    row = db_session.get(ChatConversation, (platform, conversation_id))
    if row is None:
        row = ChatConversation(platform=platform, conversation_id=conversation_id,
                               service_url=service_url, seen_at=seen_at)
    row.service_url, row.seen_at = service_url, seen_at
    row.tenant_id = tenant_id or row.tenant_id
    row.kind = kind or row.kind
    row.name = name or row.name
    row.team_id = team_id or row.team_id
    if installed is True:
        row.installed_at, row.removed_at = seen_at, None
    elif installed is False:
        row.removed_at = seen_at
    db_session.add(row)
    return row
