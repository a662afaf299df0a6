"""`spendwatch runbook export`: one Markdown file per workload, newest entry first."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from bot import cli
from bot.settings import load_settings
from bot.wiring import build_services
from storage.db import session_scope
from storage.models import RunbookEntry

WHEN = datetime(2026, 11, 2, 10, tzinfo=UTC)


def store(tmp_path: Path) -> Path:
    config = tmp_path / "spendwatch.yml"
    config.write_text(json.dumps({"database_url": f"sqlite:///{tmp_path / 'sw.db'}"}))
    services = build_services(load_settings(config))
    answers = [{"step": "what_changed", "title": "What changed", "by": "U1",
                "at": (WHEN - timedelta(hours=1)).isoformat(),
                "fields": [{"label": "Cause", "text": "Logging"},
                           {"label": "Note", "text": "DEBUG <!channel> on\nafter 2.14"}]}]
    with session_scope(services.engine) as session:
        for days, cause in ((0, "DEBUG logging left on"), (7, "Verbose logging again")):
            session.add(RunbookEntry(project="support-agent", environment="prod",
                                     service_name="AmazonCloudWatch", root_cause=cause,
                                     fix="Log level back to INFO", prevention="",
                                     author="priya", created_at=WHEN + timedelta(days=days),
                                     answers=answers))
        session.add(RunbookEntry(project="search/api", environment="prod",
                                 service_name="Vertex AI", root_cause="A new model",
                                 fix="Back to the old tier", prevention="A model review",
                                 author="sam", created_at=WHEN))
    services.close()
    return config


def export(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.app, ["runbook", "export", "--config", str(config), *args],
                                env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_each_workload_gets_a_file_newest_entry_first(tmp_path: Path) -> None:
    config = store(tmp_path)
    status, printed = export(config, "--out", str(tmp_path / "runbooks"))
    assert status == 0, printed
    files = sorted(p.name for p in (tmp_path / "runbooks").iterdir())
    assert files == ["search-api--prod--vertex-ai.md",
                     "support-agent--prod--amazoncloudwatch.md"]
    text = (tmp_path / "runbooks" / files[1]).read_text()
    assert text.startswith("# Runbook: support-agent · prod · AmazonCloudWatch\n")
    assert "2 entries, newest first." in text
    assert text.index("Verbose logging again") < text.index("DEBUG logging left on")
    assert "**Prevention.**" not in text  # none was given
    # the walk's answers, with who and when; a typed tag is text, a line break is a space
    assert ("- **What changed** (by U1, 2026-11-02 09:00 UTC): Cause: Logging; Note: DEBUG "
            "&lt;!channel&gt; on after 2.14") in text
    other = (tmp_path / "runbooks" / files[0]).read_text()
    assert "**Prevention.** A model review" in other and "1 entry, newest first." in other


def test_one_project_and_an_empty_store(tmp_path: Path) -> None:
    config = store(tmp_path)
    status, _ = export(config, "--out", str(tmp_path / "one"), "--project", "search/api")
    assert status == 0
    assert [p.name for p in (tmp_path / "one").iterdir()] == ["search-api--prod--vertex-ai.md"]
    status, printed = export(config, "--out", str(tmp_path / "none"), "--project", "nope")
    assert status == 0 and "No runbook entries of project nope yet" in printed


def test_an_output_that_is_a_file_is_refused(tmp_path: Path) -> None:
    config = store(tmp_path)
    (tmp_path / "taken").write_text("x")
    status, printed = export(config, "--out", str(tmp_path / "taken"))
    assert status == 2 and "is a file; give a folder" in printed


def run(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.app, ["runbook", *args, "--config", str(config)],
                                env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_edit_keeps_the_old_text_and_history_lists_every_version(tmp_path: Path) -> None:
    config = store(tmp_path)

    status, printed = run(config, "edit", "1", "--fix", "INFO, and DEBUG expires after a day",
                          "--by", "sam")
    assert status == 0, printed
    assert "Runbook entry 1 is now v2, edited by sam." in printed

    status, printed = run(config, "history", "1")
    assert status == 0, printed
    assert "support-agent · prod · AmazonCloudWatch" in printed
    now, earlier = printed.split("v1 (by priya")
    assert "v2 (now, edited by sam on" in now and "INFO, and DEBUG expires after a day" in now
    assert "Fix: Log level back to INFO" in earlier

    status, printed = run(config, "edit", "1", "--fix", "INFO, and DEBUG expires after a day",
                          "--by", "sam")
    assert status == 0 and "already says that (v2); nothing changed" in printed


def test_edit_refuses_what_it_cannot_do_in_one_line(tmp_path: Path) -> None:
    config = store(tmp_path)

    for args, words in ((("edit", "1", "--by", "sam"), "say what to change"),
                        (("edit", "1", "--root-cause", " ", "--by", "sam"),
                         "the root cause cannot be empty"),
                        (("edit", "42", "--fix", "x", "--by", "sam"),
                         "runbook entry 42 does not exist"),
                        (("history", "42"), "runbook entry 42 does not exist")):
        status, printed = run(config, *args)
        assert status == 2, printed
        assert words in printed and "Traceback" not in printed
