"""``realty keys init|rotate|status`` as real processes: exit codes, what they print (never a key),
and one-line errors for master keys that cannot be used.

Each test has a store and a master key directory of its own; the processes get no REALTY_* of the
test run (so not the suite's shared ``REALTY_MASTER_KEYS``) unless a test passes one.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e import cli as e2e_cli


def run(store: str, master: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("REALTY_")}
    clean.update({"REALTY_DATABASE_URL": store, "REALTY_MASTER_KEYS_DIR": str(master), "COLUMNS": "200", **env})
    return subprocess.run([str(e2e_cli.REALTY), "keys", *args], capture_output=True, text=True, timeout=300,
                          env=clean, cwd=master.parent, check=False)


def one_line_error(done: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert done.returncode == code, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("realty: error: "), done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


def key_texts(master: Path) -> list[str]:
    return [p.read_text().strip() for p in sorted(master.glob("master-v*.key"))]


def assert_no_key_printed(done: subprocess.CompletedProcess[str], *keys: str) -> None:
    for key in keys:
        assert key[:16] not in done.stdout + done.stderr
        assert base64.b64decode(key).hex()[:16] not in done.stdout + done.stderr


def status_json(store: str, master: Path, **env: str) -> dict:
    done = run(store, master, "status", "--json", **env)
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)


def test_init_status_and_rotate_from_a_key_directory(own_database_url: str, tmp_path: Path) -> None:
    store, master = own_database_url, tmp_path / "master"

    before = run(store, master, "status")
    assert "has no keyring yet; run `realty keys init`" in one_line_error(before)

    made = run(store, master, "init")
    assert made.returncode == 0, made.stderr
    assert f"master key v1 in {master} (created;" in made.stdout
    assert "has its keyring now: 1 data key wrapped by master key v1" in made.stdout
    assert master.stat().st_mode & 0o777 == 0o700
    assert (master / "master-v1.key").stat().st_mode & 0o777 == 0o600
    (v1,) = key_texts(master)
    assert_no_key_printed(made, v1)

    again = run(store, master, "init")
    assert again.returncode == 0, again.stderr
    assert "(already there;" in again.stdout and "already had its keyring" in again.stdout
    assert key_texts(master) == [v1]

    status = run(store, master, "status")
    assert status.returncode == 0, status.stderr
    assert f"master keys: from the directory {master}; active version v1" in status.stdout
    assert "  v1: wraps 1 data key (active)" in status.stdout
    assert "data keys (log): 1 live, 0 destroyed" in status.stdout
    assert "legacy plaintext: none" in status.stdout and "usable: yes" in status.stdout

    rotated = run(store, master, "rotate")
    assert rotated.returncode == 0, rotated.stderr
    assert f"new master key v2 in {master}: re-wrapped 1 data key under it" in rotated.stdout
    assert "v1 wraps no data key any more and can be removed" in rotated.stdout
    assert_no_key_printed(rotated, *key_texts(master))

    body = status_json(store, master)
    assert body["usable"] and body["problem"] is None
    assert body["master_keys"] == {"source": "directory", "where": str(master), "active": 2, "versions": [
        {"version": 1, "present": True, "wraps": 0, "can_be_removed": True},
        {"version": 2, "present": True, "wraps": 1, "can_be_removed": False}]}
    assert body["data_keys"] == {"log": {"live": 1, "destroyed": 0}}
    assert body["legacy_plaintext"] == {"before_encryption": False, "rows": 0}
    text = run(store, master, "status").stdout
    assert "  v1: wraps 0 data keys; can be removed" in text and "  v2: wraps 1 data key (active)" in text

    (master / "master-v1.key").unlink()
    assert status_json(store, master)["usable"]


def test_rotate_resumes_with_a_newer_key_already_in_the_directory(tmp_path: Path) -> None:
    store, master = f"sqlite:///{tmp_path / 'realty.sqlite3'}", tmp_path / "master"
    assert run(store, master, "init").returncode == 0
    (master / "master-v2.key").write_bytes(base64.b64encode(os.urandom(32)) + b"\n")  # a rotate cut short
    (master / "master-v2.key").chmod(0o600)

    waiting = run(store, master, "status", "--json")
    assert "run `realty keys rotate`" in one_line_error(waiting, 1)
    assert json.loads(waiting.stdout)["usable"] is False

    resumed = run(store, master, "rotate")
    assert resumed.returncode == 0, resumed.stderr
    assert f"master key v2 ({master}): re-wrapped 1 data key under it" in resumed.stdout
    assert sorted(p.name for p in master.iterdir()) == ["master-v1.key", "master-v2.key"]  # no v3
    assert status_json(store, master)["master_keys"]["active"] == 2


def test_keys_from_the_secret_are_rotated_by_the_operator_then_rewrapped(tmp_path: Path) -> None:
    store, master = f"sqlite:///{tmp_path / 'realty.sqlite3'}", tmp_path / "unused"
    one, two = (base64.b64encode(os.urandom(32)).decode() for _ in range(2))
    secret = {"REALTY_MASTER_KEYS": f"1:{one}"}

    made = run(store, master, "init", **secret)
    assert made.returncode == 0, made.stderr
    assert "master keys v1 from the secret REALTY_MASTER_KEYS" in made.stdout
    assert not master.exists()
    assert_no_key_printed(made, one)

    refused = one_line_error(run(store, master, "rotate", **secret))
    assert "REALTY_MASTER_KEYS" in refused and "`realty keys rotate --rewrap-only`" in refused

    both = {"REALTY_MASTER_KEYS": f"1:{one},2:{two}"}
    rewrapped = run(store, master, "rotate", "--rewrap-only", **both)
    assert rewrapped.returncode == 0, rewrapped.stderr
    assert "master key v2 (the secret REALTY_MASTER_KEYS): re-wrapped 1 data key under it" in rewrapped.stdout
    assert "v1 wraps no data key any more and can be removed" in rewrapped.stdout
    assert_no_key_printed(rewrapped, one, two)

    body = status_json(store, master, REALTY_MASTER_KEYS=f"2:{two}")  # v1 removed from the secret
    assert body["usable"] and body["master_keys"]["source"] == "secret"
    assert body["master_keys"]["where"] == "the secret REALTY_MASTER_KEYS"
    assert body["master_keys"]["versions"] == [{"version": 2, "present": True, "wraps": 1, "can_be_removed": False}]

    old_only = run(store, master, "status", "--json", **secret)
    error = one_line_error(old_only, 1)
    assert "wrapped by master key v2, which is not in REALTY_MASTER_KEYS" in error
    versions = json.loads(old_only.stdout)["master_keys"]["versions"]
    assert {"version": 2, "present": False, "wraps": 1, "can_be_removed": False} in versions


@pytest.mark.parametrize(("secret", "expected"), [
    ("1:not-base64!", "REALTY_MASTER_KEYS entry 1 (version 1) is not base64"),
    ("1:" + base64.b64encode(b"k" * 16).decode(), "REALTY_MASTER_KEYS entry 1 (version 1) is 16 bytes"),
    ("one:" + base64.b64encode(b"k" * 32).decode(), "REALTY_MASTER_KEYS entry 1 must be <version>:<base64 key>"),
])
def test_a_malformed_secret_is_one_line_without_the_key(tmp_path: Path, secret: str, expected: str) -> None:
    store, master = f"sqlite:///{tmp_path / 'realty.sqlite3'}", tmp_path / "master"
    for action in (["init"], ["status"], ["rotate", "--rewrap-only"]):
        error = one_line_error(run(store, master, *action, REALTY_MASTER_KEYS=secret))
        assert expected in error
        assert secret.partition(":")[2][:12] not in error


def test_a_key_file_others_can_read_or_the_wrong_key_is_refused(tmp_path: Path) -> None:
    store, master = f"sqlite:///{tmp_path / 'realty.sqlite3'}", tmp_path / "master"
    assert run(store, master, "init").returncode == 0
    key_file = master / "master-v1.key"
    original = key_file.read_bytes()

    key_file.chmod(0o644)
    for action in ("status", "rotate", "init"):
        error = one_line_error(run(store, master, action))
        assert "is accessible by group or others (mode 0644)" in error and f"chmod 600 {key_file}" in error
    key_file.chmod(0o600)

    wrong = base64.b64encode(os.urandom(32)) + b"\n"
    key_file.write_bytes(wrong)
    for action in ("rotate", "init"):
        error = one_line_error(run(store, master, action))
        assert "master key v1 in" in error and "is not the one this store's data keys were wrapped with" in error
        assert wrong.decode().strip()[:16] not in error and original.decode().strip()[:16] not in error
    assert sorted(p.name for p in master.iterdir()) == ["master-v1.key"]  # the refused rotate made no v2
    status = run(store, master, "status")
    assert "is not the one this store's data keys were wrapped with" in one_line_error(status, 1)
    assert "usable: NO" in status.stdout

    key_file.write_bytes(original)
    assert run(store, master, "status").returncode == 0


def test_an_unreachable_store_is_one_line(tmp_path: Path) -> None:
    error = one_line_error(run("postgresql://nobody@127.0.0.1:1/none", tmp_path / "master", "status"), 1)
    assert "cannot open the store at postgresql://nobody@127.0.0.1:1/none" in error
