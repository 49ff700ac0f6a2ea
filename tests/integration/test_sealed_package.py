"""Sealed packages: built as real BagIt bags on disk, validated by the Library of Congress tool
(``bagit.py --validate``, never ``--fast``) as a subprocess and by ``verify_package``; then every
file is changed or dropped in turn, an attacker re-runs bagit, the wrong key is used, an encrypted
package is cut short or flipped, and the verifier must fail, naming the file.

The log is real: stored states (random bytes, as ciphertext looks), their RFC 9162 leaves from
``archive.chain``, the tree and proofs from ``archive.merkle``, and a checkpoint signed by a real
``SigningKeyring``. One more test takes a customer's service file from a real ``RealtyLedger``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import uuid
import zipfile
from pathlib import Path
from typing import Any

import bagit
import pytest

from archive import merkle
from archive.chain import event_leaf
from archive.package_crypto import HEADER_SIZE, SEGMENT, TAG, generate_identity, identity_pem, recipient_text
from archive.package_verify import PackageUnusable, Report, verify_package
from archive.sealed_package import (
    PackageContents,
    PackagedDocument,
    PackagedEvent,
    PackageError,
    build_package,
)
from archive.signing import SigningKeyring, load_public_keys, sign_checkpoint

BAGIT_PY = Path(sys.executable).with_name("bagit.py")
SECRET_PHONE = "13912345678"
SIGNED_BY_BAGIT = ["bagit.txt", "bag-info.txt", "manifest-sha256.txt", "checkpoint.json", "proofs.jsonl",
                   "data/events.jsonl", "data/documents.jsonl", "data/summary.md",
                   "data/documents/contract/v2-contract.pdf", "data/documents/id/front.jpg"]
OURS_ONLY = ["tagmanifest-sha256.txt", "tagmanifest-sha256.txt.sig"]


def bagit_py_validates(bag_dir: Path) -> bool:
    done = subprocess.run([sys.executable, str(BAGIT_PY), "--validate", "--quiet", str(bag_dir)],
                          capture_output=True, text=True, timeout=60)
    return done.returncode == 0


def named(report: Report, name: str) -> bool:
    return any(name in c.files for c in report.failures)


# --- a real log, and a record's service file out of it ----------------------------------------------


@pytest.fixture(scope="module")
def keyring(tmp_path_factory: pytest.TempPathFactory) -> SigningKeyring:
    ring = SigningKeyring(tmp_path_factory.mktemp("keys") / "keys")
    ring.init()
    return ring


@pytest.fixture(scope="module")
def keys(keyring: SigningKeyring) -> dict:
    return load_public_keys(keyring.export_public())


@pytest.fixture(scope="module")
def contents(keyring: SigningKeyring, tmp_path_factory: pytest.TempPathFactory) -> PackageContents:
    customer = str(uuid.uuid4())
    rows, version = [], 0
    for position in range(57):
        mine = position % 7 == 3
        version += mine
        rows.append((customer if mine else str(uuid.uuid4()), version if mine else 1,
                     "realty.customer.details_recorded" if mine else "realty.staff.registered", os.urandom(400)))
    leaves = [event_leaf(*row) for row in rows]
    checkpoint = sign_checkpoint(keyring, "realty-ledger", len(leaves), merkle.root(leaves))
    events = [PackagedEvent(p, *rows[p], record={"name": "Customer.DetailsRecorded", "version": rows[p][1],
                                                 "data": {"phone": SECRET_PHONE, "name": "钱多多"}})
              for p in range(len(rows)) if rows[p][0] == customer]
    contract = os.urandom(150_000)  # with the rest, more than two 64 KiB segments once encrypted
    scan = tmp_path_factory.mktemp("uploads") / "front.jpg"
    scan.write_bytes(os.urandom(3000))
    events[1] = PackagedEvent(events[1].position, *rows[events[1].position][:4],
                              record={"name": "Customer.DocumentAttached", "sha256": hashlib.sha256(contract).hexdigest()})
    documents = [PackagedDocument("contract/v2-contract.pdf", contract, "application/pdf",
                                  hashlib.sha256(contract).hexdigest(), event_position=events[1].position),
                 PackagedDocument("id/front.jpg", scan, "image/jpeg", hashlib.sha256(scan.read_bytes()).hexdigest())]
    proofs = {e.position: {"position": e.position, "tree_size": len(leaves), "leaf_hash": leaves[e.position].hex(),
                           "proof": [h.hex() for h in merkle.inclusion_proof(leaves, e.position)]} for e in events}
    return PackageContents(
        external_identifier="沪档-2026-000123", source_organization="浦东一组 Realty", subject=f"customer {customer}",
        events=events, documents=documents, summary="# 客户服务档案\n\n8 events, 2 documents.\n",
        checkpoint=json.loads(checkpoint.to_json()), proofs=proofs, retention_end="2031-12-31",
        holds=["hold 7f3a: 诉讼保全 (court order 2026-沪-17)"])


@pytest.fixture(scope="module")
def built(contents: PackageContents, keyring: SigningKeyring, tmp_path_factory: pytest.TempPathFactory) -> dict:
    where = tmp_path_factory.mktemp("built")
    return {fmt: build_package(contents, where / f"A-000123.{fmt}", signer=keyring, fmt=fmt)
            for fmt in ("dir", "tar", "zip")}


@pytest.fixture
def bag(built: dict, tmp_path: Path) -> Path:
    """A fresh copy of the built bag folder, to damage."""
    return Path(shutil.copytree(built["dir"], tmp_path / "A-000123"))


# --- a good package -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["dir", "tar", "zip"])
def test_a_built_package_validates_with_the_library_of_congress_tool_and_verifies(
        built: dict, keys: dict, fmt: str, tmp_path: Path) -> None:
    path = built[fmt]
    if fmt == "dir":
        bag_dir = path
    else:  # unpacked by the standard library, not by our code
        with (tarfile.open(path) if fmt == "tar" else zipfile.ZipFile(path)) as archive:
            names = archive.getnames() if fmt == "tar" else archive.namelist()
            assert {n.split("/")[0] for n in names} == {"A-000123"}, "one top-level folder"
            archive.extractall(tmp_path)
        bag_dir = tmp_path / "A-000123"
    assert bagit_py_validates(bag_dir)
    report = verify_package(path, public_keys=keys)
    assert report.ok, [c.detail for c in report.failures]
    assert {c.name for c in report.checks} >= {"bagit", "payload-oxum", "signature", "tag files", "checkpoint",
                                               "pairing", "inclusion", "bag-info", "documents"}
    assert SECRET_PHONE not in json.dumps(report.as_dict())


def test_the_archive_members_come_in_a_fixed_order(built: dict) -> None:
    with tarfile.open(built["tar"]) as tar:
        names = tar.getnames()
    with zipfile.ZipFile(built["zip"]) as zf:
        assert [n.rstrip("/") for n in zf.namelist()] == names
    assert names[:3] == ["A-000123", "A-000123/bagit.txt", "A-000123/bag-info.txt"]
    assert names.index("A-000123/data") > names.index("A-000123/tagmanifest-sha256.txt.sig")


def test_bag_info_carries_the_archive_number_the_checkpoint_and_the_holds(built: dict, contents: Any) -> None:
    info = bagit.Bag(str(built["dir"])).info
    assert info["External-Identifier"] == "沪档-2026-000123"
    assert info["Realty-Checkpoint-Tree-Size"] == "57"
    assert info["Realty-Legal-Hold"] == "hold 7f3a: 诉讼保全 (court order 2026-沪-17)"
    assert info["Realty-First-Position"] == str(contents.events[0].position)
    tagmanifest = (built["dir"] / "tagmanifest-sha256.txt").read_text()
    assert "tagmanifest-sha256.txt.sig" not in tagmanifest and "checkpoint.json" in tagmanifest


# --- damage ---------------------------------------------------------------------------------------


def every_file(bag_dir: Path) -> list[str]:
    return sorted(p.relative_to(bag_dir).as_posix() for p in bag_dir.rglob("*") if p.is_file())


def test_every_file_of_the_bag_is_one_the_tests_below_damage(built: dict) -> None:
    assert every_file(built["dir"]) == sorted(SIGNED_BY_BAGIT + OURS_ONLY)


@pytest.mark.parametrize("name", SIGNED_BY_BAGIT + OURS_ONLY)
def test_one_changed_byte_anywhere_in_any_file_fails_naming_that_file(bag: Path, keys: dict, name: str) -> None:
    target = bag / name
    original = target.read_bytes()
    for at in (0, len(original) // 2, len(original) - 1):
        changed = bytearray(original)
        changed[at] ^= 0x01
        target.write_bytes(bytes(changed))
        report = verify_package(bag, public_keys=keys)
        assert not report.ok and named(report, name), (at, [c.detail for c in report.failures])
        if at == len(original) // 2 and name in SIGNED_BY_BAGIT:
            assert not bagit_py_validates(bag)
    target.write_bytes(original)
    assert verify_package(bag, public_keys=keys).ok


@pytest.mark.parametrize("name", SIGNED_BY_BAGIT + OURS_ONLY)
def test_a_dropped_file_fails_naming_it(bag: Path, keys: dict, name: str) -> None:
    (bag / name).unlink()
    report = verify_package(bag, public_keys=keys)
    assert not report.ok and named(report, name), [c.detail for c in report.failures]
    if name in SIGNED_BY_BAGIT:
        assert not bagit_py_validates(bag)


@pytest.mark.parametrize("name", ["data/extra.txt", "data/documents/contract/v3.pdf", "notes.txt"])
def test_an_added_file_fails_naming_it(bag: Path, keys: dict, name: str) -> None:
    (bag / name).write_bytes(b"added later\n")
    report = verify_package(bag, public_keys=keys)
    assert not report.ok and named(report, name), [c.detail for c in report.failures]
    if name.startswith("data/"):
        assert not bagit_py_validates(bag)


def change_a_stored_state(bag: Path) -> int:
    lines = (bag / "data/events.jsonl").read_text(encoding="utf-8").splitlines()
    event = json.loads(lines[2])
    state = bytearray(base64.b64decode(event["stored_state"]))
    state[10] ^= 0xFF
    event["stored_state"] = base64.b64encode(bytes(state)).decode()
    lines[2] = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    (bag / "data/events.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return event["position"]


def test_a_changed_event_with_every_manifest_recomputed_fails_the_signature_and_its_inclusion(
        bag: Path, keys: dict) -> None:
    position = change_a_stored_state(bag)
    bagit.Bag(str(bag)).save(manifests=True)  # the attacker re-runs bagit: the bag is "valid" again
    assert bagit_py_validates(bag)
    report = verify_package(bag, public_keys=keys)
    failed = {c.name for c in report.failures}
    assert failed == {"signature", "inclusion"}, [c.detail for c in report.failures]
    assert any(f"position {position}" in c.detail and "data/events.jsonl" in c.files for c in report.failures)


def test_the_same_re_signed_with_the_attackers_own_key_still_fails(bag: Path, keys: dict, tmp_path: Path) -> None:
    change_a_stored_state(bag)
    bagit.Bag(str(bag)).save(manifests=True)
    own = SigningKeyring(tmp_path / "attacker")
    own.init()
    message = b"realty-sealed-package/v1 signature over tagmanifest-sha256.txt\n" + \
        (bag / "tagmanifest-sha256.txt").read_bytes()
    key_id, signature = own.sign(message)
    (bag / "tagmanifest-sha256.txt.sig").write_text(json.dumps({
        "format": "realty-package-signature/v1", "signed_file": "tagmanifest-sha256.txt", "key_id": key_id,
        "signature": base64.b64encode(signature).decode()}))
    report = verify_package(bag, public_keys=keys)
    assert {c.name for c in report.failures} == {"signature", "inclusion"}
    assert verify_package(bag, public_keys=load_public_keys(own.export_public())).failures  # checkpoint, inclusion


def test_the_wrong_public_key_fails_the_signature_and_the_checkpoint(built: dict, tmp_path: Path) -> None:
    other = SigningKeyring(tmp_path / "other")
    other.init()
    report = verify_package(built["tar"], public_keys=load_public_keys(other.export_public()))
    assert {c.name for c in report.failures} == {"signature", "checkpoint"}
    assert named(report, "tagmanifest-sha256.txt.sig") and named(report, "checkpoint.json")


@pytest.mark.parametrize("fmt", ["tar", "zip"])
def test_a_serialized_package_cut_short_fails_naming_the_archive(built: dict, keys: dict, fmt: str,
                                                                 tmp_path: Path) -> None:
    data = built[fmt].read_bytes()
    cuts = [len(data) // 2, len(data) - 700]  # for a zip: in its central directory
    if fmt == "tar":  # in the last member, and exactly after it, where tarfile itself says nothing
        with tarfile.open(built[fmt]) as tar:
            last = tar.getmembers()[-1]
        cuts[1:] = [last.offset_data + 10, last.offset_data + ((last.size + 511) // 512) * 512]
    for cut in cuts:
        short = tmp_path / f"cut-{cut}.{fmt}"
        short.write_bytes(data[:cut])
        report = verify_package(short, public_keys=keys)
        assert not report.ok and named(report, short.name), (cut, [c.detail for c in report.failures])


@pytest.mark.parametrize("fmt", ["tar", "zip"])
def test_a_flipped_byte_in_a_serialized_package_fails(built: dict, keys: dict, fmt: str, tmp_path: Path) -> None:
    data = built[fmt].read_bytes()
    for at in range(300, len(data), len(data) // 9):
        changed = bytearray(data)
        changed[at] ^= 0x01
        damaged = tmp_path / f"flip-{at}.{fmt}"
        damaged.write_bytes(bytes(changed))
        assert not verify_package(damaged, public_keys=keys).ok, at


# --- encryption -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sealed(contents: PackageContents, keyring: SigningKeyring, tmp_path_factory: pytest.TempPathFactory) -> dict:
    where = tmp_path_factory.mktemp("sealed")
    identity = generate_identity()
    return {"identity": identity, **{fmt: build_package(contents, where / f"A-000123.{fmt}.sealed", signer=keyring,
                                                      fmt=fmt, encrypt_to=identity.public_key())
                                     for fmt in ("tar", "zip")}}


@pytest.mark.parametrize("fmt", ["tar", "zip"])
def test_an_encrypted_package_verifies_with_the_recipients_identity(sealed: dict, keys: dict, fmt: str) -> None:
    report = verify_package(sealed[fmt], public_keys=keys, identity=sealed["identity"])
    assert report.ok and report.kind == f"encrypted {fmt}", [c.detail for c in report.failures]
    assert sealed[fmt].read_bytes()[HEADER_SIZE:].find(b"bagit.txt") == -1


def test_an_encrypted_package_refuses_a_missing_or_wrong_identity(sealed: dict, keys: dict) -> None:
    with pytest.raises(PackageUnusable, match="identity is needed"):
        verify_package(sealed["tar"], public_keys=keys)
    with pytest.raises(PackageUnusable, match="encrypted for recipient key"):
        verify_package(sealed["tar"], public_keys=keys, identity=generate_identity())


def test_an_encrypted_package_cut_short_or_changed_anywhere_is_refused(sealed: dict, keys: dict,
                                                                        tmp_path: Path) -> None:
    data = sealed["tar"].read_bytes()
    assert len(data) > HEADER_SIZE + 2 * (SEGMENT + TAG)
    damaged: dict[str, bytes] = {
        "inside the header": data[:50],
        "at a segment boundary": data[:HEADER_SIZE + SEGMENT + TAG],
        "inside a segment": data[:HEADER_SIZE + SEGMENT + 999],
        "with a segment dropped": data[:HEADER_SIZE] + data[HEADER_SIZE + SEGMENT + TAG:],
        "with two segments swapped": data[:HEADER_SIZE] + data[HEADER_SIZE + SEGMENT + TAG:HEADER_SIZE + 2 * (SEGMENT + TAG)]
        + data[HEADER_SIZE:HEADER_SIZE + SEGMENT + TAG] + data[HEADER_SIZE + 2 * (SEGMENT + TAG):],
        "with bytes appended": data + b"\x00" * 20,
    }
    for at in (30, HEADER_SIZE - 5, HEADER_SIZE + 10, HEADER_SIZE + SEGMENT + 100, len(data) - 3):
        flipped = bytearray(data)
        flipped[at] ^= 0x01
        damaged[f"flipped at {at}"] = bytes(flipped)
    for what, content in damaged.items():
        path = tmp_path / "damaged.tar.sealed"
        path.write_bytes(content)
        try:
            report = verify_package(path, public_keys=keys, identity=sealed["identity"])
        except PackageUnusable as e:  # a changed recipient key id in the header reads as another recipient's
            assert "recipient key" in str(e) or "not a sealed package" in str(e), what
            continue
        assert [c.name for c in report.failures] == ["decryption"], (what, [c.detail for c in report.failures])
        assert named(report, path.name)


# --- what the builder refuses -------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["../escape.pdf", "contract/../../escape.pdf", "/etc/passwd", "contract\\v2.pdf",
                                 "a\x00b.pdf", "line\nbreak.pdf", "", "./a.pdf", "a//b.pdf", "C:evil.pdf", "a/.."])
def test_a_document_name_that_could_leave_the_payload_is_refused(contents: PackageContents, keyring: SigningKeyring,
                                                                  tmp_path: Path, bad: str) -> None:
    doc = PackagedDocument(bad, b"x", "text/plain", hashlib.sha256(b"x").hexdigest())
    with pytest.raises(PackageError):
        build_package(_with(contents, documents=[doc]), tmp_path / "out.tar", signer=keyring)
    assert list(tmp_path.iterdir()) == []


def test_a_document_that_is_not_what_was_recorded_is_refused(contents: PackageContents, keyring: SigningKeyring,
                                                            tmp_path: Path) -> None:
    doc = PackagedDocument("contract/v2.pdf", b"forged", "application/pdf", hashlib.sha256(b"original").hexdigest())
    with pytest.raises(PackageError, match="does not match the hash recorded"):
        build_package(_with(contents, documents=[doc]), tmp_path / "out.zip", signer=keyring, fmt="zip")
    assert list(tmp_path.iterdir()) == []


def test_an_event_whose_proof_does_not_lead_to_the_checkpoint_is_refused(contents: PackageContents,
                                                                        keyring: SigningKeyring, tmp_path: Path) -> None:
    first = contents.events[0]
    forged = PackagedEvent(first.position, first.originator_id, first.originator_version, first.topic,
                           b"not the stored bytes", first.record)
    with pytest.raises(PackageError, match="not proven"):
        build_package(_with(contents, events=[forged, *contents.events[1:]]), tmp_path / "o.tar", signer=keyring)


def _with(contents: PackageContents, **changes: Any) -> PackageContents:
    from dataclasses import replace

    return replace(contents, **changes)


# --- the command line -----------------------------------------------------------------------------------


def run_cli(*argv: str) -> tuple[int, str]:
    """``realty archive ...`` as service.cli.main runs it (parser, command, CliError -> exit code)."""
    import contextlib
    import io

    from service import cli, cli_archive

    parser = cli._Parser(prog="realty")
    parser.add_argument("--database-url")
    sub = parser.add_subparsers(dest="command", parser_class=cli._Parser)
    cli_archive.add_parsers(sub, cli._Parser)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            code = int(parser.parse_args(list(argv)).func(parser.parse_args(list(argv))))
        except cli.CliError as e:
            print(f"realty: error: {e}")
            code = e.exit_code
    return code, out.getvalue()


def test_the_cli_exit_codes(built: dict, sealed: dict, keyring: SigningKeyring, tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text(keyring.export_public())
    identity = tmp_path / "recipient.pem"
    identity.write_bytes(identity_pem(sealed["identity"]))
    code, out = run_cli("archive", "verify", str(built["zip"]), "--public-key", str(keys_file))
    assert code == 0 and "VERIFIED" in out and "✗" not in out and SECRET_PHONE not in out
    assert run_cli("archive", "verify", str(sealed["tar"]), "--public-key", str(keys_file),
                   "--identity", str(identity))[0] == 0

    damaged = Path(shutil.copytree(built["dir"], tmp_path / "damaged"))
    (damaged / "data/summary.md").write_text("rewritten\n")
    code, out = run_cli("archive", "verify", str(damaged), "--public-key", str(keys_file))
    assert code == 1 and "NOT VERIFIED" in out and "data/summary.md" in out and SECRET_PHONE not in out

    garbage = tmp_path / "garbage.txt"
    garbage.write_text("not a key\n")
    for argv in (["archive", "verify", str(tmp_path / "missing.tar"), "--public-key", str(keys_file)],
                 ["archive", "verify", str(built["tar"]), "--public-key", str(garbage)],
                 ["archive", "verify", str(built["tar"]), "--public-key", str(tmp_path / "none.txt")],
                 ["archive", "verify", str(sealed["tar"]), "--public-key", str(keys_file)],
                 ["archive", "verify", str(sealed["tar"]), "--public-key", str(keys_file), "--identity", str(garbage)]):
        code, out = run_cli(*argv)
        assert code == 2 and out.count("\n") == 1, (argv, out)


def test_keygen_writes_a_private_and_a_public_key_and_never_overwrites(tmp_path: Path) -> None:
    from archive.package_crypto import load_identity, load_recipient, recipient_key_id

    code, out = run_cli("archive", "keygen", "--out", str(tmp_path / "court.key"))
    assert code == 0
    identity = load_identity((tmp_path / "court.key").read_bytes())
    assert (tmp_path / "court.key").stat().st_mode & 0o777 == 0o600
    public = load_recipient((tmp_path / "court.key.pub").read_text())
    assert recipient_key_id(public) == recipient_key_id(identity.public_key()) and recipient_key_id(public) in out
    assert recipient_text(public) == (tmp_path / "court.key.pub").read_text()
    assert run_cli("archive", "keygen", "--out", str(tmp_path / "court.key"))[0] == 2


# --- a real ledger ---------------------------------------------------------------------------------------


def test_a_customers_service_file_from_a_real_ledger_verifies(tmp_path: Path) -> None:
    import sqlite3

    from service.application import RealtyLedger
    from service.settings import load_settings
    from tests.conftest import register_team
    from tests.integration.scenarios import receive

    app = RealtyLedger(load_settings(database_url=f"sqlite:///{tmp_path / 'realty.sqlite3'}",
                                     signing_keys_dir=tmp_path / "keys", checkpoint_interval=0))
    try:
        team = register_team(app)
        customer = receive(app, team)
        app.record_personal_details(team.consultant, customer, name="钱多多", phone=SECRET_PHONE)
        app.raise_request(team.consultant, customer, subject="询问学区")
        checkpoint = app.audit.checkpoint()
        places = app.audit.positions(customer)
        history = {e["version"]: e for e in app.history(customer)}
        with sqlite3.connect(tmp_path / "realty.sqlite3") as conn:
            rows = conn.execute("SELECT position, originator_version, topic, state FROM stored_events "
                                "WHERE originator_id = ?", (uuid.UUID(customer).hex,)).fetchall()
        events = [PackagedEvent(p, str(uuid.UUID(customer)), v, t, bytes(s), json.loads(json.dumps(history[v],
                                                                                                   default=str)))
                  for p, v, t, s in rows]
        proofs = {where.position: app.audit.inclusion(where.position, checkpoint.tree_size) for where in places.values()}
        public = app.audit.keyring.export_public()
        contents = PackageContents("沪档-2026-000999", "浦东一组", f"customer {customer}", events, [],
                                   "summary\n", checkpoint, proofs, None, [])
        path = build_package(contents, tmp_path / "out" / "A-999.tar", signer=app.audit.keyring)
    finally:
        app.close()
    report = verify_package(path, public_keys=load_public_keys(public))
    assert report.ok, [c.detail for c in report.failures]

