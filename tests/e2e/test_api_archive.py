"""Sealed exports over HTTP: an archivist asks for a package, downloads it, and it verifies offline."""

from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi.testclient import TestClient

from archive.package_verify import verify_package
from archive.signing import load_public_keys
from service.application import RealtyLedger
from tests.conftest import Team
from tests.e2e.test_api import api, assert_problem, auth, receive, tokens  # noqa: F401 - fixtures
from tests.unit.test_content_types import minimal_png


def test_an_archivist_exports_downloads_and_the_package_verifies(api: TestClient, tokens: dict[str, str],  # noqa: F811
                                                                 app: RealtyLedger, team: Team,
                                                                 tmp_path: Path) -> None:
    customer = receive(api, tokens["consultant"])
    file_id = app.open_service_file(team.consultant, owner_kind="customer", owner_id=customer,
                                    record_class="customer_file").id
    app.upload_document(team.consultant, file_id, content=minimal_png(), kind="id_copy")

    made = api.post("/archive/exports", headers=auth(tokens["archivist"]),
                    json={"customer_id": customer, "format": "zip"})

    assert made.status_code == 201, made.text
    answer = made.json()
    assert made.headers["Location"] == answer["download"] and answer["documents"] == 1
    got = api.get(answer["download"], headers=auth(tokens["compliance"]))
    assert got.status_code == 200 and got.headers["content-type"] == "application/zip"
    assert got.headers["cache-control"] == "no-store"
    assert hashlib.sha256(got.content).hexdigest() == answer["sha256"]
    package = tmp_path / "download.zip"
    package.write_bytes(got.content)
    report = verify_package(package, public_keys=load_public_keys(app.audit.keyring.export_public()))
    assert report.ok, report.as_dict()


def test_exports_are_refused_to_other_roles_and_for_what_does_not_exist(api: TestClient,  # noqa: F811
                                                                         tokens: dict[str, str]) -> None:  # noqa: F811
    customer = receive(api, tokens["consultant"])
    refused = api.post("/archive/exports", headers=auth(tokens["manager"]), json={"customer_id": customer})
    assert_problem(refused, 403, "forbidden")
    unknown = api.post("/archive/exports", headers=auth(tokens["archivist"]),
                       json={"customer_id": "0b8e5f1e-6f5c-4c49-9a53-2a7f0b1e9c11"})
    assert_problem(unknown, 404, "not_found")
    both = api.post("/archive/exports", headers=auth(tokens["archivist"]),
                    json={"customer_id": customer, "archive_no": "DF-2026-000000000000"})
    assert_problem(both, 422, "invalid_value")
    assert_problem(api.get("/archive/exports/" + "0" * 32, headers=auth(tokens["archivist"])), 404, "not_found")
    assert_problem(api.get("/archive/exports/" + "." * 32, headers=auth(tokens["archivist"])), 404, "not_found")
    assert api.get("/archive/exports/..%2F..%2Fetc%2Fpasswd", headers=auth(tokens["archivist"])).status_code == 404
