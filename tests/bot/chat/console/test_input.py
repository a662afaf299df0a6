"""`spendwatch run` without Slack: the console reads the keys its cards offer, help and /cost.

Through the real process, as a person or a process manager runs it: commands piped into
standard input, SIGTERM while standard input is still open, and standard input at its end.
"""

from __future__ import annotations

import io
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bot.chat.console.input import LineReader
from bot.demodata import write_demo_data

SPENDWATCH = Path(sys.executable).parent / "spendwatch"


class Run:
    """``spendwatch run`` in console mode on demo data, its output read as it comes."""

    def __init__(self, tmp_path: Path, *, stdin: int) -> None:
        write_demo_data(tmp_path / "data")
        config = tmp_path / "spendwatch.yml"
        config.write_text(f"database_url: sqlite:///{tmp_path / 'sw.db'}\n"
                          f"sources:\n  - path: {tmp_path / 'data'}\n")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("SLACK_") and k != "SPENDWATCH_CONFIG"}
        env.update(COLUMNS="160", PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            [str(SPENDWATCH), "run", "--config", str(config)], cwd=tmp_path, env=env,
            stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.out = ""
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.out)
            if found:
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{pattern!r} never printed; got:\n{self.out[-3000:]}")
            try:
                self.out += self._lines.get(timeout=min(left, 1.0))
            except queue.Empty:
                if self.process.poll() is not None:
                    raise AssertionError(f"run ended early:\n{self.out[-3000:]}") from None

    def type(self, *lines: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("".join(f"{line}\n" for line in lines))
        self.process.stdin.flush()

    def stop(self) -> tuple[int, float, str]:
        """SIGTERM; the exit status, how long it took, and standard error."""
        began = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        _, err = self.process.communicate(timeout=20)
        return self.process.returncode, time.monotonic() - began, err


@pytest.fixture
def run_with_a_pipe(tmp_path):
    running = Run(tmp_path, stdin=subprocess.PIPE)
    yield running
    running.process.kill()
    running.process.communicate(timeout=20)


def test_the_console_answers_the_keys_its_card_offers(run_with_a_pipe):
    run = run_with_a_pipe
    card = run.wait_for(r"anomaly (\d+) · #C0FINOPS · console-1")
    assert "[a]cknowledge  [p]laybook  [s]nooze  [e]xpected  [x] escalate" in run.out

    run.type("help")
    run.wait_for("Keys, as the cards offer them")
    run.type("/cost help")
    run.wait_for(r"/cost anomalies open anomalies, newest first")
    run.type("a")
    run.wait_for(r"Status: Acknowledged by \S+")
    run.type("/cost anomalies")
    run.wait_for(r"Open anomalies \(1, newest first\)")
    run.type(f"p {card.group(1)}", "priya", "", "12")
    # a logging incident walks the logging playbook: its first cause is verbose logging
    run.wait_for("12 is not one of the choices; type a number from 1 to 7.")
    run.type("1", "DEBUG on since the release", "1", "LOG_LEVEL back to INFO", *["y"] * 6,
             "Debug logging left on", "INFO again", "Release check on log level")
    run.wait_for("finished the playbook")
    run.type("r")
    run.wait_for(r"What was done: LOG_LEVEL back to INFO")

    status, took, err = run.stop()  # standard input is still open: it must not hold run up
    assert status == 0, err
    assert took < 10
    assert "responsible priya" in run.out and "Traceback" not in err


def test_without_input_the_console_prints_and_waits_without_spinning(tmp_path):
    run = Run(tmp_path, stdin=subprocess.DEVNULL)  # as under a process manager
    try:
        run.wait_for(r"anomaly \d+ · #C0FINOPS · console-1")
        time.sleep(2)  # the alert's chart and thread are still being drawn just after it
        busy = _cpu_seconds(run.process.pid)
        time.sleep(3)
        if busy is not None:
            assert _cpu_seconds(run.process.pid) - busy < 1.0  # idle, not reading EOF again
    finally:
        status, took, err = run.stop()
    assert status == 0, err
    assert took < 10


def _cpu_seconds(pid: int) -> float | None:
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        return None
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_stopping_does_not_wait_for_a_line():
    read, write = os.pipe()
    stop = threading.Event()
    with os.fdopen(read) as stream, os.fdopen(write, "w") as typing:
        reader = LineReader(stream, stop=stop, poll=0.05)
        typing.write("a\nhel")
        typing.flush()
        assert reader.readline() == "a\n"
        threading.Timer(0.2, stop.set).start()
        began = time.monotonic()
        assert reader.readline() == ""  # half a line typed, nobody presses Enter
        assert time.monotonic() - began < 2


def test_the_end_of_the_input_is_the_end_of_reading():
    read, write = os.pipe()
    os.write(write, b"a\nlast line without newline")
    os.close(write)
    with os.fdopen(read) as stream:
        reader = LineReader(stream, stop=threading.Event())
        lines = [reader.readline() for _ in range(4)]
    assert lines == ["a\n", "last line without newline", "", ""]
    assert reader.echo  # a pipe is not a terminal: what was read is shown after the prompt
    assert LineReader(io.StringIO("x\n"), stop=threading.Event()).readline() == "x\n"
