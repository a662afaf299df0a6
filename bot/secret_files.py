"""Secrets from files: ``NAME_FILE`` holds the value of ``NAME``.

Kubernetes and Docker secrets arrive as files mounted into the container; environment
variables show up in ``/proc``, crash reports and ``docker inspect``. So every secret the bot
reads from the environment may come from a file instead: when ``NAME`` is unset and
``NAME_FILE`` names a readable file, the file's content, less its trailing newline, becomes
``NAME`` for this process, before anything reads it. The readers downstream do not change.

Which names: the ones the bot knows (:data:`KNOWN`), and any other name ending in
``_TOKEN``, ``_SECRET``, ``_PASSWORD`` or ``_KEY`` (a ``sql`` source's password variable, an
admin key variable renamed in the config). ``AWS_WEB_IDENTITY_TOKEN_FILE`` is the AWS SDK's own
and is left to it. Both ``NAME`` and ``NAME_FILE`` set is refused: one of them is stale.
Errors name the variable and the path, never the content.
"""

from __future__ import annotations

import logging
import os
from collections.abc import MutableMapping
from pathlib import Path

from bot.settings import ConfigError

__all__ = ["KNOWN", "load_secret_files"]

log = logging.getLogger(__name__)

KNOWN = frozenset({
    "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET",
    "TEAMS_CLIENT_ID", "TEAMS_CLIENT_SECRET", "TEAMS_TENANT_ID",
    "OPENAI_ADMIN_KEY", "ANTHROPIC_ADMIN_KEY",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "PGPASSWORD", "GITHUB_TOKEN", "SPENDWATCH_CHANGE_SECRET",
})
SECRET_SUFFIXES = ("_TOKEN", "_SECRET", "_PASSWORD", "_KEY")
LEFT_ALONE = frozenset({"AWS_WEB_IDENTITY_TOKEN"})  # the AWS SDK reads its _FILE itself
MAX_BYTES = 64 * 1024  # a secret, not a file that was mounted by mistake


def load_secret_files(environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Set each ``NAME`` from ``NAME_FILE`` (see the module docstring); the names set."""
    environ = os.environ if environ is None else environ
    loaded = []
    for variable in sorted(environ):
        if not variable.endswith("_FILE"):
            continue
        name = variable.removesuffix("_FILE")
        if name in LEFT_ALONE or not (name in KNOWN or name.endswith(SECRET_SUFFIXES)):
            continue
        if environ.get(name):
            raise ConfigError(f"both {name} and {variable} are set; keep one of them "
                              f"(unset {name} to read it from the file)")
        environ[name] = _read(variable, environ[variable])
        loaded.append(name)
    if loaded:
        log.info("secrets read from files: %s", ", ".join(loaded))
    return loaded


def _read(variable: str, path_text: str) -> str:
    path = Path(path_text)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ConfigError(f"{variable} names {path}, which is over {MAX_BYTES // 1024} KiB: "
                              f"point it at the file that holds only the secret")
        value = path.read_text(encoding="utf-8").rstrip("\r\n")
    except FileNotFoundError:
        raise ConfigError(f"{variable} names {path}, which does not exist; mount the secret "
                          f"there or fix the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise ConfigError(f"{variable} names {path}, which cannot be read ({reason})") from None
    if not value.strip():
        raise ConfigError(f"{variable} names {path}, which is empty; write the secret into it")
    return value
