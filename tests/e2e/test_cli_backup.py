"""``realty backup`` and ``realty restore`` as real processes, on SQLite and PostgreSQL: exit codes,
one-line summaries and one-line errors."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cli import realty
from tests.integration.test_backup_restore import scratch_database


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """One installation's files outside the database, shared by the store and its restore."""
    return {"REALTY_SIGNING_KEYS_DIR": str(tmp_path / "keys"),
            "REALTY_CHECKPOINT_JOURNAL": str(tmp_path / "checkpoints.jsonl"),
            "REALTY_SHREDDING_REGISTER": str(tmp_path / "shredded.jsonl"),
            "REALTY_POOL_SIZE": "2", "REALTY_POOL_MAX_OVERFLOW": "4"}


@pytest.fixture
def target_url(own_database_url: str, tmp_path: Path) -> Iterator[str]:
    with scratch_database(own_database_url, tmp_path, "target") as url:
        yield url


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


def test_a_backup_restores_into_an_empty_store_and_verifies(own_database_url: str, target_url: str,
                                                            tmp_path: Path, env: dict[str, str]) -> None:
    assert realty("demo", "--customers", "3", database_url=own_database_url, extra_env=env).returncode == 0
    assert realty("audit", "checkpoint", database_url=own_database_url, extra_env=env).returncode == 0
    backup = tmp_path / "nightly.backup"

    taken = realty("backup", "--out", str(backup), database_url=own_database_url, extra_env=env)
    assert taken.returncode == 0, taken.stderr
    assert one_line(taken.stdout).startswith(f"backup written to {backup}: ")

    again = realty("backup", "--out", str(backup), database_url=own_database_url, extra_env=env)
    assert again.returncode == 2 and "never replaces" in one_line(again.stderr)

    restored = realty("restore", str(backup), database_url=target_url, extra_env=env)
    assert restored.returncode == 0, restored.stderr
    summary = restored.stdout.splitlines()[-1]
    assert summary.startswith("restored ") and "verified: chain, 1 checkpoints" in summary
    assert "also in the journal" in summary

    verify = realty("verify", database_url=target_url, extra_env=env)
    assert verify.returncode == 0, verify.stdout + verify.stderr

    twice = realty("restore", str(backup), database_url=target_url, extra_env=env)
    assert twice.returncode == 2
    assert "is not empty" in one_line(twice.stderr) and "restore only into an empty store" in twice.stderr


def test_a_damaged_or_foreign_file_is_refused_in_one_line(own_database_url: str, target_url: str,
                                                          tmp_path: Path, env: dict[str, str]) -> None:
    assert realty("demo", "--customers", "2", database_url=own_database_url, extra_env=env).returncode == 0
    backup = tmp_path / "store.backup"
    assert realty("backup", "--out", str(backup), database_url=own_database_url, extra_env=env).returncode == 0
    lines = gzip.decompress(backup.read_bytes()).splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith(b'{"part":"data_keys"'))
    row = json.loads(lines[start + 1])
    row[2] = "someone-else"  # a key moved to another owner
    lines[start + 1] = json.dumps(row, separators=(",", ":")).encode() + b"\n"
    damaged = tmp_path / "damaged.backup"
    damaged.write_bytes(gzip.compress(b"".join(lines)))

    refused = realty("restore", str(damaged), database_url=target_url, extra_env=env)
    assert refused.returncode == 1
    assert "damaged in part data_keys" in one_line(refused.stderr) and "nothing was written" in refused.stderr

    (tmp_path / "notes.txt").write_text("not a backup\n")
    foreign = realty("restore", str(tmp_path / "notes.txt"), database_url=target_url, extra_env=env)
    assert foreign.returncode == 2 and "is not a Realty Ledger backup" in one_line(foreign.stderr)

    missing = realty("restore", str(tmp_path / "nowhere.backup"), database_url=target_url, extra_env=env)
    assert missing.returncode == 2 and "no backup file at" in one_line(missing.stderr)

    # Nothing was written by any of them: the good backup still restores.
    assert realty("restore", str(backup), database_url=target_url, extra_env=env).returncode == 0


def test_keys_shred_registered_destroys_the_keys_a_restore_left_live_and_then_nothing(
        own_database_url: str, target_url: str, tmp_path: Path, env: dict[str, str]) -> None:
    from service.application import RealtyLedger
    from tests.conftest import register_team
    from tests.integration.test_backup_restore import erase, settings_for, with_details, wrapped_of

    app = RealtyLedger(settings_for(own_database_url, tmp_path, "source"))  # the same files as ``env``
    try:
        team = register_team(app)
        customer = with_details(app, team)
        backup = tmp_path / "before-erasure.backup"
        assert realty("backup", "--out", str(backup), database_url=own_database_url, extra_env=env).returncode == 0
        erase(app, team, customer)
        (key_id,) = app.data_keys.owner_keys(customer, destroyed=True)
    finally:
        app.close()
    # A restore that did not apply the register (an older version's, interrupted before it shredded).
    restored = realty("restore", str(backup), "--shredding-register", str(tmp_path / "none.jsonl"),
                      database_url=target_url, extra_env=env)
    assert restored.returncode == 0, restored.stderr
    assert "0 keys destroyed again" in restored.stdout
    target = settings_for(target_url, tmp_path, "target")
    assert wrapped_of(target, key_id) is not None

    repaired = realty("keys", "shred-registered", database_url=target_url, extra_env=env)
    assert repaired.returncode == 0, repaired.stderr
    assert one_line(repaired.stdout).startswith("1 data keys destroyed, 0 subjects restricted")
    assert wrapped_of(target, key_id) is None
    shown = realty("customer", "show", customer, "--json", database_url=target_url, extra_env=env)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["state"]["name"] == "[erased]"

    again = realty("keys", "shred-registered", database_url=target_url, extra_env=env)
    assert again.returncode == 0 and one_line(again.stdout).startswith("0 data keys destroyed")


def test_keys_shred_registered_refuses_a_store_without_data_keys(target_url: str, tmp_path: Path,
                                                                 env: dict[str, str]) -> None:
    refused = realty("keys", "shred-registered", database_url=target_url, extra_env=env)
    assert refused.returncode == 2
    assert "has no data keys: nothing to shred" in one_line(refused.stderr)
