"""The ``changes:`` section of the configuration, and where its secrets come from.

Secrets stay out of the YAML file, as everywhere else: the webhook's shared secret is read from
``SPENDWATCH_CHANGE_SECRET`` (or the file named by ``SPENDWATCH_CHANGE_SECRET_FILE``, for
container secrets mounted as files), the GitHub token from ``GITHUB_TOKEN`` (or the variable
``github_token_env`` names).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from pydantic import Field, field_validator

from bot.config_base import ConfigModel

__all__ = ["CHANGE_SECRET_ENV", "ChangeSettings", "GithubRepo", "change_secret"]

CHANGE_SECRET_ENV = "SPENDWATCH_CHANGE_SECRET"
_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


class GithubRepo(ConfigModel):
    """One repository whose deployments and releases are changes of ``project``.

    ``environment``: the environment every change of this repository is on; when left out, a
    deployment's own ``environment`` (as GitHub names it: ``production``, ``staging``) and
    none for releases. ``service``: the service the changes are on, if one.
    """

    repo: str
    project: str = Field(min_length=1)
    environment: str | None = None
    service: str | None = None
    deployments: bool = True
    releases: bool = True

    @field_validator("repo")
    @classmethod
    def _owner_and_name(cls, value: str) -> str:
        value = value.strip()
        if not _REPO.match(value):
            raise ValueError("must be owner/name, e.g. acme/search-api (no URL, no .git)")
        return value.removesuffix(".git")


class ChangeSettings(ConfigModel):
    """Deploys, releases and config changes recorded as "what changed" for the alerts.

    ``webhook``: serve ``POST /events/change`` (signed with ``SPENDWATCH_CHANGE_SECRET``);
    ``github``: repositories polled every ``poll_minutes`` for deployments and releases
    (``base_url`` for GitHub Enterprise Server: ``https://HOST/api/v3``); ``lookback_days``:
    how far back the first poll of a repository reads; ``window_hours``: an alert lists the
    changes this many hours before its anomaly started (and during it), at most
    ``note_limit`` of them.
    """

    webhook: bool = True
    github: list[GithubRepo] = Field(default_factory=list)
    base_url: str = "https://api.github.com"
    github_token_env: str = "GITHUB_TOKEN"
    poll_minutes: int = Field(default=10, ge=1, le=24 * 60)
    lookback_days: int = Field(default=14, ge=1, le=365)
    window_hours: float = Field(default=24.0, gt=0, le=24 * 14)
    note_limit: int = Field(default=5, ge=1, le=20)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL such as https://api.github.com")
        return value.rstrip("/")


def change_secret(environ: Mapping[str, str] | None = None) -> str | None:
    """The webhook's shared secret, ``SPENDWATCH_CHANGE_SECRET`` (surrounding whitespace
    dropped); None when it is unset. ``SPENDWATCH_CHANGE_SECRET_FILE`` works too: the command
    line reads every ``*_FILE`` secret into its variable at start (``bot.secret_files``)."""
    environ = os.environ if environ is None else environ
    return environ.get(CHANGE_SECRET_ENV, "").strip() or None
