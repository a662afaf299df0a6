"""The `spendwatch` command as a user runs it: a real process, real files, real exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from storage.db import alembic_config, make_engine

REPO = Path(__file__).resolve().parents[2]


def spendwatch(*args: str, cwd: Path, env: dict[str, str] | None = None,
               stdin: str | None = "") -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "SPENDWATCH_CONFIG"}
    full_env.update({"COLUMNS": "200", **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=cwd, env=full_env, input=stdin,
        capture_output=True, text=True, timeout=120,
    )


def write_config(tmp_path: Path, **extra: object) -> Path:
    config = {"database_url": "sqlite:///sw.db", "quarantine_dir": "quarantine", **extra}
    path = tmp_path / "spendwatch.yml"
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


HEADER = ("BillingAccountId,BillingCurrency,BillingPeriodStart,BillingPeriodEnd,ChargePeriodStart,"
          "ChargePeriodEnd,ChargeCategory,BilledCost,EffectiveCost,ServiceName,Tags\n")


def row(hour: str, cost: float, service: str = "Amazon Bedrock", tags: str = "",
        account: str = "ba-1") -> str:
    tag_text = '"' + tags.replace('"', '""') + '"' if tags else ""
    return (f"{account},USD,2026-09-01T00:00:00Z,2026-10-01T00:00:00Z,2026-09-{hour}:00:00Z,"
            f"2026-09-{hour}:59:59Z,"
            f"Usage,{cost},{cost},{service},{tag_text}\n")


@pytest.fixture
def export(tmp_path: Path) -> Path:
    tags = json.dumps({"Project": "support-agent", "env": "Production", "team": "team-support"})
    lines = [HEADER]
    for day in range(1, 15):
        lines.append(row(f"{day:02d}T10", 10.0 + day, tags=tags))
        lines.append(row(f"{day:02d}T10", 5.0, service="Amazon RDS"))  # untagged
    lines.append(row("15T10", "abc"))  # type: ignore[arg-type]
    path = tmp_path / "exports" / "focus.csv"
    path.parent.mkdir()
    path.write_text("".join(lines))
    return path


def test_ingest_prints_a_summary_and_points_at_the_quarantine(tmp_path, export):
    config = write_config(tmp_path)
    result = spendwatch("ingest", str(export.parent), "--config", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "28 rows kept, 1 rejected" in result.stdout
    assert "BilledCost is not a number" in result.stdout
    quarantine = list((tmp_path / "quarantine").glob("*.rejected.csv"))
    assert len(quarantine) == 1
    assert "abc" in quarantine[0].read_text()


def test_costs_table_with_change_and_unallocated_share(tmp_path, export):
    config = write_config(tmp_path)
    env = {"SPENDWATCH_CONFIG": str(config)}
    assert spendwatch("ingest", str(export), cwd=tmp_path, env=env).returncode == 0

    by_project = spendwatch("costs", "--by", "project", "--last", "7d", cwd=tmp_path, env=env)
    assert by_project.returncode == 0, by_project.stderr
    out = by_project.stdout
    # days 8..14 vs 1..7: support-agent 18..24 (147) vs 11..17 (98); RDS 35 vs 35
    assert "support-agent" in out and "$147.00" in out and "$98.00" in out and "+50.0%" in out
    assert "unallocated" in out and "$35.00" in out
    assert "$182.00" in out  # total

    loose = spendwatch("costs", "--unallocated", "--last", "7d", cwd=tmp_path, env=env)
    assert loose.returncode == 0, loose.stderr
    assert "$35.00 of $182.00 (19.2%)" in loose.stdout
    assert "Amazon RDS" in loose.stdout

    by_env = spendwatch("costs", "--project", "support-agent", "--by", "environment",
                        cwd=tmp_path, env=env)
    assert "prod" in by_env.stdout and "Production" not in by_env.stdout


def test_a_config_error_is_one_clear_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("sources:\n  - type: s3\n    path: x\n")
    result = spendwatch("costs", "--config", str(bad), cwd=tmp_path)
    assert result.returncode == 2
    assert "sources.0" in result.stderr and "'s3'" in result.stderr and "focus" in result.stderr
    assert "Traceback" not in result.stderr


def test_garbage_period_and_breakdown_are_explained(tmp_path, export):
    config = write_config(tmp_path)
    env = {"SPENDWATCH_CONFIG": str(config)}
    spendwatch("ingest", str(export), cwd=tmp_path, env=env)
    result = spendwatch("costs", "--last", "fortnight", cwd=tmp_path, env=env)
    assert result.returncode == 2 and "7d, 30d, 24h or mtd" in result.stderr
    result = spendwatch("costs", "--by", "colour", cwd=tmp_path, env=env)
    assert result.returncode == 2 and "service" in result.stderr
    assert "Traceback" not in result.stderr


def test_costs_before_any_ingest_says_what_to_do(tmp_path):
    config = write_config(tmp_path)
    result = spendwatch("costs", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert "spendwatch ingest" in result.stderr


def test_missing_path_fails_clearly(tmp_path):
    config = write_config(tmp_path)
    result = spendwatch("ingest", str(tmp_path / "nope"), "--config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert "no such file or folder" in result.stderr


def test_db_upgrade_reports_the_revision(tmp_path):
    config = write_config(tmp_path)
    result = spendwatch("db", "upgrade", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    head = ScriptDirectory.from_config(alembic_config(make_engine("sqlite://"))).get_current_head()
    assert f"database at revision {head}" in result.stdout


def test_a_usage_error_is_explained_without_a_traceback(tmp_path):
    result = spendwatch("costs", "--no-such-option", cwd=tmp_path)
    assert result.returncode == 2
    assert "No such option" in result.stderr
    assert "Traceback" not in result.stderr


def test_markup_in_tags_is_printed_as_text(tmp_path):
    tags = json.dumps({"project": "[bold red]pwn[/bold red]", "environment": "prod"})
    path = tmp_path / "export.csv"
    path.write_text(HEADER + "".join(row(f"{d:02d}T10", 3.0, tags=tags) for d in range(1, 9)))
    config = write_config(tmp_path)
    env = {"SPENDWATCH_CONFIG": str(config)}
    assert spendwatch("ingest", str(path), cwd=tmp_path, env=env).returncode == 0
    result = spendwatch("costs", "--by", "project", cwd=tmp_path, env=env)
    assert "[bold red]pwn[/bold red]" in result.stdout


def _command_paths() -> list[list[str]]:
    """Every command a user can type, subcommands of groups included (`db upgrade`)."""
    import typer.main

    from bot.cli import app

    paths, groups = [], [([], typer.main.get_command(app))]
    while groups:
        prefix, group = groups.pop()
        for name, command in group.commands.items():
            paths.append([*prefix, name])
            if getattr(command, "commands", None):
                groups.append(([*prefix, name], command))
    return sorted(paths)


@pytest.mark.parametrize("command", [[], *_command_paths()], ids=" ".join)
def test_h_is_help_everywhere_and_flags_read_as_flags(command):
    from typer.testing import CliRunner

    from bot.cli import app

    short, long = (CliRunner().invoke(app, [*command, option]) for option in ("-h", "--help"))
    assert short.exit_code == 0, short.output
    assert short.output == long.output and short.output.startswith("Usage: ")
    assert "<bool>" not in short.output  # a flag takes no value
    assert " / --no-" not in short.output, "a flag reads as one flag, not a pair"
    assert "-h, --help" in short.output


def test_costs_help_lists_unallocated_as_a_flag():
    from typer.testing import CliRunner

    from bot.cli import app

    lines = CliRunner().invoke(app, ["costs", "--help"]).output.splitlines()
    [line] = [line for line in lines if "--unallocated" in line]
    assert line.split()[:2] == ["--unallocated", "Share"]


def test_version_prints_the_installed_version(tmp_path):
    from importlib.metadata import version

    result = spendwatch("--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"spendwatch {version('spendwatch')}\n"
