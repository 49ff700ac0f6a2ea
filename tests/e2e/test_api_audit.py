"""The audit routes over HTTP, on both backends: proofs that verify with an RFC 9162 verifier written
here from the RFC (not ours), signed checkpoints that verify with nothing but the public key, a
record's history with each event's inclusion proof, its state as of a version, a diff, and the
auditors audited. Bad input gets a problem, never a proof.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi.testclient import TestClient

from domain.access_log import access_log_id
from service.application import RealtyLedger
from tests.conftest import Team
from tests.e2e.test_api import api, assert_problem, auth, receive, tokens  # noqa: F401 - fixtures

# --- an independent RFC 9162 verifier (§2.1.3.2 and §2.1.4.2, transcribed; hashlib only) ------------


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def rfc_verify_inclusion(leaf: bytes, index: int, size: int, path: list[bytes], root: bytes) -> bool:
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = _node(p, r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def rfc_verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes,
                           path: list[bytes]) -> bool:
    if first == second:
        return not path and first_root == second_root
    if not path:
        return False
    if first & (first - 1) == 0:  # first is an exact power of 2: prepend first_hash
        path = [first_root, *path]
    fn, sn = first - 1, second - 1
    while fn % 2 == 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            fr, sr = _node(c, fr), _node(c, sr)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _node(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


def signature_holds(checkpoint: dict[str, Any], public_key_line: str) -> bool:
    """docs/audit.md: the signed body is four lines: origin, size, base64 root, RFC 3339 time."""
    key_id, algorithm, key = public_key_line.split()
    assert algorithm == "ed25519" and key_id == checkpoint["key_id"]
    body = (f"{checkpoint['origin']}\n{checkpoint['tree_size']}\n"
            f"{base64.b64encode(bytes.fromhex(checkpoint['root_hash'])).decode()}\n{checkpoint['timestamp']}\n")
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(key)).verify(
            base64.b64decode(checkpoint["signature"]), body.encode())
    except Exception:  # noqa: BLE001 - any failure is "does not hold"
        return False
    return True


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# --- the routes ------------------------------------------------------------------------------------------


def a_history(api: TestClient, tokens: dict[str, str]) -> str:  # noqa: F811
    customer = receive(api, tokens["consultant"])
    r = api.post(f"/customers/{customer}/personal-details", headers=auth(tokens["consultant"]),
                 json={"name": "钱审计", "phone": "13911112222"})
    assert r.status_code == 200, r.text
    for subject in ("学区政策", "贷款额度", "物业费"):
        assert api.post(f"/customers/{customer}/requests", headers=auth(tokens["consultant"]),
                        json={"subject": subject}).status_code == 201
    return customer


def test_proofs_from_the_api_verify_with_an_independent_rfc_9162_verifier(
    api: TestClient, tokens: dict[str, str], app: RealtyLedger  # noqa: F811
) -> None:
    a_history(api, tokens)
    officer = auth(tokens["compliance"])
    first = api.post("/audit/checkpoints", headers=officer)
    assert first.status_code == 201, first.text
    a_history(api, tokens)
    second = api.post("/audit/checkpoints", headers=officer).json()
    first = first.json()
    assert second["tree_size"] > first["tree_size"]
    # Other test workers share the PostgreSQL log and may sign later checkpoints meanwhile.
    assert api.get("/audit/checkpoints/latest", headers=officer).json()["tree_size"] >= second["tree_size"]
    public_key = app.audit.keyring.export_public().strip().splitlines()[-1]
    assert signature_holds(second, public_key) and signature_holds(first, public_key)
    assert not signature_holds({**second, "tree_size": second["tree_size"] - 1}, public_key)

    size = second["tree_size"]
    for position in sorted({0, 1, size // 3, size // 2, size - 2, size - 1}):
        proof = api.get(f"/audit/proofs/inclusion?position={position}&tree_size={size}", headers=officer).json()
        assert proof["tree_size"] == size and proof["checkpoint"] == second
        path = [h(p) for p in proof["proof"]]
        assert rfc_verify_inclusion(h(proof["leaf_hash"]), position, size, path, h(second["root_hash"]))
        assert not rfc_verify_inclusion(h(proof["leaf_hash"]), position ^ 1, size, path, h(second["root_hash"]))

    proof = api.get(f"/audit/proofs/consistency?first={first['tree_size']}&second={size}", headers=officer).json()
    assert proof["first_root_hash"] == first["root_hash"] and proof["second_root_hash"] == second["root_hash"]
    path = [h(p) for p in proof["proof"]]
    assert rfc_verify_consistency(first["tree_size"], size, h(first["root_hash"]), h(second["root_hash"]), path)
    assert not rfc_verify_consistency(first["tree_size"], size, h(second["root_hash"]), h(second["root_hash"]), path)
    for old in (1, 2, 3, size - 1):
        proof = api.get(f"/audit/proofs/consistency?first={old}&second={size}", headers=officer).json()
        assert rfc_verify_consistency(old, size, h(proof["first_root_hash"]), h(second["root_hash"]),
                                      [h(p) for p in proof["proof"]]), old


def test_a_record_history_carries_each_events_inclusion_proof_and_the_officers_read_is_recorded(
    api: TestClient, tokens: dict[str, str], team: Team, app: RealtyLedger  # noqa: F811
) -> None:
    customer = a_history(api, tokens)
    officer = auth(tokens["compliance"])
    checkpoint = api.post("/audit/checkpoints", headers=officer).json()
    body = api.get(f"/audit/customers/{customer}/history", headers=officer).json()
    latest = body["checkpoint"]  # ours, or a later one another test worker signed on the shared log
    assert latest["tree_size"] >= checkpoint["tree_size"]
    assert [e["version"] for e in body["events"]] == [1, 2, 3, 4, 5]
    assert body["events"][1]["data"]["name"] == "钱审计"  # the officer reads in full ...
    for event in body["events"]:
        inclusion = event["inclusion"]
        assert inclusion["covered"] is True and inclusion["tree_size"] == latest["tree_size"]
        assert rfc_verify_inclusion(h(inclusion["leaf_hash"]), inclusion["position"], latest["tree_size"],
                                    [h(p) for p in inclusion["proof"]], h(latest["root_hash"]))
    # ... and that read is on the officer's access log.
    log = app.state(access_log_id(uuid.UUID(team.id(team.compliance)), datetime.now(UTC).date()))
    assert (customer, "audit.history") in [(r["subject_id"], r["purpose"]) for r in log["reads"]]
    masked = api.get(f"/audit/customers/{customer}/history", headers=auth(tokens["admin"])).json()
    assert "钱审计" not in str(masked) and "13911112222" not in str(masked)

    # An event recorded after the latest checkpoint says so rather than offering a proof.
    api.post(f"/customers/{customer}/requests", headers=auth(tokens["consultant"]), json={"subject": "车位"})
    after = api.get(f"/audit/customers/{customer}/history", headers=officer).json()
    later = after["events"][-1]["inclusion"]
    if app.settings.database.backend == "sqlite":  # nobody else signs on this log
        assert later["covered"] is False and later["position"] >= after["checkpoint"]["tree_size"]
    else:
        assert later["covered"] is (later["position"] < after["checkpoint"]["tree_size"])


def test_state_as_of_a_version_and_the_difference_between_two(
    api: TestClient, tokens: dict[str, str]  # noqa: F811
) -> None:
    customer = a_history(api, tokens)
    officer = auth(tokens["compliance"])
    v1 = api.get(f"/audit/customers/{customer}/as-of?version=1", headers=officer).json()
    assert v1["version"] == 1 and v1.get("name") in (None, "")
    v2 = api.get(f"/audit/customers/{customer}/as-of?version=2", headers=officer).json()
    assert v2["name"] == "钱审计"
    diff = api.get(f"/audit/customers/{customer}/diff?from=1&to=2", headers=officer).json()
    assert diff["changed"]["name"] == {"from": v1.get("name"), "to": "钱审计"}
    assert [e["version"] for e in diff["events"]] == [2]
    assert_problem(api.get(f"/audit/customers/{customer}/diff?from=3&to=2", headers=officer), 422, "invalid_value")
    assert_problem(api.get(f"/audit/customers/{customer}/as-of", headers=officer), 422, "invalid_value")
    assert_problem(api.get(f"/audit/deals/{customer}/history", headers=officer), 404, "not_found")


def test_bad_proof_requests_get_a_problem_never_a_proof(
    api: TestClient, tokens: dict[str, str], app: RealtyLedger  # noqa: F811
) -> None:
    officer = auth(tokens["compliance"])
    a_history(api, tokens)
    if app.settings.database.backend == "sqlite":  # a log of its own, nothing signed yet
        assert_problem(api.get("/audit/checkpoints/latest", headers=officer), 404, "no_checkpoint")
        unsigned = assert_problem(api.get("/audit/proofs/inclusion?position=0", headers=officer),
                                  422, "proof_unavailable")
        assert "no checkpoint" in unsigned["detail"]
    size = api.post("/audit/checkpoints", headers=officer).json()["tree_size"]
    # Sizes are given explicitly: on PostgreSQL other test workers may sign later checkpoints.
    beyond = api.get(f"/audit/proofs/inclusion?position={size}&tree_size={size}", headers=officer)
    assert "outside a tree" in assert_problem(beyond, 422, "proof_unavailable")["detail"]
    assert_problem(api.get(f"/audit/proofs/inclusion?position=0&tree_size={size * 1000}", headers=officer),
                   422, "proof_unavailable")
    assert_problem(api.get("/audit/proofs/inclusion?position=0&tree_size=0", headers=officer), 422, "invalid_request")
    assert_problem(api.get("/audit/proofs/inclusion?position=-1", headers=officer), 422, "invalid_request")
    assert_problem(api.get(f"/audit/proofs/consistency?first={size + 1}&second={size}", headers=officer),
                   422, "proof_unavailable")
    assert_problem(api.get("/audit/proofs/consistency?first=0", headers=officer), 422, "invalid_request")
    assert_problem(api.get("/audit/proofs/inclusion?position=0", headers=auth(tokens["consultant"])), 403, "forbidden")
