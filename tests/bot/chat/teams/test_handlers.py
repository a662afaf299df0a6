"""When a card action's change wakes the outbox: after the answers of the moment are given.

The outbox draws and sends the same card for everyone else; run during a burst of clicks it
would take turns with their answers, so the last answer in flight wakes it for all of them
(:class:`bot.chat.teams.handlers.TeamsContext`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.chat.teams import handlers
from bot.chat.teams.handlers import TeamsContext
from bot.settings import Settings
from bot.wiring import build_services


class NoBook:
    def is_known(self, conversation_id: str, service_url: str) -> bool:
        return True

    def remember(self, conversation_id: str, **kw: object) -> None:
        return None


@pytest.fixture
def ctx(tmp_path) -> Iterator[TeamsContext]:
    services = build_services(Settings(database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                                       quarantine_dir=tmp_path / "quarantine"))
    woken: list[int] = []
    context = TeamsContext(services=services, playbook=services.playbooks(), book=NoBook(),
                           wake=lambda: woken.append(1))
    context.woken = woken  # type: ignore[attr-defined]
    yield context
    services.close()


def test_a_change_with_nothing_else_being_answered_wakes_the_outbox_at_once(ctx):
    ctx.changed()
    assert ctx.woken == [1]


def test_the_last_answer_of_a_burst_wakes_the_outbox_once_for_all(ctx):
    with ctx.answering():
        with ctx.answering():
            ctx.changed()
        with ctx.answering():
            ctx.changed()
        assert ctx.woken == [], "answers still in flight"
    assert ctx.woken == [1]
    with ctx.answering():
        pass
    assert ctx.woken == [1], "nothing new to send"


def test_a_stream_of_clicks_never_holds_the_outbox_back_for_long(ctx, monkeypatch):
    monkeypatch.setattr(handlers, "WAKE_AT_LATEST", 0.0)
    with ctx.answering():
        with ctx.answering():
            ctx.changed()
        assert ctx.woken == [1]
