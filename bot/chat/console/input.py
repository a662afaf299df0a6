"""What people type in the console chat of ``spendwatch run``: read without holding up a stop.

``spendwatch run`` without Slack settings prints alerts as console cards; this reads the keys
those cards offer, ``help`` and ``/cost …`` from standard input, in a thread of its own, and
hands each line to :class:`~bot.chat.console.commands.ConsoleChat`.

Stopping never waits for a keystroke: the stream's file descriptor is polled with ``select``
and read with ``os.read`` (no buffered reader whose lock a thread could hold at exit), so
Ctrl-C or SIGTERM stop ``run`` at once. Input that is not a terminal is read the same way
(commands can be piped in); at its end (a closed stdin, ``/dev/null`` under a process
manager) reading stops for good, and the console goes on printing alerts.
"""

from __future__ import annotations

import getpass
import io
import logging
import os
import select
import threading
from typing import IO, Any

from rich.console import Console
from rich.markup import escape

from bot.chat.console.chat import ConsoleSender
from bot.chat.console.commands import ConsoleChat
from bot.errors import COMMAND_FAILED, USER_ERRORS, user_message
from bot.outbox.deliverer import Deliverer
from bot.wiring import Services

__all__ = ["ConsoleInput", "LineReader", "console_user", "start_console_input"]

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2


class LineReader:
    """Lines from a stream; ``""`` once it ends or ``stop`` is set, never a wait past that.

    A stream without a file descriptor (``io.StringIO``) is read with its own ``readline``.
    """

    def __init__(self, stream: IO[str] | Any, *, stop: threading.Event,
                 poll: float = POLL_SECONDS) -> None:
        self.echo = not _isatty(stream)  # a terminal shows what is typed; a pipe does not
        self._stream = stream
        self._stop = stop
        self._poll = poll
        self._fd = _fileno(stream)
        self._buffer = b""
        self._ended = False

    def readline(self) -> str:
        if self._fd is None:
            return self._readline_of_stream()
        while b"\n" not in self._buffer and not self._ended:
            if self._stop.is_set():
                return ""
            self._read_some()
        if b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            return line.decode(errors="replace") + "\n"
        rest, self._buffer = self._buffer, b""
        return rest.decode(errors="replace")

    def _read_some(self) -> None:
        assert self._fd is not None
        try:
            ready, _, _ = select.select([self._fd], [], [], self._poll)
            chunk = os.read(self._fd, 4096) if ready else None
        except (OSError, ValueError):  # closed under us
            chunk = b""
        if chunk is not None:
            self._buffer += chunk
            self._ended = chunk == b""

    def _readline_of_stream(self) -> str:
        if self._stop.is_set():
            return ""
        try:
            return str(self._stream.readline())
        except (OSError, ValueError):  # closed, or a test runner's stand-in for stdin
            return ""


def _fileno(stream: Any) -> int | None:
    try:
        fd = stream.fileno()
        select.select([fd], [], [], 0)
        return int(fd)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None


class ConsoleInput:
    """The thread that reads lines and hands them to the chat, until the input ends."""

    def __init__(self, chat: ConsoleChat, reader: LineReader, stop: threading.Event, *,
                 echo: bool) -> None:
        self.chat = chat
        self.reader = reader
        self._stop = stop
        self._echo = echo
        self._thread = threading.Thread(target=self._run, name="console-input", daemon=True)

    def start(self) -> ConsoleInput:
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    @property
    def reading(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            line = self.reader.readline()
            if not line:
                return  # the input ended (or run is stopping): printing goes on
            if self._echo and line.strip():
                self.chat.console.print(f"[dim]» {escape(line.strip())}[/dim]", highlight=False)
            try:
                self.chat.handle(line.strip())
            except EOFError:
                return  # the input ended in the middle of a question
            except Exception as exc:
                if not isinstance(exc, USER_ERRORS):  # a mistyped command is no bug
                    log.exception("console command %r failed", line.strip()[:100])
                text = user_message(exc, otherwise=COMMAND_FAILED)
                self.chat.console.print(f"[red]{escape(text)}[/red]", highlight=False)


def console_user() -> str:
    """Who acts from the console: the login name, else ``console``."""
    try:
        return getpass.getuser() or "console"
    except (KeyError, OSError):  # no user name in a bare container
        return "console"


def start_console_input(*, services: Services, deliverer: Deliverer, console: Console,
                        stream: IO[str] | Any | None) -> ConsoleInput | None:
    """Read ``stream`` (standard input) for the console chat; None when there is none."""
    if stream is None or getattr(stream, "closed", False):
        return None
    sender = deliverer.sender
    stop = threading.Event()
    reader = LineReader(stream, stop=stop)
    terminal = not reader.echo
    chat = ConsoleChat(services=services, console=console, user=console_user(),
                       deliver=lambda: deliverer.drain(timeout=10), lines=reader,
                       newest=lambda: sender.last_anomaly
                       if isinstance(sender, ConsoleSender) else None)
    if terminal:
        console.print("Type a card's key (a, p, s, e, x, r), help, or /cost … and press Enter.",
                      highlight=False)
    return ConsoleInput(chat, reader, stop, echo=not terminal).start()


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, OSError, ValueError):
        return False
