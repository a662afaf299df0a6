"""The Teams app package a Teams admin uploads: ``manifest.json`` and two icons, zipped.

The manifest follows Microsoft's app manifest schema 1.19, vendored in ``schemas/`` (see
``schemas/SOURCE.md``) and checked before anything is written, so a package that Teams would
refuse is never produced. The schema declares draft-04 but uses ``const`` (for
``manifestVersion``), which Microsoft's own validators honour; the check here does too.

The bot is offered in teams, group chats and personal chat, takes no files, and lists the
cost lookups people can type. Its id is the Azure Bot registration's Microsoft App ID (the
``TEAMS_CLIENT_ID`` the bot signs in with); the app's own id is derived from it, so rebuilding
the package for the same bot updates the installed app instead of adding a second one.

The icons are drawn here with Pillow (a rising bar chart: colour on an accent tile, and white
on transparent for the outline Teams tints), and the zip has fixed timestamps, so the same
inputs give the same bytes.
"""

from __future__ import annotations

import io
import json
import re
import uuid
import zipfile
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator, Draft6Validator, validators

from bot.chat.teams.schema import load_packaged_json

__all__ = [
    "ACCENT",
    "COMMANDS",
    "MANIFEST_SCHEMA_FILE",
    "MANIFEST_VERSION",
    "PackageError",
    "build_manifest",
    "build_package",
    "check_bot_id",
    "draw_icons",
    "validate_manifest",
]

MANIFEST_VERSION = "1.19"
MANIFEST_SCHEMA_FILE = "MicrosoftTeams.schema-1.19.json"
MANIFEST_SCHEMA_URL = ("https://developer.microsoft.com/json-schemas/teams/v1.19/"
                       "MicrosoftTeams.schema.json")
ACCENT = "#1F6F5C"
SCOPES = ["team", "personal", "groupChat"]
# what people can type to the bot, as Teams suggests it (title at most 32 characters)
COMMANDS = (
    ("cost help", "What the bot answers, and how to ask"),
    ("cost top", "The projects that spent the most in the last 7 days"),
    ("cost anomalies", "The spend anomalies going on now"),
    ("cost <project>", "Spend of a project: cost <project> [environment] [7d|30d|mtd]"),
    ("cost runbook <project>", "What fixed this project's spend anomalies before"),
)
# the app id is derived from the bot id in this namespace (uuid5), so it is stable per bot
APP_NAMESPACE = uuid.UUID("6f1c2d3e-8a4b-5c6d-9e0f-1a2b3c4d5e6f")
_GUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_SEMVER = re.compile(r"(\d+)\.(\d+)\.(\d+)")
_DOMAIN = re.compile(r"(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                     r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*(:\d{1,5})?")
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class PackageError(ValueError):
    """The package cannot be built as asked; the message says what to change."""


def check_bot_id(value: str | None, *, source: str = "--app-id or TEAMS_CLIENT_ID") -> str:
    """The bot's Microsoft App ID, lower-cased; refused when missing or not a GUID."""
    if value is None or not value.strip():
        raise PackageError(
            f"no bot id: give the Azure Bot registration's Microsoft App ID with {source} "
            "(a GUID such as 00000000-0000-0000-0000-000000000000)")
    bot_id = value.strip()
    if not _GUID.fullmatch(bot_id):
        shown = bot_id if len(bot_id) <= 40 else bot_id[:39] + "…"
        raise PackageError(
            f"{shown!r} from {source} is not a GUID; the Microsoft App ID of the Azure Bot "
            "registration looks like 00000000-0000-0000-0000-000000000000")
    return bot_id.lower()


def _version(version: str) -> str:
    found = _SEMVER.match(version)
    if found is None:
        raise PackageError(f"version {version!r} does not start with major.minor.patch; "
                           "Teams needs a version such as 1.2.3")
    return ".".join(str(int(part)) for part in found.groups())


def _domains(domains: Sequence[str]) -> list[str]:
    checked = []
    for domain in domains:
        name = domain.strip()
        if not _DOMAIN.fullmatch(name):
            raise PackageError(f"{domain!r} is not a domain; give the host name only, such as "
                               "spendwatch.example.com (no https://, no path)")
        checked.append(name.lower())
    return list(dict.fromkeys(checked))


def build_manifest(*, bot_id: str, version: str, domains: Sequence[str] = (),
                   website_url: str | None = None) -> dict[str, Any]:
    """The app manifest for the bot ``bot_id`` (checked with :func:`check_bot_id`).

    ``domains`` become ``validDomains`` (the bot's public host); the developer links point to
    ``website_url``, else to the first domain.
    """
    bot = check_bot_id(bot_id)
    hosts = _domains(domains)
    site = website_url or (f"https://{hosts[0].removeprefix('*.')}" if hosts else None)
    if site is None or not site.lower().startswith("https://"):
        raise PackageError("Teams wants https links for the publisher: give --domain (the "
                           "bot's public host) or --website-url https://…")
    return {
        "$schema": MANIFEST_SCHEMA_URL,
        "manifestVersion": MANIFEST_VERSION,
        "version": _version(version),
        "id": str(uuid.uuid5(APP_NAMESPACE, bot)),
        "developer": {"name": "spendwatch", "websiteUrl": site, "privacyUrl": site,
                      "termsOfUseUrl": site},
        "name": {"short": "spendwatch", "full": "spendwatch: AI and cloud spend anomalies"},
        "description": {
            "short": "Spend anomaly alerts, the response playbook and cost lookups in Teams",
            "full": ("spendwatch watches AI and cloud spend hour by hour and posts an alert to "
                     "the owning team when it jumps. Acknowledge, snooze, mark as expected or "
                     "escalate from the card, walk the response playbook step by step, and read "
                     "what fixed it last time. Ask the bot: cost <project>, cost top, cost "
                     "anomalies, cost runbook <project>, cost help."),
        },
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": ACCENT,
        "bots": [{
            "botId": bot,
            "scopes": list(SCOPES),
            "supportsFiles": False,
            "isNotificationOnly": False,
            "commandLists": [{
                "scopes": list(SCOPES),
                "commands": [{"title": t, "description": d} for t, d in COMMANDS],
            }],
        }],
        "validDomains": hosts,
    }


@lru_cache(maxsize=1)
def _manifest_validator() -> Any:
    schema = load_packaged_json(MANIFEST_SCHEMA_FILE)
    with_const = validators.extend(
        Draft4Validator, {"const": Draft6Validator.VALIDATORS["const"]})
    with_const.check_schema(schema)
    return with_const(schema)


def validate_manifest(manifest: dict[str, Any]) -> list[str]:
    """What the 1.19 schema refuses in ``manifest``, one line each (``[]`` when valid)."""
    found = sorted(_manifest_validator().iter_errors(manifest),
                   key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{_where(e.absolute_path) or 'manifest'}: {e.message}" for e in found]


def _where(path: Sequence[object]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def draw_icons() -> dict[str, bytes]:
    """``color.png`` (192x192, bars on the accent tile) and ``outline.png`` (32x32, white on
    transparent), as Teams asks for them."""
    from PIL import Image, ImageDraw

    color = Image.new("RGBA", (192, 192), ACCENT)
    _bars(ImageDraw.Draw(color), size=192, fill=(255, 255, 255, 255), spike=(255, 196, 61, 255))
    outline = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    _bars(ImageDraw.Draw(outline), size=32, fill=(255, 255, 255, 255),
          spike=(255, 255, 255, 255))
    return {"color.png": _png(color), "outline.png": _png(outline)}


def _bars(draw: Any, *, size: int, fill: tuple[int, ...], spike: tuple[int, ...]) -> None:
    """Four even bars and a tall last one: spend, then the spike."""
    unit = size / 16
    heights = (4, 5, 4, 5, 11)
    for index, height in enumerate(heights):
        left = round(unit * (2 + index * 2.5))
        right = round(left + unit * 1.5)
        top = round(unit * (14 - height))
        draw.rectangle((left, top, right, round(unit * 14)),
                       fill=spike if index == len(heights) - 1 else fill)


def _png(image: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def build_package(out: Path, *, bot_id: str, version: str, domains: Sequence[str] = (),
                  website_url: str | None = None) -> dict[str, Any]:
    """Write the zip at ``out`` (its folder must exist); returns the manifest written.

    The manifest is validated first: a refused one raises :class:`PackageError` naming every
    problem, and nothing is written.
    """
    manifest = build_manifest(bot_id=bot_id, version=version, domains=domains,
                              website_url=website_url)
    problems = validate_manifest(manifest)
    if problems:
        raise PackageError("the manifest does not pass Microsoft's schema "
                           f"{MANIFEST_VERSION}: " + "; ".join(problems))
    if not out.parent.is_dir():
        raise PackageError(f"cannot write {out}: the folder {out.parent} does not exist")
    files = {"manifest.json": (json.dumps(manifest, indent=2) + "\n").encode(), **draw_icons()}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[name])
    out.write_bytes(buffer.getvalue())
    return manifest
