"""The production topology without Docker: several ``realty serve`` and ``realty projector``
processes on one store, each a real process on loopback that a test may kill with SIGKILL.

The store (a scratch PostgreSQL database, or a SQLite file) is opened once in the test process
first: that creates the tables, the keyring and the signing keys every process then shares, and
registers a team whose tokens the load generator uses. The API processes run without the embedded
projector (``REALTY_EMBEDDED_PROJECTOR=false``), as in ``docker-compose.yml``: the projector
processes keep the views.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from service.application import RealtyLedger
from service.settings import load_settings
from tests.conftest import Team, register_team
from tests.e2e.cli import REALTY

ROLES = ("manager", "second_manager", "consultant", "second_consultant", "customer_manager", "service",
         "compliance", "archivist", "admin", "service_account")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Process:
    name: str
    argv: list[str]
    log: Path
    port: int | None = None
    popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        assert self.port is not None
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""


@dataclass
class Topology:
    """API and projector processes on one store; ``start()`` waits until every API is ready."""

    database_url: str
    home: Path
    apis: int = 2
    projectors: int = 2
    extra_env: dict[str, str] = field(default_factory=dict)
    # Settings from secret files (``REALTY_SECRETS_DIR``, as docker-compose.yml mounts them) rather
    # than the environment: the database URL, the master key and the signing key.
    secrets_dir: Path | None = None
    team: Team | None = None
    tokens: dict[str, str] = field(default_factory=dict)
    api_processes: list[Process] = field(default_factory=list)
    projector_processes: list[Process] = field(default_factory=list)

    # --- set-up ---------------------------------------------------------------------------

    def settings_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("REALTY_") or k == "REALTY_MASTER_KEYS"}
        env.update(
            REALTY_DATABASE_URL=self.database_url,
            REALTY_SIGNING_KEYS_DIR=str(self.home / "keys"),
            REALTY_CHECKPOINT_JOURNAL=str(self.home / "checkpoints.jsonl"),
            REALTY_DOCUMENTS_DIR=str(self.home / "documents"),
            REALTY_EXPORTS_DIR=str(self.home / "exports"),
            REALTY_EMBEDDED_PROJECTOR="false",
            REALTY_AUTOMATION_INTERVAL="0",
            # Small pools: several processes share one server's max_connections (100 by default)
            # with the rest of the suite.
            REALTY_POOL_SIZE="2",
            REALTY_POOL_MAX_OVERFLOW="4",
        )
        if self.database_url.startswith("sqlite"):
            env["REALTY_VIEWS_PATH"] = str(self.home / "views.sqlite3")
        if self.secrets_dir is not None:
            for name in ("REALTY_DATABASE_URL", "REALTY_MASTER_KEYS"):
                env.pop(name, None)
            env["REALTY_SECRETS_DIR"] = str(self.secrets_dir)
        env.update(self.extra_env)
        return env

    def secret(self, name: str) -> str:
        assert self.secrets_dir is not None
        return (self.secrets_dir / name).read_text(encoding="utf-8").strip()

    def open_ledger(self) -> RealtyLedger:
        """A ledger in the test process with the same settings as the processes (for checks)."""
        env = self.settings_env()
        overrides = {
            "database_url": self.database_url,
            "signing_keys_dir": Path(env["REALTY_SIGNING_KEYS_DIR"]),
            "checkpoint_journal": Path(env["REALTY_CHECKPOINT_JOURNAL"]),
            "documents_dir": Path(env["REALTY_DOCUMENTS_DIR"]),
            "exports_dir": Path(env["REALTY_EXPORTS_DIR"]),
            "embedded_projector": False,
            "automation_interval": 0,
        }
        if "REALTY_VIEWS_PATH" in env:
            overrides["views_path"] = Path(env["REALTY_VIEWS_PATH"])
        if self.secrets_dir is not None:  # this process reads the same files the processes do
            overrides.update(database_url=self.secret("realty_database_url"),
                             master_keys=self.secret("realty_master_keys"),
                             signing_key_pem=self.secret("realty_signing_key_pem"))
        return RealtyLedger(load_settings(**overrides))  # type: ignore[arg-type]

    def prepare(self) -> None:
        """Create the store, the keys and a team with one token per role."""
        self.home.mkdir(parents=True, exist_ok=True)
        ledger = self.open_ledger()
        try:
            self.team = register_team(ledger)
            for role in ROLES:
                token, _ = ledger.issue_token(self.team.admin, self.team.id(getattr(self.team, role)), label="topology")
                self.tokens[role] = token
        finally:
            ledger.close()

    def start(self, timeout: float = 60) -> Topology:
        if self.team is None:
            self.prepare()
        for i in range(self.projectors):
            self.projector_processes.append(self._process(f"projector-{i}", ["projector", "--no-automations"]))
        for i in range(self.apis):
            port = free_port()
            self.api_processes.append(self._process(
                f"api-{i}", ["serve", "--host", "127.0.0.1", "--port", str(port)], port=port))
        for process in [*self.projector_processes, *self.api_processes]:
            self._spawn(process)
        for process in self.api_processes:
            self.wait_ready(process, timeout)
        return self

    def _process(self, name: str, args: list[str], port: int | None = None) -> Process:
        return Process(name, [str(REALTY), *args], self.home / f"{name}.log", port)

    def _spawn(self, process: Process) -> None:
        with process.log.open("ab") as log:
            process.popen = subprocess.Popen(process.argv, cwd=self.home, env=self.settings_env(),
                                             stdout=log, stderr=subprocess.STDOUT)

    # --- operations ------------------------------------------------------------------------

    @property
    def api_urls(self) -> list[str]:
        return [p.url for p in self.api_processes]

    def wait_ready(self, process: Process, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not process.alive:
                raise AssertionError(f"{process.name} exited: {process.output()[-2000:]}")
            try:
                if httpx.get(f"{process.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{process.name} not ready within {timeout} s: {process.output()[-2000:]}")

    def kill(self, process: Process) -> None:
        """SIGKILL: no shutdown handler runs, as in a power cut or the OOM killer."""
        assert process.popen is not None
        process.popen.send_signal(signal.SIGKILL)
        process.popen.wait(timeout=30)

    def restart(self, process: Process, timeout: float = 60) -> None:
        if process.alive:
            self.kill(process)
        self._spawn(process)
        if process.port is not None:
            self.wait_ready(process, timeout)

    def stop(self) -> None:
        for process in [*self.api_processes, *self.projector_processes]:
            if process.alive:
                assert process.popen is not None
                process.popen.terminate()
        for process in [*self.api_processes, *self.projector_processes]:
            if process.popen is not None:
                try:
                    process.popen.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.popen.kill()
                    process.popen.wait(timeout=30)


@contextmanager
def running(database_url: str, home: Path, **options: object) -> Iterator[Topology]:
    topology = Topology(database_url, home, **options)  # type: ignore[arg-type]
    try:
        yield topology.start()
    finally:
        topology.stop()
