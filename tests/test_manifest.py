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
