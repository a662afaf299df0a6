"""The Teams app package: a manifest Microsoft's schema accepts, the icons Teams asks for, and
refusals that say what to change."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from PIL import Image

from bot.chat.teams.package import (
    COMMANDS,
    PackageError,
    build_manifest,
    build_package,
    check_bot_id,
    draw_icons,
    validate_manifest,
)

BOT = "1B2C3D4E-1111-2222-3333-444455556666"


def manifest(**overrides: object) -> dict[str, object]:
    return build_manifest(**{"bot_id": BOT, "version": "0.1.0",  # type: ignore[arg-type]
                             "domains": ["spendwatch.example.com"], **overrides})


def test_the_manifest_passes_the_1_19_schema_and_offers_the_bot_everywhere():
    built = manifest()
    assert validate_manifest(built) == []
    assert built["manifestVersion"] == "1.19" and built["version"] == "0.1.0"
    (bot,) = built["bots"]  # type: ignore[misc]
    assert bot["botId"] == BOT.lower()
    assert bot["scopes"] == ["team", "personal", "groupChat"] and bot["supportsFiles"] is False
    titles = [c["title"] for c in bot["commandLists"][0]["commands"]]
    assert titles == ["cost help", "cost top", "cost anomalies", "cost <project>",
                      "cost runbook <project>"]
    assert built["validDomains"] == ["spendwatch.example.com"]
    assert built["developer"]["websiteUrl"] == "https://spendwatch.example.com"  # type: ignore[index]


def test_the_app_id_is_stable_for_a_bot_and_differs_between_bots():
    assert manifest()["id"] == manifest()["id"]
    other = manifest(bot_id="2b2c3d4e-1111-2222-3333-444455556666")
    assert other["id"] != manifest()["id"]


def test_the_schema_check_catches_what_teams_would_refuse():
    broken = manifest()
    broken["manifestVersion"] = "1.18"
    broken["bots"][0]["scopes"] = ["teams"]  # type: ignore[index]
    broken["name"] = {"short": "x" * 31, "full": "spendwatch"}
    problems = validate_manifest(broken)
    assert "manifestVersion: '1.19' was expected" in problems
    assert any(p.startswith("bots[0].scopes[0]: 'teams' is not one of") for p in problems)
    assert any(p.startswith("name.short:") and "too long" in p for p in problems)
    assert len(COMMANDS) <= 10 and all(len(t) <= 32 and len(d) <= 128 for t, d in COMMANDS)


@pytest.mark.parametrize(("value", "says"), [
    (None, "no bot id"), ("  ", "no bot id"), ("my-bot", "'my-bot' from"),
    ("1b2c3d4e-1111-2222-3333-44445555666", "is not a GUID"),
])
def test_a_missing_or_malformed_bot_id_is_refused_with_what_it_should_look_like(value, says):
    with pytest.raises(PackageError, match=says) as refused:
        check_bot_id(value, source="TEAMS_CLIENT_ID")
    assert "00000000-0000-0000-0000-000000000000" in str(refused.value)


@pytest.mark.parametrize(("overrides", "says"), [
    ({"domains": ["https://spendwatch.example.com/api"]}, "host name only"),
    ({"domains": []}, "--domain"),
    ({"domains": [], "website_url": "http://plain.example.com"}, "https"),
    ({"version": "next"}, "major.minor.patch"),
])
def test_other_bad_options_are_refused_with_what_to_give(overrides, says):
    with pytest.raises(PackageError, match=says):
        manifest(**overrides)


def test_a_local_version_is_cut_to_the_three_numbers_teams_reads():
    assert manifest(version="1.4.0.dev3+g1234")["version"] == "1.4.0"


def test_the_icons_are_the_sizes_teams_asks_for_and_the_outline_is_white_on_transparent():
    icons = draw_icons()
    color = Image.open(io.BytesIO(icons["color.png"]))
    outline = Image.open(io.BytesIO(icons["outline.png"])).convert("RGBA")
    assert color.format == "PNG" and color.size == (192, 192)
    assert outline.size == (32, 32)
    pixels = {colour for _, colour in outline.getcolors() or []}
    assert pixels == {(0, 0, 0, 0), (255, 255, 255, 255)}
    assert draw_icons() == icons  # drawn the same every time


def test_the_package_holds_the_manifest_and_icons_and_is_the_same_bytes_each_time(tmp_path):
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    build_package(first, bot_id=BOT, version="0.1.0", domains=["spendwatch.example.com"])
    build_package(second, bot_id=BOT, version="0.1.0", domains=["spendwatch.example.com"])
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        written = json.loads(archive.read("manifest.json"))
        assert archive.read("color.png") == draw_icons()["color.png"]
    assert written == manifest()
    assert written["icons"] == {"color": "color.png", "outline": "outline.png"}


def test_nothing_is_written_when_the_folder_is_missing(tmp_path):
    with pytest.raises(PackageError, match="does not exist"):
        build_package(tmp_path / "nope" / "x.zip", bot_id=BOT, version="0.1.0",
                      domains=["spendwatch.example.com"])
    assert not (tmp_path / "nope").exists()
