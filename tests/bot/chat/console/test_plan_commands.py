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


def test_marking_expected_at_the_prompt_asks_for_the_plan_with_defaults(engine, settings):
    from tests.bot.chat.console.test_chat import SERVICE, add_anomaly

    anomaly_id = add_anomaly(engine)  # $120 over expected so far
    ends = f"{datetime.now(UTC) + timedelta(days=2):%Y-%m-%d}"
    chat, console = chat_on(engine, settings, f"\n{ends}\nservice\n")

    chat.handle(f"e {anomaly_id} The quarterly load test, booked with FinOps")

    out = flat(console.export_text())
    assert "in all? (none: no plan) [240]" in out
    assert f"or only {SERVICE}? (workload/service) [workload]" in out
    with session_scope(engine) as session:
        [plan] = session.exec(select(Plan)).all()
        assert (plan.anomaly_id, plan.amount_usd, plan.service_name) == (anomaly_id, 240.0,
                                                                         SERVICE)
        assert f"{plan.ends_at:%Y-%m-%d}" == f"{datetime.now(UTC) + timedelta(days=3):%Y-%m-%d}"
