"""The API through a real uvicorn on a port, the demo tokens, and the staff/token commands."""

from __future__ import annotations

import json
import stat
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.e2e.cli import REALTY, free_port, realty  # noqa: F401 - free_port: imported from here
from tests.e2e.console.harness import served_console


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``realty run`` on a fresh store: demo data, demo tokens, then the API on a free port."""
    with served_console(tmp_path, "sqlite", customers=10) as console:
        yield console.base, str(tmp_path)


SERVER_OUTPUT = "server-output.txt"


def server_output(home: str | Path) -> str:
    return (Path(home) / SERVER_OUTPUT).read_text(encoding="utf-8")


def access_log_lines(home: str | Path) -> list[dict[str, object]]:
    """The JSON access-log lines the server printed (each line of its output that is a JSON object)."""
    found = []
    for line in server_output(home).splitlines():
        if line.startswith("{"):
            found.append(json.loads(line))
    return found


def demo_tokens(var: Path) -> dict[str, str]:
    lines = (var / "demo-tokens.txt").read_text(encoding="utf-8").splitlines()
    return {line.split("\t")[0]: line.split("\t")[3] for line in lines if not line.startswith("#")}


def test_make_run_serves_the_api_with_demo_data_and_the_demo_tokens_work(served: tuple[str, str]) -> None:
    base, home = served
    var = Path(home) / "var"
    mode = stat.S_IMODE((var / "demo-tokens.txt").stat().st_mode)
    assert mode == 0o600
    tokens = demo_tokens(var)
    assert set(tokens) >= {"sales_manager", "property_consultant", "customer_service", "compliance_officer",
                           "administrator", "archivist", "customer_manager"}
    consultant = {"Authorization": f"Bearer {tokens['property_consultant']}", "X-Request-ID": "uvicorn-1"}
    now = datetime.now(UTC)
    created = httpx.post(f"{base}/customers", headers=consultant, json={
        "channel": "phone", "reception_started_at": (now - timedelta(minutes=20)).isoformat(),
        "reception_ended_at": now.isoformat()})
    assert created.status_code == 201, created.text
    assert created.headers["X-Request-ID"] == "uvicorn-1"
    customer = created.json()["id"]
    read = httpx.get(f"{base}/customers/{customer}", headers=consultant)
    assert read.status_code == 200 and read.headers["ETag"] == '"1"'
    assert read.json()["stage"] == "reception"
    denied = httpx.post(f"{base}/customers", json={},
                        headers={"Authorization": f"Bearer {tokens['compliance_officer']}"})
    assert denied.status_code == 403 and denied.headers["content-type"] == "application/problem+json"
    assert httpx.get(f"{base}/openapi.json").json()["info"]["title"] == "Realty Ledger"
    time.sleep(0.2)  # let the last log line reach the file
    logged = access_log_lines(home)
    created_line = next(line for line in logged if line["request_id"] == "uvicorn-1")
    assert created_line == {"request_id": "uvicorn-1", "method": "POST", "route": "/customers", "status": 201,
                            "ms": created_line["ms"], "actor_id": created_line["actor_id"]}
    assert created_line["actor_id"] and isinstance(created_line["ms"], float)
    assert [line["status"] for line in logged[-4:]] == [201, 200, 403, 200]
    showcase = json.loads((var / "demo-showcase.json").read_text(encoding="utf-8"))
    assert showcase


def test_staff_add_issues_a_token_that_revoke_kills(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    added = realty("staff", "add", "--name", "孙经理", "--role", "sales_manager", "--team", "浦东一组",
                   database_url=url)
    assert added.returncode == 0, added.stderr
    lines = added.stdout.strip().splitlines()
    staff_id = lines[0].split()[2]
    token_id = lines[1].split()[1]
    token = lines[-1]
    assert token.startswith("rlt_")

    from service.application import RealtyLedger
    from service.settings import load_settings

    app = RealtyLedger(load_settings(database_url=url))
    try:
        assert app.authenticate(token) is not None
        revoked = realty("token", "revoke", staff_id, token_id, "--reason", "测试", database_url=url)
        assert revoked.returncode == 0, revoked.stderr
        assert app.authenticate(token) is None
        again = realty("token", "revoke", staff_id, token_id, "--reason", "测试", database_url=url)
        assert again.returncode == 2 and "token_already_revoked" in again.stderr
    finally:
        app.close()


def test_serve_refuses_a_bad_port_in_one_line() -> None:
    result = realty("serve", "--port", "70000", database_url="sqlite:////tmp/never-served.sqlite3")
    assert result.returncode == 2
    assert result.stderr.strip() == "realty: error: --port must be between 1 and 65535"


def test_service_account_add_registers_a_read_only_account(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    added = realty("service-account", "add", "--name", "BI 报表", database_url=url)
    assert added.returncode == 0, added.stderr
    assert "read-only" in added.stdout
    token = added.stdout.strip().splitlines()[-1]

    from service.application import RealtyLedger
    from service.settings import load_settings

    app = RealtyLedger(load_settings(database_url=url))
    try:
        principal = app.authenticate(token)
        assert principal is not None and principal.role == "service_account"
    finally:
        app.close()
