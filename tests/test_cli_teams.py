"""`spendwatch teams package` and `spendwatch teams cards` as people run them.

The cards come from a real walk of the demo anomaly through the desk, so this also checks that
every state of the walk draws a card the Adaptive Cards 1.5 schema accepts, within the size
Teams takes.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot import cli, cli_teams
from bot.chat.teams.cards import CARD_BUDGET_BYTES
from bot.chat.teams.package import validate_manifest
from bot.chat.teams.schema import validate_card
from bot.teams_samples import SampleCard

BOT = "1b2c3d4e-1111-2222-3333-444455556666"
runner = CliRunner()


@pytest.fixture(scope="module")
def cards_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cards") / "cards"
    result = runner.invoke(cli.app, ["teams", "cards", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Wrote 20 cards" in result.output
    return out


def test_teams_cards_writes_one_valid_card_per_state_and_step(cards_dir):
    index = json.loads((cards_dir / "index.json").read_text())["cards"]
    names = [entry["file"] for entry in index]
    assert sorted(p.name for p in cards_dir.glob("*.json")) == sorted([*names, "index.json"])
    for wanted in ("new", "acknowledged", "snooze", "snoozed", "escalated", "step-1-owner",
                   "step-2-what-changed", "step-2-what-changed-errors", "step-3-stabilise",
                   "step-4-review", "step-4-review-errors", "step-5-document", "resolved",
                   "runbook", "expected-panel", "expected-errors", "expected",
                   "back-to-normal", "cost-answer", "help"):
        assert any(name[3:] == f"{wanted}.json" for name in names), wanted
    for name in names:
        card = json.loads((cards_dir / name).read_text())
        assert validate_card(card) == [], name
        compact = json.dumps(card, ensure_ascii=False, separators=(",", ":")).encode()
        assert len(compact) <= CARD_BUDGET_BYTES, name


def read(cards_dir: Path, slug: str) -> str:
    (path,) = [p for p in cards_dir.glob("*.json") if p.name[3:] == f"{slug}.json"]
    return path.read_text()


def test_the_walk_shows_what_happened_at_each_step(cards_dir):
    assert "Not acknowledged yet" in read(cards_dir, "new")
    assert "data:image/png;base64," in read(cards_dir, "new")
    assert "👀 Acknowledged by priya@example.com" in read(cards_dir, "acknowledged")
    assert "💤 Snoozed until" in read(cards_dir, "snoozed")
    assert "🚨 Escalated" in read(cards_dir, "escalated")
    refused = read(cards_dir, "step-2-what-changed-errors")
    assert "Required when" in refused and '"color": "Attention"' in refused
    assert "Say a little more" in read(cards_dir, "step-4-review-errors")
    resolved = read(cards_dir, "resolved")
    assert "✅ Resolved" in resolved and "Runbook entry filed" in resolved
    assert '"verb": "ack"' not in resolved and '"verb": "runbook"' in resolved
    assert "📖 Runbook: support" in read(cards_dir, "runbook")
    assert "Reason: Load test of the new agent release" in read(cards_dir, "expected")
    assert "Back to normal: auto-resolved" in read(cards_dir, "back-to-normal")
    answer = read(cards_dir, "cost-answer")
    assert "support-agent" in answer and '"fontType": "Monospace"' in answer


def test_a_card_failing_the_schema_stops_the_command_with_its_name(tmp_path, monkeypatch):
    broken = SampleCard("01-broken", "a card with a typo",
                        {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "Txt"}]})
    monkeypatch.setattr(cli_teams, "sample_cards", lambda: [broken])
    result = runner.invoke(cli.app, ["teams", "cards", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "01-broken.json does not pass the Adaptive Cards 1.5 schema: body[0]" in \
        " ".join(result.output.split())
    assert not (tmp_path / "01-broken.json").exists()


def test_teams_package_builds_a_valid_package(tmp_path, monkeypatch):
    monkeypatch.setenv("TEAMS_CLIENT_ID", BOT)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli.app, ["teams", "package", "--domain", "bot.example.com"])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(tmp_path / "spendwatch-teams.zip") as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert validate_manifest(manifest) == [] and manifest["bots"][0]["botId"] == BOT


@pytest.mark.parametrize(("env", "args", "says"), [
    ({}, [], "no bot id"),
    ({"TEAMS_CLIENT_ID": "secret-looking"}, [], "from TEAMS_CLIENT_ID is not a GUID"),
    ({"TEAMS_CLIENT_ID": BOT}, ["--app-id", "bot"], "from --app-id is not a GUID"),
])
def test_teams_package_refuses_a_missing_or_malformed_bot_id(tmp_path, monkeypatch, env, args,
                                                            says):
    monkeypatch.delenv("TEAMS_CLIENT_ID", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "x.zip"
    result = runner.invoke(cli.app, ["teams", "package", "--out", str(out), "--domain",
                                     "bot.example.com", *args])
    assert result.exit_code == 2
    assert says in " ".join(result.output.split())
    assert not out.exists()


def test_teams_conversations_lists_what_the_bot_joined_and_how_each_is_routed(tmp_path):
    from bot.chat.enums import Platform
    from bot.outbox.conversations import ConversationBook
    from bot.settings import load_settings
    from bot.wiring import build_services

    config = tmp_path / "spendwatch.yml"
    config.write_text(
        f"database_url: sqlite:///{tmp_path / 'sw.db'}\n"
        "routing:\n  teams:\n    owners: {team-support: '19:support@thread.tacv2'}\n"
        "    default: '19:finops@thread.tacv2'\n")
    runner = CliRunner()
    empty = runner.invoke(cli.app, ["teams", "conversations", "--config", str(config)])
    assert empty.exit_code == 0 and "not been added" in empty.output
    services = build_services(load_settings(config))
    book = ConversationBook(services.engine, platform=Platform.TEAMS)
    book.remember("19:support@thread.tacv2", service_url="https://smba.example/amer/",
                  kind="channel", name="support-alerts", installed=True)
    book.remember("19:other@thread.tacv2", service_url="https://smba.example/amer/",
                  kind="channel", installed=False)
    services.close()
    shown = runner.invoke(cli.app, ["teams", "conversations", "--config", str(config)],
                          env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    lines = {line.split()[1]: line for line in shown.output.splitlines()
             if "@thread" in line}
    assert "owner team-support" in lines["19:support@thread.tacv2"]
    assert "yes" in lines["19:support@thread.tacv2"]
    assert "no" in lines["19:other@thread.tacv2"]
