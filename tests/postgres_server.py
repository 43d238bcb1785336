"""A real PostgreSQL server for the tests: initdb into a temporary folder, `postgres` on a
free loopback port, stopped at the end of the session.

The binaries come from ``POSTGRES_BIN`` if set, else from the `pgserver` package (a dev
dependency that ships PostgreSQL 16 in its wheel, so a fresh machine needs nothing more),
else from Debian's ``postgresql`` package. No server is a failure, never a skip: the tests
promise both backends.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.ports import free_port

START_TIMEOUT_S = 60


class NoPostgres(RuntimeError):
    """No PostgreSQL server could be found or started; the message says why."""


def find_binaries() -> Path:
    candidates: list[Path] = []
    if os.environ.get("POSTGRES_BIN"):
        candidates.append(Path(os.environ["POSTGRES_BIN"]))
    # Found without importing it: pgserver's own server manager is not used here.
    spec = importlib.util.find_spec("pgserver")
    if spec is not None and spec.origin is not None:
        candidates.append(Path(spec.origin).parent / "pginstall" / "bin")
    candidates.extend(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True))
    for candidate in candidates:
        if (candidate / "initdb").is_file() and (candidate / "postgres").is_file():
            return candidate
    raise NoPostgres(
        "no PostgreSQL binaries found: install the dev dependencies (pgserver ships them), "
        "or set POSTGRES_BIN to a folder holding initdb and postgres"
    )


def _as_unprivileged() -> tuple[int, int] | None:
    """PostgreSQL refuses to run as root; then it runs as `nobody`."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam("nobody")
    except KeyError as error:
        raise NoPostgres(
            "running as root and there is no user 'nobody' to run PostgreSQL"
        ) from error
    return entry.pw_uid, entry.pw_gid


@dataclass
class PostgresServer:
    bin_dir: Path
    root: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    _count: int = 0

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def database_url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def _run_as(self) -> dict[str, Any]:
        ids = _as_unprivileged()
        if ids is None:
            return {}
        uid, gid = ids

        def demote() -> None:
            os.setgid(gid)
            os.setuid(uid)

        return {"preexec_fn": demote}

    def start(self) -> None:
        data = self.root / "data"
        ids = _as_unprivileged()
        if ids is not None:
            os.chown(self.root, *ids)
        env = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}
        init = subprocess.run(
            [
                str(self.bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--auth=trust",
                "--no-sync",
                "--no-instructions",
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=self.root,
            **self._run_as(),
        )
        if init.returncode != 0:
            raise NoPostgres(f"initdb failed ({init.returncode}): {init.stderr.strip()}")
        self._launch()

    def restart(self) -> None:
        """Stop the server (a fast shutdown: every session is cut) and start it again on
        the same data and port, as an operator's restart or a failover does."""
        self.stop()
        self._launch()

    def _launch(self) -> None:
        data = self.root / "data"
        env = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}
        log = open(self.root / "postgres.log", "ab")  # noqa: SIM115 (lives with the server)
        self.process = subprocess.Popen(
            [
                str(self.bin_dir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(self.port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={self.root}",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self.root,
            **self._run_as(),
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise NoPostgres(f"postgres exited at start: {self.log_tail()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5),
            ):
                if self._ready():
                    return
            time.sleep(0.1)
        raise NoPostgres(f"postgres did not accept connections in {START_TIMEOUT_S} s")

    def _ready(self) -> bool:
        ready = self.bin_dir / "pg_isready"
        if not ready.is_file():
            return True
        probe = subprocess.run(
            [str(ready), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"],
            capture_output=True,
        )
        return probe.returncode == 0

    def new_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        self._count += 1
        name = f"test_{os.getpid()}_{self._count}"
        made = subprocess.run(
            [
                str(self.bin_dir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                name,
            ],
            capture_output=True,
            text=True,
        )
        if made.returncode != 0:
            raise NoPostgres(f"createdb {name} failed: {made.stderr.strip()}")
        return self.database_url(name)

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return (self.root / "postgres.log").read_text(errors="replace")[-2000:]
        return ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    root = Path(tempfile.mkdtemp(prefix="pg-tests-"))
    server = PostgresServer(find_binaries(), root, free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
