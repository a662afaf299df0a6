"""``spendwatch playbooks check`` and ``which``, run as a user runs them."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot import cli

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "playbooks"
DOCS = REPO / "docs" / "playbooks.md"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli.app, ["playbooks", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    copy = tmp_path / "playbooks"
    shutil.copytree(SHIPPED, copy)
    return copy


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_check_lists_each_shipped_playbook_with_its_rule_and_the_default_last() -> None:
    code, out, _ = run("check", "--dir", str(SHIPPED))

    assert code == 0
    rows = [line for line in out.splitlines() if line.startswith("│")]
    names = [row.split("│")[1].strip() for row in rows]
    assert names == ["data_movement", "gpu_training", "llm_tokens", "logging", "default"]
    assert "spend: tokens" in rows[2]
    assert "cost_category: Networking, Storage" in rows[0]
    assert "the default" in rows[-1]


def test_a_wrong_key_gives_file_line_and_key(folder: Path) -> None:
    path = folder / "llm_tokens.yml"
    edit(path, "  spend: [tokens]\n", "  spend: [token]\n")
    line = path.read_text(encoding="utf-8").splitlines().index("  spend: [token]") + 1

    code, _, err = run("check", "--dir", str(folder))

    assert code == 1
    assert f"{path}:{line}: match.spend[0]: 'token' matches no kind of spend; use one of: " \
           f"tokens, gpu" in err
    assert "1 problem;" in err


def test_broken_yaml_and_problems_in_several_files_are_all_listed(folder: Path) -> None:
    edit(folder / "logging.yml", "  - id: verbosity\n", "  - id: verbosity\n  bad: [\n")
    edit(folder / "gpu_training.yml", "    title: Owner\n", "    titel: Owner\n")

    code, _, err = run("check", "--dir", str(folder))

    assert code == 1
    gpu = folder / "gpu_training.yml"
    titel = gpu.read_text(encoding="utf-8").splitlines().index("    titel: Owner") + 1
    assert re.search(rf"{re.escape(str(folder / 'logging.yml'))}:\d+: not valid YAML", err)
    assert f"{gpu}:{titel}: steps[0].titel: unknown key 'titel'; did you mean 'title'?" in err
    assert "3 problems;" in err  # the misspelt key, the title now missing, the YAML


def test_check_of_a_missing_folder_says_what_to_do(tmp_path: Path) -> None:
    code, _, err = run("check", "--dir", str(tmp_path / "nope"))

    assert code == 1
    assert "the playbook folder does not exist" in err


def test_the_check_error_shown_in_the_docs_is_the_one_a_user_gets(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown = re.search(r"```console\n(playbooks/llm_tokens\.yml:.*?)\n```",
                      DOCS.read_text(encoding="utf-8"), re.S)
    assert shown is not None
    edit(folder / "llm_tokens.yml", "  spend: [tokens]\n", "  spend: [token]\n")
    monkeypatch.chdir(folder.parent)

    _, _, err = run("check", "--dir", "playbooks")

    assert shown.group(1) in err.splitlines()


def test_which_names_the_playbook_and_why() -> None:
    code, out, _ = run("which", "--dir", str(SHIPPED), "--project", "support-bot",
                       "--environment", "prod", "--kind", "spike",
                       "--category", "AI and Machine Learning", "--service", "OpenAI API",
                       "--unit", "Tokens")

    assert code == 0
    assert out.splitlines()[0] == "llm_tokens: LLM token spend response"
    assert "why: its rule holds (spend: tokens), 1 key(s)" in out
    assert "not gpu_training: spend is 'tokens', not gpu" in out


def test_which_tells_gpu_hours_from_tokens_in_the_same_focus_category() -> None:
    code, out, _ = run("which", "--dir", str(SHIPPED), "--project", "vision",
                       "--environment", "prod", "--kind", "level-shift",
                       "--category", "AI and Machine Learning", "--service", "Amazon SageMaker",
                       "--unit", "Hrs")

    assert code == 0
    assert out.startswith("gpu_training:")


def test_which_without_a_matching_rule_gives_the_default() -> None:
    code, out, _ = run("which", "--dir", str(SHIPPED), "--project", "shop",
                       "--environment", "prod", "--kind", "ramp", "--category", "Databases",
                       "--service", "Amazon RDS")

    assert code == 0
    assert out.startswith("default:")
    assert "no match rule holds, so the default applies" in out


def test_which_refuses_an_unknown_kind_with_the_choices() -> None:
    code, _, err = run("which", "--dir", str(SHIPPED), "--project", "p", "--environment", "e",
                       "--kind", "spikes")

    assert code == 2
    assert "use one of: spike, level-shift, new-spend, off-hours, ramp" in err


def test_a_folder_without_a_default_is_refused(folder: Path) -> None:
    (folder / "default.yml").unlink()

    code, _, err = run("check", "--dir", str(folder))

    assert code == 1
    assert "no default playbook" in err
