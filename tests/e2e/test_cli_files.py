"""``realty retention due`` and ``realty files show`` on both backends: what is due, with holds and
the disposition state; a file's state without storage addresses or keys; one-line errors."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service import cli, cli_files
from service.application import RealtyLedger
from service.settings import load_settings
from tests.conftest import register_team
from tests.integration.test_service_files import SHORT_POLICY, lost_customer_with_a_file


@pytest.fixture
def store(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, RealtyLedger]]:
    """A store whose lost customers' files are kept one day, and the CLI pointed at its settings."""
    policy = tmp_path / "retention.toml"
    policy.write_text(SHORT_POLICY, encoding="utf-8")
    monkeypatch.setenv("REALTY_RETENTION_POLICY", str(policy))
    monkeypatch.setenv("REALTY_SIGNING_KEYS_DIR", str(tmp_path / "keys"))
    monkeypatch.setenv("COLUMNS", "250")  # wide enough that rich does not wrap ids
    app = RealtyLedger(load_settings(database_url=database_url, signing_keys_dir=tmp_path / "keys",
                                     retention_policy=policy))
    try:
        yield database_url, app
    finally:
        app.close()


def realty(database_url: str, *argv: str) -> int:
    """``realty`` in this process, with the file commands whether or not cli.py has registered them yet."""
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if "retention" not in sub.choices:
        cli_files.add_parsers(sub, type(parser))
    original = cli.build_parser
    cli.build_parser = lambda: parser  # type: ignore[assignment]
    try:
        return cli.main(["--database-url", database_url, *argv])
    finally:
        cli.build_parser = original  # type: ignore[assignment]


def test_retention_due_lists_the_file_with_its_hold_and_disposition_state(
    store: tuple[str, RealtyLedger], capsys: pytest.CaptureFixture[str]
) -> None:
    url, app = store
    team = register_team(app)
    _, file_id, _ = lost_customer_with_a_file(app, team)
    hold = app.file_command(team.compliance, file_id, "place_hold", reason="法院调查令").entity_id

    assert realty(url, "retention", "due", "--json") == 0
    due: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    (mine,) = [d for d in due if d["file_id"] == file_id]
    assert mine["record_class"] == "customer_file" and mine["disposition"] is None
    assert [h["hold_id"] for h in mine["holds"]] == [hold]

    assert realty(url, "retention", "due") == 0
    table = capsys.readouterr().out
    assert file_id in table and "customer_file" in table and "retention end" in table

    # Judged as of ten days ago, nothing of this customer's was due yet.
    assert realty(url, "retention", "due", "--json", "--at", "2020-01-01T00:00:00+08:00") == 0
    assert file_id not in capsys.readouterr().out


def test_files_show_prints_the_state_masked_without_storage_or_keys(
    store: tuple[str, RealtyLedger], capsys: pytest.CaptureFixture[str]
) -> None:
    url, app = store
    team = register_team(app)
    _, file_id, document = lost_customer_with_a_file(app, team)
    app.file_command(team.compliance, file_id, "place_hold", reason="法院调查令（2026）沪0115民初1234号")

    assert realty(url, "files", "show", file_id, "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["id"] == file_id and shown["record_class"] == "customer_file"
    assert document in shown["documents"] and shown["retention_end"] is not None
    text = json.dumps(shown, ensure_ascii=False)
    assert "storage_key" not in text and "key_id" not in text and "民初1234号" not in text

    assert realty(url, "files", "show", file_id) == 0
    assert file_id in capsys.readouterr().out


def test_an_unknown_file_or_a_bad_time_is_one_line_and_exit_2(
    store: tuple[str, RealtyLedger], capsys: pytest.CaptureFixture[str]
) -> None:
    url, app = store
    customer = register_team(app)
    assert realty(url, "files", "show", "0b5f0f5e-1d7e-4a55-9a0b-2b7a4f1c9e10") == 2
    assert capsys.readouterr().err.startswith("realty: error: not_found")
    staff_id = customer.id(customer.consultant)
    assert realty(url, "files", "show", staff_id) == 2  # a record, but not a service file
    assert realty(url, "retention", "due", "--at", "tomorrow") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("realty: error: ") for line in err)
