"""A local Slack Socket Mode server, so the app's real Socket Mode client runs in tests.

In Socket Mode the app calls ``apps.connections.open`` with its app-level token (``xapp-``),
opens a WebSocket to the URL it gets, and acknowledges each envelope Slack pushes
(``interactive``, ``slash_commands``, ``events_api``) with ``{"envelope_id": ..., "payload":
...optional...}`` on the same socket. This server speaks RFC 6455 (handshake; text, ping, pong
and close frames; client frames masked, server frames not) on 127.0.0.1. slack_sdk's builtin
client skips TLS on any port but 443, so the plain ``ws://`` :attr:`SocketModeStub.url` stands
in for Slack's ``wss://`` one. Like Slack it says ``{"type": "hello", ...}`` first and answers
pings; anything off-protocol from the app lands in :attr:`errors` and fails the ``with`` block.

    with SocketModeStub() as server:
        ...answer apps.connections.open with {"ok": True, "url": server.url}, start the app...
        envelope_id = server.send_envelope("slash_commands", {"command": "/cost", ...})
        assert server.wait_ack(envelope_id, timeout=3) == {"envelope_id": envelope_id}
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import struct
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, BinaryIO

__all__ = ["Connection", "SocketModeStub", "accept_key"]

CONTINUATION, TEXT, CLOSE, PING, PONG = 0x0, 0x1, 0x8, 0x9, 0xA
_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
JsonDict = dict[str, Any]


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key`` (RFC 6455 4.2.2)."""
    return base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()


def _frame(opcode: int, payload: bytes) -> bytes:
    """One final frame as a server sends it: unmasked."""
    size = len(payload)
    if size < 126:
        return struct.pack("!BB", 0x80 | opcode, size) + payload
    if size < 1 << 16:
        return struct.pack("!BBH", 0x80 | opcode, 126, size) + payload
    return struct.pack("!BBQ", 0x80 | opcode, 127, size) + payload


def _take(reader: BinaryIO, size: int) -> bytes:
    data = reader.read(size)
    if len(data) < size:
        raise EOFError
    return data


def _read_frame(reader: BinaryIO) -> tuple[bool, int, bytes]:
    """``(fin, opcode, payload)`` of the client's next frame, unmasked."""
    first, second = _take(reader, 2)
    if not second & 0x80:
        raise ValueError("the client sent an unmasked frame (RFC 6455 5.1)")
    size = second & 0x7F
    if size >= 126:
        (size,) = struct.unpack("!H" if size == 126 else "!Q", _take(reader, size - 124))
    mask = _take(reader, 4)
    return bool(first & 0x80), first & 0x0F, bytes(
        byte ^ mask[i % 4] for i, byte in enumerate(_take(reader, size)))


@dataclass
class Connection:
    """One app connection: its upgrade request (header names lower-case), the pings it sent,
    and how it ended: None while open, ``"close_frame"`` (the app said goodbye), ``"eof"`` (it
    closed the TCP socket), ``"reset"`` (it closed it with frames still unread, so TCP sent a
    reset), ``"server"`` (:meth:`SocketModeStub.close`) or ``"error"``."""

    path: str
    headers: dict[str, str]
    sock: socket.socket = field(repr=False)
    reader: BinaryIO = field(repr=False)
    pings: int = 0
    ended: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def send(self, opcode: int, payload: bytes) -> None:
        with self.lock:
            self.sock.sendall(_frame(opcode, payload))


class SocketModeStub:
    """Slack's Socket Mode WebSocket endpoint on a free port of 127.0.0.1.

    A context manager (or :meth:`start` / :meth:`close`). Envelopes go to the newest open
    connection, as Slack picks one of an app's connections.
    """

    def __init__(self, *, app_id: str = "A0SPENDWT") -> None:
        self.app_id = app_id
        self.ticket = str(uuid.uuid4())
        self._changed = threading.Condition()
        self._connections: list[Connection] = []
        self._sent: set[str] = set()
        self._acks: dict[str, JsonDict] = {}
        self._errors: list[str] = []
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None
        self._closing = False

    def start(self) -> SocketModeStub:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self._spawn(self._accept_loop)
        return self

    def close(self) -> None:
        """Say goodbye (close code 1001) to apps still connected, stop, join every thread."""
        self._closing = True
        for conn in self.connections:
            if conn.ended is None:
                try:
                    conn.send(CLOSE, struct.pack("!H", 1001) + b"server closing")
                    conn.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        for thread in self._threads:
            thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()

    def __enter__(self) -> SocketModeStub:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
        if exc_type is None and self._errors:
            raise AssertionError(f"Socket Mode protocol errors: {self._errors}")

    @property
    def url(self) -> str:
        """What ``apps.connections.open`` answers, shaped like Slack's ``/link/?ticket=...``."""
        assert self._listener is not None, "start the server first"
        port = self._listener.getsockname()[1]
        return f"ws://127.0.0.1:{port}/link/?ticket={self.ticket}&app_id={self.app_id}"

    @property
    def connections(self) -> list[Connection]:
        """Every connection whose handshake succeeded, oldest first."""
        with self._changed:
            return list(self._connections)

    @property
    def errors(self) -> list[str]:
        with self._changed:
            return list(self._errors)

    def _wait(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        with self._changed:
            if not self._changed.wait_for(ready, timeout):
                raise AssertionError(f"{what} within {timeout} s; errors: {self._errors}")

    def wait_connected(self, count: int = 1, timeout: float = 5.0) -> Connection:
        """The ``count``-th connection, once its handshake is done."""
        self._wait(lambda: len(self._connections) >= count, timeout, f"no connection #{count}")
        return self.connections[count - 1]

    def wait_ended(self, conn: Connection, timeout: float = 5.0) -> str:
        """How ``conn`` ended (see :class:`Connection`)."""
        self._wait(lambda: conn.ended is not None, timeout, "the connection did not end")
        return str(conn.ended)

    def wait_ack(self, envelope_id: str, timeout: float = 3.0) -> JsonDict:
        """The app's acknowledgement of ``envelope_id``: ``{"envelope_id": ...}``, with the
        ``payload`` the listener answered if any."""
        self._wait(lambda: envelope_id in self._acks, timeout, f"no ack of {envelope_id}")
        with self._changed:
            return dict(self._acks[envelope_id])

    def send_envelope(self, type_: str, payload: JsonDict, *,
                      accepts_response_payload: bool | None = None) -> str:
        """Push an ``interactive``, ``slash_commands`` or ``events_api`` envelope; its id.

        ``accepts_response_payload`` defaults as Slack sets it: true for slash commands, view
        submissions and option requests."""
        if accepts_response_payload is None:
            accepts_response_payload = type_ == "slash_commands" or payload.get("type") in (
                "view_submission", "block_suggestion")
        envelope_id = str(uuid.uuid4())
        envelope: JsonDict = {"envelope_id": envelope_id, "type": type_, "payload": payload,
                              "accepts_response_payload": accepts_response_payload}
        if type_ == "events_api":
            envelope.update(retry_attempt=0, retry_reason="")
        open_ = [conn for conn in self.connections if conn.ended is None]
        if not open_:
            raise AssertionError("no app is connected to the Socket Mode server")
        with self._changed:
            self._sent.add(envelope_id)
        open_[-1].send(TEXT, json.dumps(envelope).encode())
        return envelope_id

    # -- serving -----------------------------------------------------------------------------

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name="socket-mode-stub", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _fail(self, message: str) -> None:
        with self._changed:
            self._errors.append(message)
            self._changed.notify_all()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._closing:
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            sock.settimeout(5)  # for the handshake
            self._spawn(self._serve, sock)

    def _serve(self, sock: socket.socket) -> None:
        with sock, sock.makefile("rb") as reader:
            try:
                conn = self._handshake(sock, reader)
            except (OSError, ValueError) as error:  # hung up, timed out, or sent nothing
                self._fail(f"handshake failed: {error!r}")
                return
            if conn is not None:
                ended = self._read_loop(conn)
                with self._changed:
                    conn.ended = ended
                    self._changed.notify_all()

    def _handshake(self, sock: socket.socket, reader: BinaryIO) -> Connection | None:
        line, *lines = iter(lambda: reader.readline().decode("latin-1").strip(), "")
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines)}
        target = (line.split(" ") + [""])[1]
        if not (line.startswith("GET /link/?ticket=" + self.ticket)
                and headers.get("upgrade", "").lower() == "websocket"
                and "upgrade" in headers.get("connection", "").lower()
                and headers.get("sec-websocket-version") == "13"
                and headers.get("sec-websocket-key")):
            self._fail(f"bad WebSocket handshake: {line} {headers}")
            sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return None
        sock.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: "
                      f"{accept_key(headers['sec-websocket-key'])}\r\n\r\n").encode())
        sock.settimeout(None)
        conn = Connection(path=target, headers=headers, sock=sock, reader=reader)
        with self._changed:
            self._connections.append(conn)
            live = sum(1 for c in self._connections if c.ended is None)
            self._changed.notify_all()
        conn.send(TEXT, json.dumps({
            "type": "hello", "num_connections": live, "connection_info": {"app_id": self.app_id},
            "debug_info": {"host": "applink-stub", "build_number": 1,
                           "approximate_connection_time": 18060}}).encode())
        return conn

    def _read_loop(self, conn: Connection) -> str:
        """Answer control frames and keep acknowledgements until the connection ends."""
        text = b""
        while True:
            try:
                fin, opcode, data = _read_frame(conn.reader)
                if opcode == PING:
                    conn.pings += 1
                    conn.send(PONG, data)
                elif opcode == CLOSE:
                    conn.send(CLOSE, data[:2])
                    return "close_frame"
                elif opcode in (TEXT, CONTINUATION):
                    text += data
                    if fin:
                        self._received(text.decode())
                        text = b""
                elif opcode != PONG:
                    raise ValueError(f"unexpected opcode {opcode:#x}")
            except (EOFError, OSError) as error:
                if self._closing:
                    return "server"
                if isinstance(error, EOFError | ConnectionResetError):
                    return "eof" if isinstance(error, EOFError) else "reset"
                self._fail(f"connection error: {error!r}")
                return "error"
            except ValueError as error:  # bad frame, bad UTF-8 or bad JSON
                self._fail(str(error))
                conn.send(CLOSE, struct.pack("!H", 1002))
                return "error"

    def _received(self, text: str) -> None:
        message = json.loads(text)
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        with self._changed:
            if envelope_id not in self._sent:
                self._errors.append(f"not an acknowledgement of a sent envelope: {text[:300]}")
            elif envelope_id in self._acks:
                self._errors.append(f"envelope {envelope_id} acknowledged twice")
            else:
                self._acks[envelope_id] = message
            self._changed.notify_all()
