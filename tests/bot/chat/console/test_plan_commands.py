"""``/cost plan`` and ``/cost plans`` typed at the console prompt, on a real store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from bot.settings import RoutingSettings
from storage.db import session_scope
from storage.models import Plan
from tests.bot.chat.console.test_chat import flat
from tests.bot.chat.console.test_commands import chat_on
from tests.support.cost_points import put_points


def test_the_operator_declares_and_lists_plans_at_the_prompt(engine, settings):
    newest = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    put_points(engine, [{"hour": newest - timedelta(hours=h), "cost": 1.0} for h in range(24)])
    restricted = settings.model_copy(update={"routing": RoutingSettings(
        responders={"team-web": ["U_WEB_ONLY"]})})  # the console's operator counts as FinOps
    chat, console = chat_on(engine, restricted)
    ends = f"{datetime.now(UTC) + timedelta(days=3):%Y-%m-%d}"

    chat.handle("/cost plans")
    chat.handle(f"/cost plan web prod 12k until {ends} launch week")
    chat.handle(f"/cost plan web prod twelve until {ends}")
    chat.handle("/cost plans")

    out = flat(console.export_text())
    assert "No plans in force in the projects you can see." in out
    assert "Plan #1 added: web / prod, $12,000 above normal from " in out
    assert "'twelve' is not an amount" in out
    assert "#1 web / prod · $0.00 of $12,000 used, $12,000.00 left · until " in out
    assert "by sam · launch week" in out
    with session_scope(engine) as session:
        [plan] = session.exec(select(Plan)).all()
        assert (plan.project, plan.created_by, plan.reason) == ("web", "sam", "launch week")
