"""The ``changes:`` section as a person edits it, and where the webhook's secret comes from."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.changes.config import change_secret
from bot.secret_files import load_secret_files
from bot.settings import ConfigError, parse_settings


def test_a_repository_given_as_a_url_says_what_to_write() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings({"changes": {"github": [
            {"repo": "https://github.com/acme/search", "project": "search"}]}})

    assert "changes.github.0.repo" in str(caught.value)
    assert "owner/name" in str(caught.value)


def test_an_unknown_key_in_the_section_is_named() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings({"changes": {"window_hour": 6}})

    assert "changes.window_hour: unknown key" in str(caught.value)
    assert "window_hours" in str(caught.value)


def test_the_secret_comes_from_the_variable_or_the_file_it_names(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-a-file\n", encoding="utf-8")
    environ = {"SPENDWATCH_CHANGE_SECRET_FILE": str(secret_file)}
    load_secret_files(environ)  # what the command line does at start

    assert change_secret({"SPENDWATCH_CHANGE_SECRET": " plain "}) == "plain"
    assert change_secret(environ) == "from-a-file"
    assert change_secret({}) is None
