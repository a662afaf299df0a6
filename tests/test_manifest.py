"""manifest.yml creates the Slack app in one paste: it must satisfy Slack's own schema."""

import json

import jsonschema
import yaml

from tests.conftest import REPO


def test_manifest_validates_against_the_official_schema(shared_dir):
    schema_path = shared_dir / "schemas" / "slack-manifest" / "schemas_manifest.schema.1.0.0.json"
    schema = json.loads(schema_path.read_text())
    manifest = yaml.safe_load((REPO / "manifest.yml").read_text())
    jsonschema.Draft7Validator(schema).validate(manifest)


def test_manifest_has_the_cost_command_and_socket_mode():
    manifest = yaml.safe_load((REPO / "manifest.yml").read_text())
    commands = [c["command"] for c in manifest["features"]["slash_commands"]]
    assert commands == ["/cost"]
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert {"chat:write", "commands"} <= set(manifest["oauth_config"]["scopes"]["bot"])


def test_every_command_and_event_the_app_listens_to_is_declared():
    from bot.chat.ids import CommandName, EventName

    manifest = yaml.safe_load((REPO / "manifest.yml").read_text())
    commands = {c["command"] for c in manifest["features"]["slash_commands"]}
    assert {c.value for c in CommandName} == commands
    assert {e.value for e in EventName} <= set(manifest["settings"]["event_subscriptions"]
                                               ["bot_events"])
    assert manifest["settings"]["interactivity"]["is_enabled"] is True  # buttons and modals


# Web API methods the bot calls, and the bot scope each needs (Slack's method pages)
METHOD_SCOPES = {
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",
    "chat_getPermalink": None,
    "files_upload_v2": "files:write",
    "conversations_history": "channels:history",
    "conversations_replies": "channels:history",
    "views_open": None,
    "views_publish": None,
    "auth_test": None,
    "apps_connections_open": None,  # with the app-level token (connections:write), at start
}


def test_every_web_api_method_called_has_its_scope():
    import re

    manifest = yaml.safe_load((REPO / "manifest.yml").read_text())
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    source = "".join(p.read_text() for p in (REPO / "bot" / "chat" / "slack").glob("*.py"))
    called = set(re.findall(r'_call\("(\w+)"', source)) | set(
        re.findall(r"client\.(\w+)\(", source))
    unknown = called - set(METHOD_SCOPES)
    assert not unknown, f"add these methods and their scopes to METHOD_SCOPES: {unknown}"
    missing = {m: s for m, s in METHOD_SCOPES.items() if m in called and s and s not in scopes}
    assert not missing, f"manifest.yml lacks scopes for {missing}"
