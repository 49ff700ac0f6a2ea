"""The projector's command line as a real process: status, rebuild, a one-off catch-up, and a
PostgreSQL role that reads the stable SQL views and nothing else."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from service.application import RealtyLedger
from service.demo import load_demo
from tests.e2e.cli import realty
from tests.integration.views_support import open_ledger


@pytest.fixture
def store(own_database_url: str, tmp_path: Path) -> Iterator[tuple[str, dict[str, str], RealtyLedger]]:
    ledger = open_ledger(own_database_url, tmp_path)
    load_demo(ledger, customers=8, seed=4)
    env = {"REALTY_SIGNING_KEYS_DIR": str(tmp_path / "keys"), "REALTY_VIEWS_PATH": str(tmp_path / "views.sqlite3")}
    try:
        yield own_database_url, env, ledger
    finally:
        ledger.close()


def status(url: str, env: dict[str, str]) -> dict[str, object]:
    result = realty("projections", "status", "--json", database_url=url, extra_env=env)
    assert result.returncode == 0, result.stderr
    parsed: dict[str, object] = json.loads(result.stdout)
    return parsed


def test_status_shows_each_view_unbuilt_then_caught_up_after_a_one_off_run(
        store: tuple[str, dict[str, str], RealtyLedger]) -> None:
    url, env, ledger = store
    before = status(url, env)["views"]
    assert all(v["state"] == "not_built" and v["lag"] == ledger.event_count() for v in before.values())  # type: ignore[union-attr, index]
    ran = realty("projector", "--once", database_url=url, extra_env=env)
    assert ran.returncode == 0, ran.stderr
    assert "caught up" in ran.stdout
    after = status(url, env)
    assert after["head"]["position"] == ledger.log_head()  # type: ignore[index]
    assert {(v["state"], v["lag"], v["position"]) for v in after["views"].values()} == {  # type: ignore[union-attr]
        ("active", 0, ledger.log_head())}
    table = realty("projections", "status", database_url=url, extra_env=env)
    assert table.returncode == 0 and "pipeline" in table.stdout


def test_rebuild_fills_a_new_generation_and_swaps_it_in(store: tuple[str, dict[str, str], RealtyLedger]) -> None:
    url, env, ledger = store
    assert realty("projector", "--once", "--only", "pipeline", database_url=url, extra_env=env).returncode == 0
    rebuilt = realty("projections", "rebuild", "pipeline", database_url=url, extra_env=env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "generation 2 now answers reads" in rebuilt.stdout
    view = status(url, env)["views"]["pipeline"]  # type: ignore[index]
    assert (view["generation"], view["lag"], view["rebuild"]) == (2, 0, None)


def test_an_unknown_view_is_a_one_line_error_and_exit_2(store: tuple[str, dict[str, str], RealtyLedger]) -> None:
    url, env, _ = store
    for args in (("projections", "rebuild", "nope"), ("projector", "--once", "--only", "nope")):
        result = realty(*args, database_url=url, extra_env=env)
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == ["realty: error: no view named 'nope'; views: " +
                                                      ", ".join(ledger_views())]


def ledger_views() -> list[str]:
    from service.projector import PROJECTION_NAMES

    return list(PROJECTION_NAMES)


def test_a_reader_role_reads_the_sql_views_and_nothing_else(store: tuple[str, dict[str, str], RealtyLedger]) -> None:
    url, env, ledger = store
    if not url.startswith("postgresql"):
        result = realty("db", "grant-reader", "reporting", database_url=url, extra_env=env)
        assert result.returncode == 2 and "PostgreSQL only" in result.stderr
        return
    assert realty("projector", "--once", database_url=url, extra_env=env).returncode == 0
    role = f"reader_{uuid.uuid4().hex[:8]}"
    granted = realty("db", "grant-reader", role, database_url=url, extra_env=env)
    assert granted.returncode == 0, granted.stderr
    as_reader = urlunsplit(urlsplit(url)._replace(netloc=f"{role}@{urlsplit(url).hostname}:{urlsplit(url).port}"))
    try:
        with psycopg.connect(as_reader) as conn:
            count = conn.execute("SELECT COUNT(*) FROM realty_read.pipeline_customers").fetchone()
            assert count is not None and count[0] == 8
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT * FROM realty_events LIMIT 1")
            conn.rollback()
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("DELETE FROM realty_read.pipeline_customers")
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")
    assert realty("db", "grant-reader", "Bad-Name", database_url=url, extra_env=env).returncode == 2
