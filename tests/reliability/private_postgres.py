"""A PostgreSQL cluster of a test's own, for tests that stop, crash and restart the server.

The shared server on 127.0.0.1:5432 serves every other test at the same time, so a test that takes
the database away starts its own: ``initdb`` into a temporary directory and ``pg_ctl start`` on a
free loopback port, with trust authentication and the durability settings left as shipped (fsync
on: what survives a crash is what such a test judges). ``stop(mode="immediate")`` is a crash (no
checkpoint; the next start replays the WAL), ``stop(mode="fast")`` an orderly shutdown that rolls
back open transactions. The binaries refuse to run as root, so as root the cluster belongs to the
``postgres`` OS user and every command runs as that user.

Without the binaries the test is skipped with the reason, unless ``REALTY_REQUIRE_POSTGRES=1``
(then it fails), as ``tests.conftest.require_postgres`` does for the shared server.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Literal

import psycopg
import pytest

from tests.reliability.topology import free_port

BIN_DIRS = (Path("/usr/lib/postgresql/15/bin"), Path("/usr/lib/postgresql/16/bin"), Path("/usr/lib/postgresql/17/bin"))
OS_USER = "postgres"


def find_binaries() -> Path | None:
    """The directory holding initdb and pg_ctl (``REALTY_PG_BIN`` first), or None."""
    given = os.environ.get("REALTY_PG_BIN")
    for directory in ([Path(given)] if given else []) + [*BIN_DIRS]:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    found = shutil.which("pg_ctl")
    return Path(found).parent if found and shutil.which("initdb") else None


def require_binaries() -> Path:
    """The binaries' directory, or skip (fail under ``REALTY_REQUIRE_POSTGRES=1``) with the reason."""
    binaries = find_binaries()
    reason = None
    if binaries is None:
        reason = "no PostgreSQL server binaries (initdb, pg_ctl) for a private cluster"
    elif os.geteuid() == 0:
        try:
            pwd.getpwnam(OS_USER)
        except KeyError:
            reason = f"running as root without a {OS_USER!r} OS user to own a private cluster"
    if reason is not None:
        if os.environ.get("REALTY_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"REALTY_REQUIRE_POSTGRES=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    assert binaries is not None
    return binaries


class PrivatePostgres:
    """``with PrivatePostgres() as pg: pg.url ...``: a cluster on a free port, removed afterwards."""

    def __init__(self, binaries: Path | None = None, *, dbname: str = "realty") -> None:
        self.binaries = binaries or require_binaries()
        self.dbname = dbname
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="realty-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "sockets"
        self.log = self.root / "server.log"
        self._as_other_user = os.geteuid() == 0
        self._initialised = False

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.dbname}"

    def _run(self, *argv: str, timeout: float = 120) -> None:
        command = [str(self.binaries / argv[0]), *argv[1:]]
        if self._as_other_user:
            command = ["runuser", "-u", OS_USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}"
                               f"\n{self.server_log()[-2000:]}")

    def server_log(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def _initdb(self) -> None:
        self.socket_dir.mkdir()
        if self._as_other_user:
            user = pwd.getpwnam(OS_USER)
            for path in (self.root, self.socket_dir):
                os.chown(path, user.pw_uid, user.pw_gid)
        # The private directory must be reachable by its owner only: initdb checks the data dir.
        self._run("initdb", "--pgdata", str(self.data), "--username", "postgres", "--auth=trust",
                  "--encoding=UTF8", "--no-instructions")
        self._initialised = True

    def start(self, timeout: float = 60) -> PrivatePostgres:
        """Start the server (initialising the cluster first time) and wait until it accepts connections."""
        first = not self._initialised
        if first:
            self._initdb()
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.socket_dir} "
                   "-c max_connections=100 -c shared_buffers=16MB")
        self._run("pg_ctl", "start", "--pgdata", str(self.data), "--log", str(self.log), "--wait",
                  f"--timeout={int(timeout)}", "-o", options, timeout=timeout + 10)
        if first:
            with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True,
                                 connect_timeout=10) as conn:
                conn.execute(f'CREATE DATABASE "{self.dbname}"')
        return self

    def stop(self, mode: Literal["smart", "fast", "immediate"] = "fast", timeout: float = 60) -> None:
        """Stop the server: ``fast`` rolls back open transactions and disconnects everyone;
        ``immediate`` kills every server process at once, as a crash does (the next start recovers)."""
        self._run("pg_ctl", "stop", "--pgdata", str(self.data), "--mode", mode, "--wait", f"--timeout={int(timeout)}",
                  timeout=timeout + 10)

    def restart(self, mode: Literal["smart", "fast", "immediate"] = "fast") -> None:
        self.stop(mode)
        self.start()

    @property
    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def close(self) -> None:
        try:
            if self._initialised and self.running:
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PrivatePostgres:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
