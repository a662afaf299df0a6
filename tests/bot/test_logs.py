"""Log lines as text or as JSON objects, as ``spendwatch --log-format`` sets them up."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from bot.logs import configure_logging


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_time_level_logger_message_and_the_traceback(
        capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="info", fmt="json")
    log = logging.getLogger("bot.outbox.deliverer")
    log.info("outbox %s sent", 7)
    try:
        raise ValueError("a bad row")
    except ValueError:
        log.exception("source %s could not be ingested", "demo")
    logging.getLogger("bot.debug").debug("not at this level")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(line["level"], line["logger"], line["message"]) for line in lines] == [
        ("INFO", "bot.outbox.deliverer", "outbox 7 sent"),
        ("ERROR", "bot.outbox.deliverer", "source demo could not be ingested")]
    assert lines[0]["time"].startswith("20") and "exception" not in lines[0]
    assert "ValueError: a bad row" in lines[1]["exception"]


def test_text_stays_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="WARNING")
    logging.getLogger("bot.web").warning("refused a request")
    line = capsys.readouterr().err.strip()
    assert line.endswith("WARNING bot.web: refused a request")
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


@pytest.mark.parametrize(("options", "hint"), [
    ({"fmt": "xml"}, "text, json"),
    ({"level": "LOUD"}, "DEBUG, INFO, WARNING, ERROR"),
])
def test_an_unknown_format_or_level_names_the_choices(options: dict[str, str],
                                                      hint: str) -> None:
    with pytest.raises(ValueError, match=hint):
        configure_logging(**options)


def test_the_command_refuses_an_unknown_log_format_in_one_line(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    monkeypatch.setenv("SPENDWATCH_LOG_FORMAT", "xml")
    monkeypatch.setattr("sys.argv", ["spendwatch", "costs"])
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "log format 'xml' is not one of: text, json" in err and "Traceback" not in err


@pytest.mark.parametrize("how", ["option", "environment"])
def test_a_user_error_is_one_json_line_when_logs_are_json(
        how: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        tmp_path) -> None:
    """A collector reading standard error gets the command's own error as an object too."""
    from bot.cli import main

    missing = tmp_path / "nowhere.csv"
    argv = ["spendwatch", "ingest", str(missing)]
    if how == "option":
        argv[1:1] = ["--log-format", "json"]
    else:
        monkeypatch.setenv("SPENDWATCH_LOG_FORMAT", "json")
    monkeypatch.chdir(tmp_path)  # the default store, if one were opened, lands here
    monkeypatch.setattr("sys.argv", argv)
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 2
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert lines and lines[-1]["level"] == "ERROR"
    assert lines[-1]["message"].startswith("error: ") and "nowhere.csv" in lines[-1]["message"]


def _run_main(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    from bot.cli import main

    monkeypatch.setattr("sys.argv", ["spendwatch", *argv])
    with pytest.raises(SystemExit) as stopped:
        main()
    return int(stopped.value.code or 0)


@pytest.mark.parametrize(("argv", "code", "words"), [
    (["feedback", "undo", "1", "--by", " "], 2, "error: --by is empty"),
    (["runbook", "export", "--out", "{file}"], 2, "is a file; give a folder"),
    (["plans", "add", "--project", "p", "--environment", "prod", "--amount", "5",
      "--until", "2000-01-01"], 2, "which has passed; give a date in the future"),
    (["playbooks", "check", "--dir", "{broken}"], 1, "not valid YAML"),
])
def test_each_command_refuses_in_json_when_logs_are_json(
        argv: list[str], code: int, words: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    """Not only the errors that reach the entry point: a subcommand's own refusals (and the
    lines of a playbook check) are objects too, so no line of standard error is left as text."""
    file = tmp_path / "a-file"
    file.write_text("x")
    broken = tmp_path / "playbooks"
    broken.mkdir()
    (broken / "default.yml").write_text("name: [\n", encoding="utf-8")
    argv = [a.format(file=file, broken=broken) for a in argv]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SPENDWATCH_CONFIG", raising=False)

    assert _run_main(["--log-format", "json", *argv], monkeypatch) == code
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in err.splitlines()]  # every line an object
    assert lines and all(line["level"] == "ERROR" and line["logger"] == "bot.cli"
                         for line in lines)
    assert any(words in line["message"] for line in lines)

    assert _run_main(argv, monkeypatch) == code  # and the same words as text by default
    text = capsys.readouterr().err
    assert words in " ".join(text.split()) and not text.lstrip().startswith("{")
