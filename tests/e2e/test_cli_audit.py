"""``realty verify`` and ``realty audit ...`` as real processes, on both backends (each on a store of
its own: verification judges the whole log): exit 0 only when clean, 1 with the first bad position
when the stored rows were changed, 2 for a checkpoint file that is not ours; a published checkpoint
and public key that a witness keeps; proofs as JSON."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from archive.merkle import verify_inclusion
from domain.access_log import access_log_id
from service.application import RealtyLedger
from service.settings import load_settings
from tests.conftest import register_team
from tests.e2e.cli import realty


def a_small_log(url: str, keys: Path) -> tuple[str, str, str]:
    """A few events: the name of the events table, a customer with two versions, a compliance officer."""
    app = RealtyLedger(load_settings(database_url=url, signing_keys_dir=keys))
    try:
        team = register_team(app, name="审计组")
        for _ in range(3):
            customer = app.receive_customer(team.consultant, channel="walk_in", reception_started_at=_ago(30),
                                            reception_ended_at=_ago(5)).id
        app.record_personal_details(team.consultant, customer, name="孙审阅", phone="13700001111")
        return str(app.recorder.events_table_name), customer, team.id(team.compliance)  # type: ignore[attr-defined]
    finally:
        app.close()


def _ago(minutes: int) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


def change_a_byte_of_the_third_event(url: str, table: str) -> None:
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            # The 20th byte (inside the ciphertext) changed, whatever it was.
            conn.execute(f"UPDATE {table} SET state = CAST(substr(state, 1, 19) || "  # noqa: S608
                         "(CASE WHEN substr(state, 20, 1) = x'00' THEN x'01' ELSE x'00' END) || substr(state, 21) "
                         "AS BLOB) WHERE position = 2")
    else:
        with psycopg.connect(url) as conn:
            conn.execute(f"UPDATE {table} SET state = overlay(state placing CASE WHEN get_byte(state, 19) = 0 "  # noqa: S608
                         "THEN '\\x01'::bytea ELSE '\\x00'::bytea END from 20) WHERE position = 2")


def test_verify_checkpoint_public_key_and_proofs_from_the_command_line(own_database_url: str, tmp_path: Path) -> None:
    url, keys = own_database_url, tmp_path / "keys"
    table, customer, officer = a_small_log(url, keys)
    env_keys = ["--database-url", url]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return realty(*env_keys, *args, cwd=tmp_path, database_url=None, extra_env={
            "REALTY_SIGNING_KEYS_DIR": str(keys)})

    made = run("audit", "checkpoint", "--out", str(tmp_path / "witness" / "cp.json"))
    assert made.returncode == 0, made.stderr
    published = json.loads((tmp_path / "witness" / "cp.json").read_text())
    assert published["format"] == "realty-checkpoint/v1" and published["tree_size"] > 3
    keys_out = run("audit", "public-key", "--out", str(tmp_path / "witness" / "keys.txt"))
    assert keys_out.returncode == 0, keys_out.stderr

    clean = run("verify", "--checkpoint", str(tmp_path / "witness" / "cp.json"),
                "--public-keys", str(tmp_path / "witness" / "keys.txt"))
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "clean" in clean.stdout and "published checkpoint" in clean.stdout

    proof = run("audit", "proof", "inclusion", "--position", "2")
    assert proof.returncode == 0, proof.stderr
    body = json.loads(proof.stdout)
    assert verify_inclusion(bytes.fromhex(body["leaf_hash"]), 2, body["tree_size"],
                            [bytes.fromhex(p) for p in body["proof"]], bytes.fromhex(published["root_hash"]))
    beyond = run("audit", "proof", "inclusion", "--position", str(published["tree_size"]))
    assert beyond.returncode == 2 and beyond.stderr.count("\n") == 1 and "outside" in beyond.stderr

    history = run("audit", "history", customer, "--json")
    assert history.returncode == 0, history.stderr
    events = json.loads(history.stdout)["events"]
    assert [e["version"] for e in events] == [1, 2] and all(e["inclusion"]["covered"] for e in events)
    assert "孙审阅" not in history.stdout  # masked unless revealed by a named compliance officer
    assert run("audit", "history", customer, "--reveal").returncode == 2
    revealed = run("audit", "diff", customer, "--from", "1", "--to", "2", "--reveal", "--by", officer)
    assert revealed.returncode == 0, revealed.stderr
    assert json.loads(revealed.stdout)["changed"]["name"] == {"from": None, "to": "孙审阅"}
    app = RealtyLedger(load_settings(database_url=url, signing_keys_dir=keys))
    try:  # the auditor's full read is on their access log
        log = app.state(access_log_id(uuid.UUID(officer), datetime.now(UTC).date()))
        assert (customer, "cli audit diff") in [(r["subject_id"], r["purpose"]) for r in log["reads"]]
    finally:
        app.close()

    (tmp_path / "garbage.json").write_text('{"format": "something else"}')
    garbage = run("verify", "--checkpoint", str(tmp_path / "garbage.json"))
    assert garbage.returncode == 2 and "not a Realty Ledger checkpoint" in garbage.stderr

    change_a_byte_of_the_third_event(url, table)
    damaged = run("verify", "--json")
    assert damaged.returncode == 1 and damaged.stdout, damaged.stdout + damaged.stderr
    report = json.loads(damaged.stdout)
    assert report["clean"] is False
    assert (report["first_problem"]["kind"], report["first_problem"]["position"]) == ("modified", 2)
    human = run("verify")
    assert human.returncode == 1 and "first bad position 2 (modified)" in human.stdout


def test_keys_from_a_secret_are_not_rotated_here_and_a_missing_keyring_is_one_line(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    url = f"sqlite:///{tmp_path / 'realty.sqlite3'}"
    refused = realty("audit", "rotate-key", database_url=url, cwd=tmp_path, extra_env={"REALTY_SIGNING_KEY_PEM": pem})
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "REALTY_SIGNING_KEY_PEM" in refused.stderr
    assert "PRIVATE KEY" not in refused.stdout + refused.stderr
    missing = realty("audit", "rotate-key", database_url=url, cwd=tmp_path)
    assert missing.returncode == 2 and "init-keys" in missing.stderr
    made = realty("audit", "init-keys", database_url=url, cwd=tmp_path)
    assert made.returncode == 0 and (tmp_path / "keys" / "keyring.json").exists()
    rotated = realty("audit", "rotate-key", database_url=url, cwd=tmp_path)
    assert rotated.returncode == 0, rotated.stderr
