"""`spendwatch run`: which mode the environment asks for, and the real process in HTTP mode."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import weakref
from pathlib import Path

import pytest

from bot.runner import choose_mode, freeze_startup_heap
from bot.settings import ConfigError
from tests.conftest import REPO
from tests.support.slack_stub import SlackApiStub

BOT, APP, SECRET = "xoxb-1-2-abc", "xapp-1-A1-xyz", "s3cr3t-signing"


@pytest.mark.parametrize(("env", "mode"), [
    ({}, "console"),
    ({"SLACK_BOT_TOKEN": BOT, "SLACK_APP_TOKEN": APP}, "socket"),
    ({"SLACK_BOT_TOKEN": BOT, "SLACK_APP_TOKEN": APP, "SLACK_SIGNING_SECRET": SECRET}, "socket"),
    ({"SLACK_BOT_TOKEN": BOT, "SLACK_SIGNING_SECRET": SECRET}, "http"),
])
def test_the_environment_picks_the_mode(env, mode):
    assert choose_mode(env).name == mode


class _Node:
    partner: _Node | None = None


def test_a_frozen_start_up_heap_still_collects_what_comes_later():
    """Start-up's objects leave the collector's passes; later garbage, cycles included, is
    still freed (the collector is not switched off)."""
    frozen_before = gc.get_freeze_count()
    try:
        freeze_startup_heap()
        assert gc.get_freeze_count() > frozen_before + 10_000  # imports, modules, the ORM

        first, second = _Node(), _Node()
        first.partner, second.partner = second, first  # a cycle: only the collector frees it
        gone = weakref.ref(first)
        del first, second
        gc.collect()
        assert gone() is None
    finally:
        gc.unfreeze()


@pytest.mark.parametrize(("env", "hint"), [
    ({"SLACK_BOT_TOKEN": BOT}, "SLACK_SIGNING_SECRET"),
    ({"SLACK_APP_TOKEN": APP}, "SLACK_BOT_TOKEN"),
    ({"SLACK_BOT_TOKEN": "xoxp-user-token", "SLACK_APP_TOKEN": APP}, "xoxb-"),
    ({"SLACK_BOT_TOKEN": BOT, "SLACK_APP_TOKEN": "xoxb-wrong"}, "xapp-"),
])
def test_an_incomplete_environment_says_what_to_set(env, hint):
    with pytest.raises(ConfigError, match=hint):
        choose_mode(env)


def test_secrets_never_show_in_the_mode():
    mode = choose_mode({"SLACK_BOT_TOKEN": BOT, "SLACK_SIGNING_SECRET": SECRET,
                        "SLACK_API_URL": "http://127.0.0.1:1/api/"})
    assert mode.api_url == "http://127.0.0.1:1/api/"
    assert BOT not in repr(mode) and SECRET not in repr(mode)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_run_in_http_mode_answers_healthz_and_stops_cleanly(tmp_path: Path):
    port = _free_port()
    config = tmp_path / "spendwatch.yml"
    config.write_text(f"database_url: sqlite:///{tmp_path / 'sw.db'}\n")
    with SlackApiStub() as stub:
        env = {**os.environ, "SLACK_BOT_TOKEN": BOT, "SLACK_SIGNING_SECRET": SECRET,
               "SLACK_API_URL": stub.base_url, "SPENDWATCH_LOG_LEVEL": "INFO"}
        env.pop("SLACK_APP_TOKEN", None)
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--config", str(config), "--port", str(port),
             "--host", "127.0.0.1"], cwd=REPO, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        try:
            health = _wait_health(port)
            assert health["ok"] is True
        finally:
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "http mode" in out
    assert BOT not in out + err and SECRET not in out + err, "secrets are never logged"


def _wait_health(port: int) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
                return json.loads(answer.read())
        except OSError:
            time.sleep(0.1)
    raise AssertionError("/healthz never answered")


def test_run_refuses_a_broken_playbook_at_start_with_the_line(tmp_path: Path):
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    (playbooks / "default.yml").write_text("name: default\nsteps: [\n")
    config = tmp_path / "spendwatch.yml"
    config.write_text(f"database_url: sqlite:///{tmp_path / 'sw.db'}\nplaybooks_dir: playbooks\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    result = subprocess.run([sys.executable, "-m", "bot", "run", "--config", str(config)],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    message = result.stderr.replace("\n", "")  # the terminal width wraps long paths
    assert "default.yml, line 3" in message
    assert "Traceback" not in result.stderr


def run_once(config: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`spendwatch run` as a user starts it, expected to stop by itself (refused at start)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SPENDWATCH_"))}
    return subprocess.run([sys.executable, "-m", "bot", "run", "--config", str(config)],
                          cwd=REPO, env={**full, **(env or {})}, capture_output=True, text=True,
                          timeout=60)


def assert_one_line(result: subprocess.CompletedProcess, *expected: str) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for text in expected:
        assert text in lines[0]
    return lines[0]


def test_run_refuses_a_source_that_does_not_exist_in_one_line(tmp_path: Path):
    config = tmp_path / "spendwatch.yml"
    config.write_text(f"database_url: sqlite:///{tmp_path / 'sw.db'}\n"
                      "sources:\n  - path: exports/focus\n")
    line = assert_one_line(run_once(config), "sources.0.path",
                           str(tmp_path / "exports" / "focus"), "no such file or folder")
    assert "correct the path" in line


def _db_config(tmp_path: Path) -> Path:
    config = tmp_path / "spendwatch.yml"
    config.write_text(f"database_url: sqlite:///{tmp_path / 'sw.db'}\n")
    return config


def test_run_without_a_route_to_slack_says_so_in_one_line(tmp_path: Path):
    nowhere = f"http://127.0.0.1:{_free_port()}/api/"  # nothing listens there
    env = {"SLACK_BOT_TOKEN": BOT, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": nowhere}
    result = run_once(_db_config(tmp_path), env)
    line = assert_one_line(result, "Slack did not answer at " + nowhere, "SLACK_API_URL")
    assert "refused" in line.lower()  # the reason: connection refused
    assert BOT not in result.stdout + result.stderr


@pytest.mark.parametrize(("method", "error", "token"), [
    ("auth.test", "invalid_auth", "SLACK_BOT_TOKEN"),
    ("auth.test", "account_inactive", "SLACK_BOT_TOKEN"),
    ("apps.connections.open", "invalid_auth", "SLACK_APP_TOKEN"),
    ("apps.connections.open", "token_revoked", "SLACK_APP_TOKEN"),
])
def test_run_with_a_token_slack_refuses_names_it_in_one_line(tmp_path: Path, method: str,
                                                             error: str, token: str):
    with SlackApiStub() as stub:
        stub.error_next(method, error)
        env = {"SLACK_BOT_TOKEN": BOT, "SLACK_APP_TOKEN": APP, "SLACK_API_URL": stub.base_url}
        result = run_once(_db_config(tmp_path), env)
    line = assert_one_line(result, f"Slack refused {token} ({error}", "start again")
    assert ("xoxb-" if token == "SLACK_BOT_TOKEN" else "connections:write") in line
    assert BOT not in result.stdout + result.stderr and APP not in result.stdout + result.stderr


def test_run_whose_socket_does_not_open_says_so_in_one_line(tmp_path: Path):
    with SlackApiStub() as stub:  # Slack hands out a WebSocket URL where nothing listens
        stub.set_response("apps.connections.open",
                          {"ok": True, "url": f"ws://127.0.0.1:{_free_port()}/link/?ticket=x"})
        env = {"SLACK_BOT_TOKEN": BOT, "SLACK_APP_TOKEN": APP, "SLACK_API_URL": stub.base_url}
        result = run_once(_db_config(tmp_path), env)
    assert_one_line(result, "Socket Mode could not connect", "SLACK_APP_TOKEN")
