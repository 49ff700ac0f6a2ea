"""Shared fixtures: one scenario body runs on a real SQLite file and on a real PostgreSQL.

PostgreSQL comes from ``REALTY_TEST_DATABASE_URL`` or ``postgresql://postgres@127.0.0.1:5432/test``.
When it does not answer, its tests are skipped with a one-line reason, except under
``REALTY_REQUIRE_POSTGRES=1`` (CI), where that is a failure. Tests share the database and keep
apart by using fresh ids.
"""

from __future__ import annotations

import contextlib
import functools
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

# Imported lazily below, so the unit tests (no I/O) still load when the service layer is broken.
if TYPE_CHECKING:
    from service.application import Acting, RealtyLedger

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"

# The shared PostgreSQL database has one keyring, so every test process (and every server or CLI a
# test starts, which inherits the environment) uses this master key unless a test sets its own.
TEST_MASTER_KEYS = "1:" + "cmVhbHR5LWxlZGdlciB0ZXN0IG1hc3RlciBrZXkgITE="  # 32 fixed bytes, tests only
os.environ.setdefault("REALTY_MASTER_KEYS", TEST_MASTER_KEYS)


def pytest_configure(config: pytest.Config) -> None:
    """Start every run on an empty shared PostgreSQL database (in the controller, before workers):
    what an earlier run (or an older version of the code) left there is never read."""
    if hasattr(config, "workerinput") or os.environ.get("REALTY_TEST_KEEP_DATABASE") == "1":
        return
    try:
        import psycopg

        with psycopg.connect(postgres_url(), connect_timeout=3, autocommit=True) as conn:
            conn.execute("DROP SCHEMA IF EXISTS realty_read CASCADE")
            conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
            conn.execute("CREATE SCHEMA public")
            conn.execute("GRANT ALL ON SCHEMA public TO public")
    except Exception:  # noqa: BLE001 - no server: the PostgreSQL tests say so themselves
        return


def postgres_url() -> str:
    return os.environ.get("REALTY_TEST_DATABASE_URL") or DEFAULT_PG_URL


@functools.cache
def postgres_unavailable_reason() -> str | None:
    import psycopg

    from service.settings import load_settings

    url = postgres_url()
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as e:
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return f"PostgreSQL at {load_settings(database_url=url).database.describe()} did not answer: {first_line}"
    return None


def require_postgres() -> str:
    reason = postgres_unavailable_reason()
    if reason:
        if os.environ.get("REALTY_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"REALTY_REQUIRE_POSTGRES=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    return postgres_url()


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return require_postgres()
    return f"sqlite:///{tmp_path / 'realty.sqlite3'}"


@pytest.fixture(params=BACKENDS)
def own_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store nobody else writes to: a SQLite file, or a scratch PostgreSQL database dropped after
    the test (for tests that judge the whole log, such as verification and tampering)."""
    if request.param != "postgres":
        yield f"sqlite:///{tmp_path / 'realty.sqlite3'}"
        return
    with scratch_postgres_database() as url:
        yield url


@contextlib.contextmanager
def scratch_postgres_database() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database beside the shared one, dropped afterwards."""
    from urllib.parse import urlsplit, urlunsplit

    import psycopg
    from psycopg.sql import SQL, Identifier

    shared = require_postgres()
    name = f"realty_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(shared, autocommit=True) as conn:  # CREATE DATABASE refuses transactions
        conn.execute(SQL("CREATE DATABASE {}").format(Identifier(name)))
    try:
        yield urlunsplit(urlsplit(shared)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(shared, autocommit=True) as conn:
            conn.execute(SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(Identifier(name)))


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[RealtyLedger]:
    from service.application import RealtyLedger
    from service.settings import load_settings

    # Signing keys of the test's own (never the checkout's var/keys, shared by parallel workers).
    ledger = RealtyLedger(load_settings(database_url=database_url, signing_keys_dir=tmp_path / "keys"))
    try:
        yield ledger
    finally:
        ledger.close()


@dataclass(frozen=True)
class Team:
    """A team of one of each role, registered through the application, as ``Acting`` identities."""

    name: str
    manager: Acting
    second_manager: Acting
    consultant: Acting
    second_consultant: Acting
    customer_manager: Acting
    service: Acting
    compliance: Acting
    archivist: Acting
    admin: Acting
    service_account: Acting

    def id(self, member: Acting) -> str:
        return str(member.staff_id)


def register_team(app: RealtyLedger, name: str = "浦东一组") -> Team:
    from service.application import Acting

    system = Acting.system()

    def add(person: str, role: str) -> Acting:
        return Acting(app.register_staff(system, name=person, role=role, team=name).id)

    return Team(
        name=name,
        manager=add("王建国", "sales_manager"),
        second_manager=add("陈丽华", "sales_manager"),
        consultant=add("张伟", "property_consultant"),
        second_consultant=add("刘洋", "property_consultant"),
        customer_manager=add("李娜", "customer_manager"),
        service=add("赵敏", "customer_service"),
        compliance=add("孙强", "compliance_officer"),
        archivist=add("周静", "archivist"),
        admin=add("吴刚", "administrator"),
        service_account=add("报表服务", "service_account"),
    )


@pytest.fixture
def team(app: RealtyLedger) -> Team:
    return register_team(app)
