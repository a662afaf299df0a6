"""``spendwatch plans add``, ``list`` and ``remove``, run as a user runs them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from bot import cli
from storage.db import make_engine, upgrade
from storage.models import AuditLog, Plan
from tests.support.cost_points import put_points


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A store that has seen spend of support-agent/prod."""
    path = tmp_path / "spendwatch.yml"
    path.write_text(json.dumps({"database_url": f"sqlite:///{tmp_path / 'sw.db'}",
                                "quarantine_dir": str(tmp_path / "quarantine")}))
    engine = make_engine(f"sqlite:///{tmp_path / 'sw.db'}")
    upgrade(engine)
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    put_points(engine, [{"hour": hour, "cost": 2.0, "project": "support-agent",
                         "owner": "team-support"}])
    engine.dispose()
    return path


def run(config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli.app, ["plans", *args, "--config", str(config)])
    return result.exit_code, result.stdout, result.stderr


def rows(config: Path, kind: type) -> list:
    engine = make_engine(f"sqlite:///{config.parent / 'sw.db'}")
    try:
        with Session(engine) as session:
            return list(session.exec(select(kind).order_by(col(kind.id))).all())
    finally:
        engine.dispose()


def day(days: int) -> str:
    return f"{datetime.now(UTC) + timedelta(days=days):%Y-%m-%d}"


def test_a_plan_is_added_listed_and_removed_and_each_step_is_audited(config):
    code, out, err = run(config, "add", "--project", "support-agent", "--environment", "prod",
                         "--amount", "2500", "--until", day(5), "--reason", "load test",
                         "--by", "ana")
    assert (code, err) == (0, "")
    assert out.startswith("Plan #1 added: support-agent / prod, $2,500.00 above normal from ")
    [plan] = rows(config, Plan)
    assert plan.ends_at.date().isoformat() == day(6)  # the --until day is included
    assert (plan.created_by, plan.reason) == ("ana", "load test")

    code, out, _ = run(config, "list", "--format", "json")
    [listed] = json.loads(out)
    assert (listed["id"], listed["state"], listed["used_usd"], listed["left_usd"]) == (
        1, "active", 0.0, 2500.0)

    code, out, _ = run(config, "list")
    assert "support-agent / prod" in out and "load test" in out

    assert run(config, "remove", "1", "--by", "ana")[0] == 0
    assert json.loads(run(config, "list", "--format", "json")[1]) == []
    [gone] = json.loads(run(config, "list", "--all", "--format", "json")[1])
    assert (gone["state"], gone["removed_by"]) == ("removed", "ana")
    code, out, _ = run(config, "remove", "1")
    assert code == 0 and "nothing changed" in out
    assert [(a.actor, a.action) for a in rows(config, AuditLog)] == [
        ("ana", "plan.added"), ("ana", "plan.removed")]


@pytest.mark.parametrize(("args", "says"), [
    (["--amount", "0", "--until", day(3)], "The envelope must be more than 0"),
    (["--amount", "10", "--until", day(3), "--from", day(5)], "before it starts"),
    (["--amount", "10", "--until", day(120)], "at most 90 days"),
    (["--amount", "10", "--until", "soon"], "'soon' is not a date for --until"),
])
def test_bad_terms_are_refused_with_what_to_do_and_nothing_is_stored(config, args, says):
    code, _, err = run(config, "add", "--project", "support-agent", "--environment", "prod",
                       *args)
    assert code == 2
    assert says in " ".join(err.split())
    assert rows(config, Plan) == []


def test_a_project_the_store_never_saw_is_a_warning_and_the_plan_is_kept(config):
    code, out, err = run(config, "add", "--project", "suport-agent", "--environment", "*",
                         "--amount", "10", "--until", day(1))
    assert code == 0
    assert "never seen project 'suport-agent'" in " ".join(err.split())
    assert "suport-agent / every environment" in out
    assert len(rows(config, Plan)) == 1


def test_removing_a_plan_that_does_not_exist_says_how_to_find_one(config):
    code, _, err = run(config, "remove", "7")
    assert code == 2 and "There is no plan #7; `plans list --all`" in err
