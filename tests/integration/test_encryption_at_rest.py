"""Encryption at rest, judged from the stored rows: what someone holding the database (a dump, a
backup, a stolen disk) sees, and what happens when they move ciphertexts around.

Every scenario runs on SQLite and PostgreSQL, each on a store of its own with its own master key
directory (never the suite's shared ``REALTY_MASTER_KEYS``). Rows are read and changed with plain
SQL on a connection of the test's own (sqlite3, psycopg), the way an attacker with database access
would; a dump is the raw bytes of the SQLite files, or ``pg_dump --data-only``.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from archive.aead import CiphertextInvalid, key_id_of, open_sealed
from archive.data_keys import KeyringMismatch
from archive.sealing_mapper import SEALED, SealedStateInvalid, state_aad
from domain.personal_data import ERASED
from service.application import RealtyLedger
from service.settings import load_settings
from tests.conftest import Team, register_team
from tests.e2e import cli as e2e_cli
from tests.integration.scenarios import list_flat, match, receive, sign

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PERSONAL_DETAILS = "realty.customer.personal_details_recorded"
RECEIVED = "realty.customer.received"


@dataclass(frozen=True)
class Store:
    """A store of the test's own: its URL, its master key directory, and direct SQL access."""

    url: str
    tmp: Path

    @property
    def backend(self) -> str:
        return "sqlite" if self.url.startswith("sqlite") else "postgres"

    @property
    def path(self) -> Path:
        return Path(self.url.removeprefix("sqlite:///"))

    @property
    def master_dir(self) -> Path:
        return self.tmp / "master"

    @property
    def events(self) -> str:
        return "stored_events" if self.backend == "sqlite" else "realty_events"

    def settings(self, **overrides: Any) -> Any:
        return load_settings(database_url=self.url, signing_keys_dir=self.tmp / "keys", master_keys=None,
                             master_keys_dir=self.master_dir, checkpoint_interval=0, **overrides)

    def open(self) -> RealtyLedger:
        return RealtyLedger(self.settings())

    def query(self, text: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self.backend == "sqlite":
            conn = sqlite3.connect(self.path, timeout=30)
            try:
                return conn.execute(text.format(events=self.events), params).fetchall()
            finally:
                conn.close()
        with psycopg.connect(self.url) as conn:
            return conn.execute(text.format(events=self.events).replace("?", "%s"), params).fetchall()

    def run(self, text: str, params: Sequence[Any] = ()) -> None:
        if self.backend == "sqlite":
            conn = sqlite3.connect(self.path, timeout=30)
            try:
                with conn:
                    conn.execute(text.format(events=self.events), params)
            finally:
                conn.close()
        else:
            with psycopg.connect(self.url) as conn:
                conn.execute(text.format(events=self.events).replace("?", "%s"), params)

    def stored_id(self, record_id: str) -> Any:
        return uuid.UUID(record_id).hex if self.backend == "sqlite" else uuid.UUID(record_id)

    def state(self, record_id: str, version: int) -> bytes:
        (row,) = self.query("SELECT state FROM {events} WHERE originator_id = ? AND originator_version = ?",
                            (self.stored_id(record_id), version))
        return bytes(row[0])

    def set_state(self, record_id: str, version: int, state: bytes) -> None:
        self.run("UPDATE {events} SET state = ? WHERE originator_id = ? AND originator_version = ?",
                 (state, self.stored_id(record_id), version))

    def version_of(self, record_id: str, topic: str) -> int:
        (row,) = self.query("SELECT originator_version FROM {events} WHERE originator_id = ? AND topic = ?",
                            (self.stored_id(record_id), topic))
        return int(row[0])

    def counts(self) -> tuple[int, ...]:
        """Rows in the log and in the keyring's tables: what a refused open must leave as it was."""
        return tuple(self.query(f"SELECT COUNT(*) FROM {t}")[0][0]
                     for t in ("{events}", "realty_data_keys", "realty_keyring_meta"))

    def dump(self) -> bytes:
        """Everything the database holds, as an attacker with a copy of it would read it."""
        if self.backend == "sqlite":
            conn = sqlite3.connect(self.path, timeout=30)
            try:
                logical = "\n".join(conn.iterdump()).encode()
            finally:
                conn.close()
            files = sorted(self.path.parent.glob("*.sqlite3*"))  # the store, its -wal, its views' file
            assert files
            return logical + b"".join(p.read_bytes() for p in files)
        pg_dump = shutil.which("pg_dump")
        if pg_dump:
            done = subprocess.run([pg_dump, "--data-only", "--no-owner", "-d", self.url], capture_output=True,
                                  check=False, timeout=120)
            assert done.returncode == 0, done.stderr.decode(errors="replace")
            return done.stdout
        with psycopg.connect(self.url) as conn:  # pragma: no cover - pg_dump is installed here
            tables = conn.execute("SELECT table_schema, table_name FROM information_schema.tables "
                                  "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')").fetchall()
            text = [repr(conn.execute(f'SELECT * FROM "{s}"."{t}"').fetchall()) for s, t in tables]  # noqa: S608
            return "\n".join(text).encode()


@pytest.fixture
def store(own_database_url: str, tmp_path: Path) -> Store:
    return Store(own_database_url, tmp_path)


@pytest.fixture
def ledger(store: Store) -> Iterator[RealtyLedger]:
    app = store.open()
    try:
        yield app
    finally:
        app.close()


def distinctive_customer(app: RealtyLedger, team: Team) -> tuple[str, dict[str, str]]:
    """A customer whose personal data cannot appear in the store by chance."""
    suffix = secrets.token_hex(3)
    details = {"name": f"测试张三丰{suffix}", "phone": "139" + _digits(8), "id_number": id_number()}
    customer = receive(app, team)
    app.record_personal_details(team.consultant, customer, **details)
    return customer, details


def _digits(n: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(n))


def id_number() -> str:
    """A random 18-character resident ID number with a valid check character (GB 11643-1999)."""
    body = "3101151987" + _digits(7)
    total = sum(int(d) * w for d, w in zip(body, (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2), strict=True))
    return body + "10X98765432"[total % 11]


def needles(details: dict[str, str]) -> dict[str, list[bytes]]:
    """Each value as UTF-8, as JSON's \\u escapes, and (PostgreSQL's dump of bytea) as hex."""
    found: dict[str, list[bytes]] = {}
    for label, value in details.items():
        forms = {value.encode(), json.dumps(value).strip('"').encode(), value.encode().hex().encode()}
        found[label] = sorted(forms)
    return found


def assert_absent(dump: bytes, details: dict[str, str]) -> None:
    for label, forms in needles(details).items():
        for form in forms:
            assert form not in dump, f"the {label} is in the database as {form[:40]!r}"


# --- 1. nothing personal in the database ----------------------------------------------------------


def test_no_personal_data_appears_anywhere_in_the_database(store: Store, ledger: RealtyLedger) -> None:
    team = register_team(ledger, name=f"加密组{secrets.token_hex(2)}")
    customer, details = distinctive_customer(ledger, team)
    subject = f"询问学区划片{secrets.token_hex(4)}"
    ledger.raise_request(team.consultant, customer, subject=subject)
    account = "6222" + _digits(15)
    buyer = receive(ledger, team)
    flat = list_flat(ledger, team.manager)
    match(ledger, team, buyer, flat)
    deal = sign(ledger, team, buyer, flat)
    ledger.record_payment(team.consultant, deal, kind="down_payment", amount=1_560_000, payer_account=account)

    # The application itself still reads them in full.
    assert {k: ledger.state(customer)[k] for k in details} == details
    dump = store.dump()
    assert len(dump) > 10_000  # a real dump of a real log, not an empty file
    assert store.state(customer, 1)[:1] == b"\x01"
    assert_absent(dump, {**details, "request subject": subject, "payer account": account})


# --- 2. a ciphertext moved into another row ----------------------------------------------------------


@pytest.mark.parametrize("source", ["the same record's other version", "another record's row of the same topic"])
def test_a_state_copied_into_another_row_does_not_open_and_names_that_row(store: Store, ledger: RealtyLedger,
                                                                            source: str) -> None:
    team = register_team(ledger, name="调包组")
    victim, _ = distinctive_customer(ledger, team)
    other, _ = distinctive_customer(ledger, team)
    ledger.raise_request(team.consultant, victim, subject="询问车位")
    ledger.raise_request(team.consultant, victim, subject="询问物业费")
    ledger.audit.checkpoint()
    requests = [v for (v,) in store.query(
        "SELECT originator_version FROM {events} WHERE originator_id = ? AND topic = ? ORDER BY originator_version",
        (store.stored_id(victim), "realty.customer.request_raised"))]
    if source.startswith("the same"):
        target, moved = requests[1], store.state(victim, requests[0])  # a request read as the other one
    else:
        target, moved = 1, store.state(other, 1)  # another customer's reception as this one's
    store.set_state(victim, target, moved)

    fresh = store.open()
    try:
        with pytest.raises(SealedStateInvalid) as caught:
            fresh.state(victim)
        message = str(caught.value)
        assert victim in message or uuid.UUID(victim).hex in message
        assert f"version {target}" in message and "copied from another row or tampered" in message
        assert "测试" not in message
        fresh.state(other)  # the row it was copied from still reads
        # The chain finds the changed row by its hash; with the keys, the sealing check names the
        # row whose state does not open for it (what `realty verify` adds to its report).
        report = fresh.audit.verify()
        assert not report.clean
        assert report.first_problem.kind in {"modified", "reordered"}
        checked, findings = fresh.check_sealing()
        assert checked == fresh.event_count()
        assert [f.kind for f in findings] == ["state_does_not_open"]
        assert f"version {target}" in findings[0].detail and str(uuid.UUID(victim)) in findings[0].detail
    finally:
        fresh.close()


# --- 3. a plain row slipped into an encrypted store -----------------------------------------------


def test_a_plain_json_row_in_a_store_encrypted_from_its_start_is_refused(store: Store, ledger: RealtyLedger) -> None:
    team = register_team(ledger, name="明文组")
    customer, _ = distinctive_customer(ledger, team)
    version = store.version_of(customer, PERSONAL_DETAILS)
    token = store.state(customer, version)
    log_key = ledger.data_keys.key_by_id(key_id_of(token))
    assert log_key is not None
    plain = open_sealed(log_key, token, state_aad(uuid.UUID(customer), version, PERSONAL_DETAILS))
    assert plain.startswith(b"{")  # a valid event's JSON, as the library would store it unencrypted
    store.set_state(customer, version, plain)

    fresh = store.open()
    try:
        assert not fresh.data_keys.legacy_plaintext
        with pytest.raises(SealedStateInvalid, match="is not sealed, and this store was encrypted from its start"):
            fresh.state(customer)
    finally:
        fresh.close()


# --- 4. the wrong master keys ----------------------------------------------------------------------


def _write_key(path: Path, key: bytes) -> None:
    path.write_bytes(base64.b64encode(key) + b"\n")
    path.chmod(0o600)


@pytest.mark.parametrize("keys", ["a different key of the same version", "no master key at all",
                                  "a newer version not rotated in"])
def test_a_store_refuses_to_open_with_master_keys_that_do_not_match(store: Store, keys: str) -> None:
    app = store.open()
    try:
        team = register_team(app, name="密钥组")
        customer, _ = distinctive_customer(app, team)
    finally:
        app.close()
    v1 = store.master_dir / "master-v1.key"
    original = v1.read_bytes()
    other_key = os.urandom(32)
    if keys.startswith("a different"):
        _write_key(v1, other_key)
        expected = "master key v1 in .* is not the one this store's data keys were wrapped with"
    elif keys.startswith("no master"):
        v1.unlink()
        expected = "wrapped by master key v1, which is not in"
    else:
        _write_key(store.master_dir / "master-v2.key", other_key)
        expected = "master key v2 in .* is newer than any this store uses; run `realty keys rotate`"
    before = store.counts()
    listing = sorted(p.name for p in store.master_dir.iterdir())

    with pytest.raises(KeyringMismatch, match=expected) as caught:
        RealtyLedger(store.settings())
    message = str(caught.value)
    for secret in (original.strip().decode(), base64.b64encode(other_key).decode(), other_key.hex()):
        assert secret[:16] not in message
    assert "\n" not in message
    assert store.counts() == before
    assert sorted(p.name for p in store.master_dir.iterdir()) == listing  # no key made either

    if keys.startswith("a different"):
        v1.write_bytes(original)
    elif keys.startswith("no master"):
        _write_key(v1, base64.b64decode(original))
    else:
        (store.master_dir / "master-v2.key").unlink()
    app = store.open()  # the right keys open it again, with nothing lost
    try:
        assert app.state(customer)["name"].startswith("测试张三丰")
    finally:
        app.close()


# --- 5. rotation through the command line ---------------------------------------------------------


def keys_cli(store: Store, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``realty`` as a process on this store, its master keys from the store's directory: no REALTY_*
    of the test run (so not the suite's REALTY_MASTER_KEYS) unless given in ``env``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("REALTY_")}
    clean.update({"REALTY_DATABASE_URL": store.url, "REALTY_MASTER_KEYS_DIR": str(store.master_dir),
                  "REALTY_SIGNING_KEYS_DIR": str(store.tmp / "keys"), "COLUMNS": "200", **env})
    return subprocess.run([str(e2e_cli.REALTY), *args], capture_output=True, text=True, timeout=600, env=clean,
                          cwd=store.tmp, check=False)


def test_rotating_the_master_key_rewraps_every_data_key_and_the_old_one_can_go(store: Store) -> None:
    app = store.open()
    try:
        team = register_team(app, name="轮换组")
        customers = dict(distinctive_customer(app, team) for _ in range(4))
        app.audit.checkpoint()
        live = app.data_keys.status()["master_keys"]["versions"][1]
    finally:
        app.close()

    running = RealtyLedger(store.settings(key_cache_seconds=0))  # a server that goes on running meanwhile
    try:
        rotated = keys_cli(store, "keys", "rotate")
        assert rotated.returncode == 0, rotated.stderr
        assert f"new master key v2 in {store.master_dir}: re-wrapped {live} data keys" in rotated.stdout
        assert "v1 wraps no data key any more and can be removed" in rotated.stdout
        for customer, details in customers.items():  # its keys, unwrapped again, are now wrapped by v2
            assert running.state(customer)["name"] == details["name"]
    finally:
        running.close()

    app = store.open()  # a restart: the new master key is the active one
    try:
        for customer, details in customers.items():
            assert {k: app.state(customer)[k] for k in details} == details
        newcomer, details = distinctive_customer(app, team)  # its key is wrapped by v2
        assert app.state(newcomer)["phone"] == details["phone"]
    finally:
        app.close()
    verified = keys_cli(store, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr

    status = keys_cli(store, "keys", "status", "--json")
    assert status.returncode == 0, status.stderr
    body = json.loads(status.stdout)
    versions = {v["version"]: v for v in body["master_keys"]["versions"]}
    assert body["master_keys"]["active"] == 2 and body["master_keys"]["source"] == "directory"
    assert versions[1]["wraps"] == 0 and versions[1]["can_be_removed"]
    assert versions[2]["wraps"] == sum(p["live"] for p in body["data_keys"].values()) == live + 1
    assert not versions[2]["can_be_removed"] and body["usable"]

    (store.master_dir / "master-v1.key").unlink()
    app = store.open()
    try:
        for customer, details in customers.items():
            assert app.state(customer)["id_number"] == details["id_number"]
    finally:
        app.close()


# --- 6. a wrapped data key moved onto another key's row -------------------------------------------


def test_a_wrapped_key_swapped_between_two_records_fails_as_tampering_not_garbage(store: Store,
                                                                                  ledger: RealtyLedger) -> None:
    team = register_team(ledger, name="换钥组")
    first, _ = distinctive_customer(ledger, team)
    second, details = distinctive_customer(ledger, team)
    rows = {owner: (key_id, bytes(wrapped)) for key_id, owner, wrapped in store.query(
        "SELECT key_id, owner_id, wrapped FROM realty_data_keys WHERE owner_id IN (?, ?) AND purpose = 'record'",
        (first, second))}
    assert set(rows) == {first, second}
    store.run("UPDATE realty_data_keys SET wrapped = ? WHERE key_id = ?", (rows[second][1], rows[first][0]))
    store.run("UPDATE realty_data_keys SET wrapped = ? WHERE key_id = ?", (rows[first][1], rows[second][0]))

    fresh = store.open()  # a process that has not got the keys in memory
    try:
        for customer in (first, second):
            with pytest.raises(KeyringMismatch) as caught:
                fresh.state(customer)
            key_id = rows[customer][0]
            assert f"data key {key_id} does not open" in str(caught.value)
            assert "tampered key row" in str(caught.value)
    finally:
        fresh.close()
    store.run("UPDATE realty_data_keys SET wrapped = ? WHERE key_id = ?", (rows[second][1], rows[second][0]))
    fresh = store.open()
    try:
        assert fresh.state(second)["name"] == details["name"]  # the key put back opens again
    finally:
        fresh.close()


# --- 7. crypto-shredding ----------------------------------------------------------------------------


def test_destroying_a_subjects_keys_erases_its_personal_data_and_nothing_else(store: Store,
                                                                            ledger: RealtyLedger) -> None:
    team = register_team(ledger, name="粉碎组")
    erased, details = distinctive_customer(ledger, team)
    ledger.raise_request(team.consultant, erased, subject=f"投诉{secrets.token_hex(3)}")
    kept, kept_details = distinctive_customer(ledger, team)
    ledger.audit.checkpoint()
    wrapped = [bytes(w) for (w,) in store.query(
        "SELECT wrapped FROM realty_data_keys WHERE subject_id = ?", (erased,))]
    assert wrapped
    log_before = [bytes(s) for (s,) in store.query("SELECT state FROM {events} ORDER BY 1")]

    destroyed = ledger.data_keys.destroy(subject_ids=[erased], reason="PIPL Art. 47 erasure request")
    assert len(destroyed) == len(wrapped)

    for app in (ledger, fresh := store.open()):  # this process, and one that starts afresh
        try:
            history = app.history(erased)
            recorded = next(e["data"] for e in history if e["event"] == PERSONAL_DETAILS)
            assert recorded["name"] == recorded["phone"] == recorded["id_number"] == ERASED, recorded
            raised = next(e["data"] for e in history if e["event"] == "realty.customer.request_raised")
            assert raised["subject"] == ERASED
            assert {k: app.state(erased)[k] for k in details} == dict.fromkeys(details, ERASED)
            assert {k: app.state(kept)[k] for k in kept_details} == kept_details
        finally:
            if app is fresh:
                app.close()
    assert [bytes(s) for (s,) in store.query("SELECT state FROM {events} ORDER BY 1")] == log_before
    assert ledger.audit.verify().clean

    dump = store.dump()
    for token in wrapped:
        assert token not in dump and token.hex().encode() not in dump
    assert_absent(dump, details)

    # Even the holder of every master key cannot open the shredded fields any more.
    version = store.version_of(erased, PERSONAL_DETAILS)
    log_token = store.state(erased, version)
    log_key = ledger.data_keys.key_by_id(key_id_of(log_token))
    assert log_key is not None
    state = json.loads(open_sealed(log_key, log_token, state_aad(uuid.UUID(erased), version, PERSONAL_DETAILS)))
    field = base64.b64decode(state["name"][SEALED])
    assert ledger.data_keys.raw_key(key_id_of(field)) is None
    for (key_id,) in store.query("SELECT key_id FROM realty_data_keys WHERE wrapped IS NOT NULL"):
        raw = ledger.data_keys.raw_key(uuid.UUID(key_id))
        assert raw is not None
        with pytest.raises(CiphertextInvalid):
            open_sealed(raw, field, b"")  # no live key (nor any aad) opens it: its key is gone
    (row,) = store.query("SELECT destroyed_reason, destroyed_at, wrapped, master_version FROM realty_data_keys "
                         "WHERE key_id = ?", (str(key_id_of(field)),))
    assert row[0] == "PIPL Art. 47 erasure request" and row[1] and row[2] is None and row[3] is None


# --- 8. a store written before encryption -------------------------------------------------------------


def test_a_store_written_before_encryption_reads_as_before_and_seals_what_is_new(tmp_path: Path) -> None:
    copy = tmp_path / "events-v4.sqlite3"
    shutil.copyfile(FIXTURES / "events-v4.sqlite3", copy)
    expected = json.loads((FIXTURES / "events-v4.expected.json").read_text(encoding="utf-8"))
    store = Store(f"sqlite:///{copy}", tmp_path)
    old = store.query("SELECT COUNT(*), MAX(rowid) FROM {events}")[0]
    assert store.query("SELECT COUNT(*) FROM {events} WHERE substr(state, 1, 1) = X'7B'")[0][0] == old[0]

    app = store.open()
    try:
        assert app.data_keys.legacy_plaintext
        for record_id, record in list(expected["records"].items())[:20]:
            assert app.state(record_id)["version"] == record["state"]["version"]
        team = register_team(app, name="新加密组")
        customer, details = distinctive_customer(app, team)
        assert app.state(customer)["name"] == details["name"]
    finally:
        app.close()

    new_rows = store.query("SELECT state FROM {events} WHERE rowid > ?", (old[1],))
    assert len(new_rows) > 10
    assert all(bytes(state)[:1] == b"\x01" for (state,) in new_rows)
    assert store.query("SELECT COUNT(*) FROM {events} WHERE substr(state, 1, 1) = X'7B'")[0][0] == old[0]
    assert_absent(copy.read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("events-v4.sqlite3-*")),
                  details)
    status = keys_cli(store, "keys", "status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["legacy_plaintext"] == {"before_encryption": True, "rows": old[0]}
