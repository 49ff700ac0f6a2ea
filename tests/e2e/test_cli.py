"""The command line as a user meets it: real processes, real stores, one-line errors."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from domain.access_log import access_log_id
from service.application import RealtyLedger
from service.settings import load_settings
from tests.conftest import register_team
from tests.e2e.cli import realty
from tests.integration.scenarios import list_flat, match, receive


def assert_one_line_error(result, code: int, *fragments: str) -> None:  # type: ignore[no-untyped-def]
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("realty: error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_help_lists_the_commands() -> None:
    result = realty("--help")
    assert result.returncode == 0
    for command in ("init", "demo", "run", "summary", "customer", "deal", "listing", "staff"):
        assert command in result.stdout


def test_init_creates_the_sqlite_store_and_its_folder(tmp_path: Path) -> None:
    db = tmp_path / "nested" / "store.sqlite3"
    result = realty("init", database_url=f"sqlite:///{db}")
    assert result.returncode == 0, result.stderr
    assert db.exists()
    assert "0 events" in result.stdout


def test_a_bad_database_url_is_one_line_and_exit_2(tmp_path: Path) -> None:
    assert_one_line_error(realty("init", database_url="mysql://root@localhost/x"), 2,
                          "REALTY_DATABASE_URL", "unsupported scheme")


def test_an_unreachable_postgres_is_one_line_and_exit_1() -> None:
    result = realty("init", database_url="postgresql://postgres@127.0.0.1:1/nothing", timeout=120)
    assert_one_line_error(result, 1, "cannot open the store at postgresql://postgres@127.0.0.1:1/nothing")


def test_an_unknown_command_or_option_is_exit_2() -> None:
    result = realty("customer", "dance")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = realty("--debug", "customer", "show", "nope", database_url=f"sqlite:///{tmp_path / 'x.sqlite3'}")
    assert result.returncode == 2
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "realty: error: invalid_value: id: is not a valid id"


@pytest.fixture
def stored_customer(database_url: str) -> tuple[str, str, str]:
    """The store, a customer with personal details, and the consultant holding them."""
    app = RealtyLedger(load_settings(database_url=database_url))
    try:
        team = register_team(app)
        listing = list_flat(app, team.consultant)
        customer = receive(app, team)
        match(app, team, customer, listing)
    finally:
        app.close()
    return database_url, customer, team.id(team.consultant)


def test_customer_show_masks_personal_data_unless_revealed(stored_customer: tuple[str, str, str]) -> None:
    url, customer, consultant = stored_customer
    masked = realty("customer", "show", customer, "--history", "--json", database_url=url)
    assert masked.returncode == 0, masked.stderr
    data = json.loads(masked.stdout)
    assert data["state"]["stage"] == "matching"
    assert data["state"]["phone"] == "1******8000"
    assert "13800138000" not in masked.stdout and "赵雅琴" not in masked.stdout
    assert [e["name"] for e in data["history"]][:2] == ["Customer.Received", "Customer.PersonalDetailsRecorded"]

    refused = realty("customer", "show", customer, "--json", "--reveal", database_url=url)
    assert_one_line_error(refused, 2, "--by")
    assert "13800138000" not in refused.stdout
    revealed = realty("customer", "show", customer, "--json", "--reveal", "--by", consultant, database_url=url)
    assert json.loads(revealed.stdout)["state"]["phone"] == "13800138000"
    app = RealtyLedger(load_settings(database_url=url))
    try:  # the full read is on the reader's access log, like a read through the API
        log = app.state(access_log_id(uuid.UUID(consultant), datetime.now(UTC).date()))
        assert (customer, "cli customer show") in [(r["subject_id"], r["purpose"]) for r in log["reads"]]
    finally:
        app.close()


def test_customer_show_as_of_a_version_and_as_a_table(stored_customer: tuple[str, str, str]) -> None:
    url, customer, _ = stored_customer
    earlier = realty("customer", "show", customer, "--version", "1", "--json", database_url=url)
    assert json.loads(earlier.stdout)["state"]["stage"] == "reception"
    table = realty("customer", "show", customer, "--history", database_url=url)
    assert table.returncode == 0
    assert "Customer.ShowingConducted" in table.stdout
    assert "matching" in table.stdout


def test_show_refuses_a_record_of_another_kind_and_unknown_ids(stored_customer: tuple[str, str, str]) -> None:
    url, customer, _ = stored_customer
    assert_one_line_error(realty("deal", "show", customer, database_url=url), 2, "is a customer, not a deal")
    assert_one_line_error(realty("customer", "show", "0b5f0f5e-1d7e-4a55-9a0b-2b7a4f1c9e10", database_url=url),
                          2, "not_found")
    assert_one_line_error(realty("customer", "show", customer, "--at", "yesterday", database_url=url), 2,
                          "ISO 8601")


def test_demo_loads_a_small_story_with_a_progress_bar_on_each_backend(database_url: str) -> None:
    result = realty("demo", "--customers", "12", "--seed", "5", database_url=database_url)
    assert result.returncode == 0, result.stderr
    assert "demo loaded: 12 customers" in result.stdout
    assert "12/12" in result.stdout  # the progress bar's last state
    summary = realty("summary", database_url=database_url)
    assert summary.returncode == 0
    assert "customers" in summary.stdout and "events (the log)" in summary.stdout


def test_run_loads_the_demo_only_on_the_first_start(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'var' / 'realty.sqlite3'}"
    first = realty("run", "--customers", "8", "--no-serve", database_url=url, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "first run: loading demo data" in first.stdout
    assert "Where to look" in first.stdout
    showcase = json.loads((tmp_path / "var" / "demo-showcase.json").read_text(encoding="utf-8"))
    assert any(command.startswith("customer show ") for command in showcase.values())
    # The demo's history is signed from the start, with a key of its own beside the store.
    assert "signed checkpoint of" in first.stdout
    keys = tmp_path / "var" / "keys"
    assert oct(keys.stat().st_mode & 0o777) == "0o700"
    assert all(oct(f.stat().st_mode & 0o777) == "0o600" for f in keys.iterdir())
    verified = realty("verify", database_url=url, cwd=tmp_path)
    assert verified.returncode == 0 and "clean" in verified.stdout, verified.stdout + verified.stderr

    second = realty("run", "--no-serve", database_url=url, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "first run" not in second.stdout
    # Every printed command works as printed.
    label, command = next(iter(showcase.items()))
    shown = realty(*command.split(), "--json", database_url=url, cwd=tmp_path)
    assert shown.returncode == 0, (label, shown.stderr)


def test_demo_refuses_a_silly_customer_count() -> None:
    result = realty("demo", "--customers", "0", database_url="sqlite:////tmp/never-created.sqlite3")
    assert_one_line_error(result, 2, "--customers")
    assert not Path("/tmp/never-created.sqlite3").exists()
