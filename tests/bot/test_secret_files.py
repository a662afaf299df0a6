"""Secrets mounted as files (Kubernetes, Docker secrets) reach the bot as if they were set."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot.secret_files import load_secret_files
from bot.settings import ConfigError


def test_a_secret_file_sets_its_variable_without_the_trailing_newline(tmp_path):
    (tmp_path / "token").write_text("xoxb-from-a-file\n")
    (tmp_path / "pw").write_text("s3cret")
    environ = {"SLACK_BOT_TOKEN_FILE": str(tmp_path / "token"),
               "WAREHOUSE_PASSWORD_FILE": str(tmp_path / "pw"),  # a sql source's variable
               "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/token",  # the AWS SDK's own
               "SPENDWATCH_CONFIG_FILE": "x.yml"}  # not a secret's name
    assert load_secret_files(environ) == ["SLACK_BOT_TOKEN", "WAREHOUSE_PASSWORD"]
    assert environ["SLACK_BOT_TOKEN"] == "xoxb-from-a-file"
    assert environ["WAREHOUSE_PASSWORD"] == "s3cret"
    assert "AWS_WEB_IDENTITY_TOKEN" not in environ and "SPENDWATCH_CONFIG" not in environ


@pytest.mark.parametrize(("content", "expected"), [
    (None, "does not exist"),
    ("\n", "is empty"),
    ("x" * 70_000, "over 64 KiB"),
])
def test_a_bad_secret_file_is_refused_naming_the_variable_not_the_content(
        tmp_path, content, expected):
    path = tmp_path / "secret"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=expected) as refused:
        load_secret_files({"OPENAI_ADMIN_KEY_FILE": str(path)})
    assert "OPENAI_ADMIN_KEY_FILE" in str(refused.value) and "xxxx" not in str(refused.value)


def test_a_variable_and_its_file_both_set_is_refused(tmp_path):
    (tmp_path / "key").write_text("sk-admin-file")
    with pytest.raises(ConfigError, match="both OPENAI_ADMIN_KEY and OPENAI_ADMIN_KEY_FILE"):
        load_secret_files({"OPENAI_ADMIN_KEY": "sk-admin-env",
                           "OPENAI_ADMIN_KEY_FILE": str(tmp_path / "key")})


def test_the_command_line_reads_secret_files_before_it_reads_the_environment(tmp_path):
    """`spendwatch run` with a Slack token file that holds a user token: the check that the
    token is a bot token sees the file's value, and the error shows no part of it."""
    (tmp_path / "token").write_text("xoxp-a-user-token-not-a-bot-token\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TEAMS_"))}
    env["SLACK_BOT_TOKEN_FILE"] = str(tmp_path / "token")
    done = subprocess.run([sys.executable, "-m", "bot", "run"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "SLACK_BOT_TOKEN must be a bot token starting with xoxb-" in done.stderr
    assert "a-user-token" not in done.stderr + done.stdout
