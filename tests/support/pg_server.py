"""A throwaway PostgreSQL server for the integration tests.

Not root: pytest-postgresql's own process fixture would do, but one code path is simpler, so
the server is always started here from the installed binaries. Root (CI, containers):
PostgreSQL refuses to run as root, so ``initdb`` and ``pg_ctl`` run as the ``postgres`` system
user that Debian's package creates. ``SPENDWATCH_TEST_POSTGRES`` (host:port:user) points the
tests at a server that is already running instead.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PgServer:
    host: str
    port: int
    user: str
    version: str | None = None


class PgUnavailable(RuntimeError):
    pass


def _bin_dir() -> Path:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    raise PgUnavailable(
        "no PostgreSQL server binaries (pg_ctl) found; install the `postgresql` package"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise PgUnavailable(
            "running as root and there is no `postgres` user to run the server"
        ) from None
    return ["runuser", "-u", "postgres", "--", *command]


class PgProcess:
    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="spendwatch-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self.root.chmod(0o755)

    def start(self) -> PgServer:
        env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
        subprocess.run(
            _as_server_user([str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                             "--auth=trust", "-E", "UTF8", "--no-sync"]),
            check=True, capture_output=True, env=env,
        )
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        subprocess.run(
            _as_server_user([str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options,
                             "-l", str(self.root / "server.log"), "-w", "-t", "60", "start"]),
            check=True, capture_output=True, env=env,
        )
        version = self.bin.parent.name
        return PgServer(host="127.0.0.1", port=self.port, user="postgres", version=version)

    def stop(self) -> None:
        subprocess.run(
            _as_server_user([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast",
                             "-w", "stop"]),
            check=False, capture_output=True,
        )
        shutil.rmtree(self.root, ignore_errors=True)
