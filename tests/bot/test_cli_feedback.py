"""``spendwatch feedback list|undo``: the feedback in effect, and undoing it, on a real store."""

from __future__ import annotations

import json
from pathlib import Path

from sqlmodel import Session, select
from typer.testing import CliRunner, Result

from bot import cli
from bot.settings import load_settings
from bot.wiring import build_services
from storage.models import AuditLog, LineFeedback
from tests.bot.chat.console.test_chat import SERVICE, add_anomaly


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli.app, ["feedback", *args, "--config", str(config)],
                              env={"COLUMNS": "200"}, catch_exceptions=False)


def store_with_feedback(tmp_path: Path) -> tuple[Path, int]:
    config = tmp_path / "spendwatch.yml"
    config.write_text(json.dumps({"database_url": f"sqlite:///{tmp_path / 'sw.db'}",
                                  "quarantine_dir": str(tmp_path / "q")}))
    services = build_services(load_settings(config))
    try:
        anomaly_id = add_anomaly(services.engine)
        [said] = services.desk().with_operator("U1").not_an_anomaly(
            anomaly_id, user="U1", note="nightly batch")
    finally:
        services.close()
    return config, said.id


def test_list_shows_what_is_in_effect_and_undo_stamps_who_and_is_audited(tmp_path):
    config, feedback_id = store_with_feedback(tmp_path)

    listed = run(config, "list")
    assert listed.exit_code == 0, listed.output
    assert f"#{feedback_id} support-agent · production · {SERVICE} · us-east-1: normal up to " \
           f"$43.00/h" in listed.output
    assert f"Undo: /cost feedback undo {feedback_id}" in listed.output

    undone = run(config, "undo", str(feedback_id), "--by", "alice")
    assert undone.exit_code == 0, undone.output
    assert f"Undid feedback #{feedback_id}: {SERVICE} · us-east-1" in undone.output

    again = run(config, "undo", str(feedback_id), "--by", "bob")
    assert again.exit_code == 1 and "already undone by alice" in again.output
    assert run(config, "list").output.startswith("No feedback in effect")
    services = build_services(load_settings(config))
    with Session(services.engine) as session:
        row = session.get(LineFeedback, feedback_id)
        actions = [(a.actor, a.action) for a in session.exec(select(AuditLog)).all()]
    services.close()
    assert row.undone_by == "alice" and row.undone_at is not None
    assert ("alice", "feedback_undone") in actions


def test_undo_of_an_unknown_id_or_without_a_name_says_what_to_do(tmp_path):
    config, _ = store_with_feedback(tmp_path)

    unknown = run(config, "undo", "99", "--by", "alice")
    assert unknown.exit_code == 1
    assert "feedback #99 does not exist; use /cost feedback" in unknown.output
    nameless = run(config, "undo", "1", "--by", " ")
    assert nameless.exit_code == 2 and "--by is empty" in nameless.output
    missing = CliRunner().invoke(cli.app, ["feedback", "undo", "1", "--config", str(config)])
    assert missing.exit_code == 2 and "--by" in missing.output
