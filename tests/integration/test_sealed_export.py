"""A deal's service file exported from a real ledger (SQLite and PostgreSQL) as a sealed package:
it validates with the Library of Congress tool and with ``realty archive verify`` (offline, with the
exported public keys only); one byte changed or one file dropped fails, naming the file.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from archive.package_crypto import generate_identity, identity_pem, recipient_text
from archive.package_verify import verify_package
from archive.signing import load_public_keys
from domain.errors import NotPermitted
from service.application import RealtyLedger
from tests.conftest import Team
from tests.integration.scenarios import execute, list_flat, match, receive, sign
from tests.unit.test_content_types import minimal_pdf, minimal_png

BAGIT_PY = Path(sys.executable).with_name("bagit.py")
REALTY = Path(sys.executable).with_name("realty")


def bagit_validates(bag: Path) -> bool:
    done = subprocess.run([sys.executable, str(BAGIT_PY), "--validate", str(bag)], capture_output=True, text=True,
                          timeout=120, check=False)
    return done.returncode == 0


def filed_deal(app: RealtyLedger, team: Team) -> tuple[str, str, str]:
    """A closed deal whose file holds a contract (two versions), an ID copy and a receipt, filed and sealed."""
    listing = list_flat(app, team.consultant)
    customer = receive(app, team)
    match(app, team, customer, listing)
    deal = sign(app, team, customer, listing)
    execute(app, team, deal)
    file_id = app.open_service_file(team.consultant, owner_kind="deal", owner_id=deal, record_class="deal_file").id
    contract = app.upload_document(team.consultant, file_id, content=minimal_pdf(), kind="contract").entity_id
    app.upload_document(team.consultant, file_id, content=minimal_pdf() + b"%% v2\n", document_id=contract,
                        reason="signed page replaced by the notarised copy")
    app.upload_document(team.consultant, file_id, content=minimal_png(), kind="id_copy")
    app.upload_document(team.consultant, file_id, content=minimal_pdf(), kind="receipt")
    for action in ("check_completeness", "file", "seal"):
        app.file_command(team.archivist, file_id, action)
    return customer, deal, file_id


def test_an_exported_deal_file_validates_with_bagit_and_our_verifier(app: RealtyLedger, team: Team,
                                                                      tmp_path: Path) -> None:
    _, deal, file_id = filed_deal(app, team)
    number = app.state(file_id)["archive_number"]

    answer = app.export_package(team.archivist, deal_id=deal, out=tmp_path / "bag", fmt="dir")

    bag = Path(answer["path"])
    assert answer["external_identifier"] == number and answer["documents"] == 4
    assert bagit_validates(bag)
    keys = load_public_keys(app.audit.keyring.export_public())
    report = verify_package(bag, public_keys=keys)
    assert report.ok, report.as_dict()
    info = (bag / "bag-info.txt").read_text(encoding="utf-8")
    assert f"External-Identifier: {number}" in info and "Payload-Oxum:" in info
    lines = (bag / "data" / "events.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert {r["originator_id"] for r in records} == {deal, file_id}
    # The reads the export made are on the file, inside the package.
    assert sum(1 for r in records if r["topic"] == "realty.service_file.document_read") == 4
    # The archivist's view: the payer's account masked, never in clear.
    assert "6222020200112233445" not in "\n".join(lines)

    for victim in [p for p in bag.rglob("*") if p.is_file()]:
        original = victim.read_bytes()
        victim.write_bytes(original[:-1] + bytes([original[-1] ^ 1]) if original else b"x")
        try:
            failed = verify_package(bag, public_keys=keys)
            assert not failed.ok
            named = {f for c in failed.failures for f in c.files}
            assert victim.relative_to(bag).as_posix() in named, (victim, failed.as_dict())
        finally:
            victim.write_bytes(original)
    payload = next((bag / "data" / "documents").rglob("*.pdf"))
    payload.unlink()
    assert not bagit_validates(bag)
    dropped = verify_package(bag, public_keys=keys)
    assert not dropped.ok and payload.relative_to(bag).as_posix() in {f for c in dropped.failures for f in c.files}


def test_the_cli_exports_an_encrypted_tar_that_only_the_recipient_can_verify(app: RealtyLedger, team: Team,
                                                                               tmp_path: Path) -> None:
    _, deal, file_id = filed_deal(app, team)
    number = app.state(file_id)["archive_number"]
    identity = generate_identity()
    (tmp_path / "court.key").write_bytes(identity_pem(identity))
    (tmp_path / "court.pub").write_text(recipient_text(identity.public_key()), encoding="utf-8")
    package = app.export_package(team.archivist, archive_no=number, out=tmp_path / "sealed.tar", fmt="tar",
                                 encrypt_to=identity.public_key())["path"]
    (tmp_path / "ledger.pub").write_text(app.audit.keyring.export_public(), encoding="utf-8")

    def verify(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(REALTY), "archive", "verify", package, "--public-key",
                               str(tmp_path / "ledger.pub"), *extra], capture_output=True, text=True, timeout=120,
                              check=False, cwd=tmp_path)

    assert verify("--identity", str(tmp_path / "court.key")).returncode == 0
    assert verify().returncode == 2  # no identity: unusable, one line
    other = generate_identity()
    (tmp_path / "other.key").write_bytes(identity_pem(other))
    assert verify("--identity", str(tmp_path / "other.key")).returncode == 2


def test_a_plain_tar_round_trips_through_bagit(app: RealtyLedger, team: Team, tmp_path: Path) -> None:
    customer, _, _ = filed_deal(app, team)
    path = Path(app.export_package(team.compliance, customer_id=customer, out=tmp_path / "c.tar")["path"])
    with tarfile.open(path) as tar:
        tar.extractall(tmp_path / "x", filter="data")
    (top,) = (tmp_path / "x").iterdir()
    assert bagit_validates(top)


def test_only_archivists_and_compliance_export(app: RealtyLedger, team: Team, tmp_path: Path) -> None:
    _, deal, _ = filed_deal(app, team)
    with pytest.raises(NotPermitted):
        app.export_package(team.manager, deal_id=deal, out=tmp_path / "no.tar")
    assert not (tmp_path / "no.tar").exists()
