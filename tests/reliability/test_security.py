"""Unauthorised callers get nothing, on real processes, on SQLite and PostgreSQL.

The topology of production without Docker (``tests/reliability/topology.py``): two ``realty serve``
processes and one ``realty projector`` on one store. On it: no token ever reaches a server's output
or a file of the var directory (the CLI prints a new one once, on stdout only); a token revoked
through one API is refused by the other at the next request; a token is refused the moment it
expires, by every process, including one that cached it as valid a second before; a compliance
officer records nothing through any write route of the process; an internal service account reads
every route it may and never sees a name, phone number, ID number or bank account in full.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from domain.identity import Role
from service.api.app import create_app, route_names
from service.api.permissions import PERMISSIONS, PUBLIC
from service.application import RealtyLedger
from service.tokens import new_token
from tests.conftest import BACKENDS, Team, register_team
from tests.e2e.cli import REALTY
from tests.e2e.test_api import assert_problem
from tests.e2e.test_api_matrix import (
    ACCOUNT,
    LISTING,
    QUERIES,
    Caller,
    Record,
    candidates,
    payload,
    prepare,
    record_kind,
    url_for,
)
from tests.reliability.scratch_stores import scratch_store
from tests.reliability.test_bad_input import on_record
from tests.reliability.topology import Topology, running

# Personal data of the customer the service account reads about (a valid ID number and mobile).
NAME, PHONE, ID_NUMBER = "欧阳娜娜", "13912345678", "11010519491231002X"
PERSONAL = (NAME, PHONE, ID_NUMBER, ACCOUNT, "阳娜娜", "91234567", "19491231", "0200112233")

# The write routes a compliance officer may call: oversight of the record, never the process
# itself — holds, the two-person disposition's second person, erasure requests, checkpoints,
# sealed exports, and their own tokens.
OVERSIGHT = frozenset({
    "customers.request_erasure", "service_files.place_hold", "service_files.release_hold",
    "service_files.approve_disposition", "service_files.reject_disposition", "audit.checkpoint", "archive.export",
    "staff.issue_token", "staff.revoke_token",
})
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class Served:
    topology: Topology
    ledger: RealtyLedger  # the same store, in the test process: setting up and checking
    team: Team
    customer: str
    deal: str
    listing: str

    @property
    def apis(self) -> list[str]:
        return self.topology.api_urls

    def token(self, role: str) -> str:
        return self.topology.tokens[role]

    def outputs(self) -> str:
        processes = [*self.topology.api_processes, *self.topology.projector_processes]
        return "\n".join(p.output() for p in processes)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def at(**delta: float) -> datetime:
    return datetime.now(UTC) + timedelta(**delta)


@pytest.fixture(scope="module", params=BACKENDS)
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp(f"security-{request.param}")
    with scratch_store(request.param, home / "store") as url, \
            running(url, home / "var", apis=2, projectors=1) as topology:
        ledger = topology.open_ledger()
        try:
            team = topology.team
            assert team is not None
            c = team.consultant
            customer = ledger.receive_customer(c, channel="walk_in", reception_started_at=at(minutes=-25),
                                               reception_ended_at=at(minutes=-5)).id
            ledger.record_personal_details(c, customer, name=NAME, phone=PHONE, id_number=ID_NUMBER)
            listing = ledger.list_property(c, **LISTING).id  # type: ignore[arg-type]
            deal = ledger.draft_deal(c, customer_id=customer, listing_id=listing, price=5_000_000, terms="首付三成").id
            ledger.record_payment(c, deal, kind="deposit", amount=100_000, payer_account=ACCOUNT)
            yield Served(topology, ledger, team, customer, deal, listing)
        finally:
            ledger.close()


# --- tokens are never logged ---------------------------------------------------------------------


def secret_of(token: str) -> str:
    return token.split("_", 3)[3]


def test_a_token_is_printed_once_by_the_cli_and_reaches_no_log_and_no_file(served: Served) -> None:
    staff_id = served.team.id(served.team.consultant)
    issued = subprocess.run([str(REALTY), "token", "issue", staff_id, "--label", "前台电脑", "--expires-in-days", "30"],
                            cwd=served.topology.home, env=served.topology.settings_env(), capture_output=True,
                            text=True, timeout=120, check=False)
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip().splitlines()[-1]
    assert token.startswith("rlt_") and issued.stdout.count(token) == 1 and token not in issued.stderr

    # Every kind of request with a token in it, on both APIs: reads, commands, a replayed
    # command, a refused one, and tokens that are not valid (a wrong secret, a revoked one).
    wrong = token[:-1] + ("A" if token[-1] != "A" else "B")
    spare, spare_issued = served.ledger.issue_token(served.team.admin, staff_id, label="to revoke")
    served.ledger.revoke_token(served.team.admin, staff_id, token_id=spare_issued.entity_id or "", reason="丢失")
    for base in served.apis:
        with httpx.Client(base_url=base, timeout=30) as http:
            assert http.get(f"/customers/{served.customer}", headers=auth(token)).status_code == 200
            keyed = {**auth(token), "Idempotency-Key": f"log-{base[-5:]}"}
            for _ in range(2):
                assert http.post(f"/customers/{served.customer}/requests", headers=keyed,
                                 json={"subject": "日志"}).status_code == 201
            assert http.post("/staff", headers=auth(token), json={"name": "x", "role": "administrator",
                                                                  "team": "x"}).status_code == 403
            for bad in (wrong, spare, f"{token} extra", token.upper()):
                assert http.get(f"/customers/{served.customer}", headers=auth(bad)).status_code == 401
            assert http.get(f"/customers/{served.customer}",
                            headers={"Authorization": f"Basic {token}"}).status_code == 401

    time.sleep(0.2)  # the access log line is written as the response goes
    output = served.outputs()
    assert output.count('"route"') >= 20, "the servers wrote no access log: nothing was checked"
    secrets = [token, wrong, spare, *served.topology.tokens.values()]
    for secret in secrets:
        assert secret not in output and secret_of(secret) not in output
    # Nothing else on disk holds one either (logs, keys, journal, documents, a SQLite store and
    # its WAL): the CLI writes no token file (only `realty run`'s demo does, documented).
    for path in served.topology.home.parent.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            for secret in secrets:
                assert secret_of(secret).encode() not in content, f"a token's secret is in {path}"


# --- revoked and expired tokens, on both processes at once ---------------------------------------


def test_a_token_revoked_through_one_api_is_refused_by_the_other_at_once(served: Served) -> None:
    staff_id = served.team.id(served.team.consultant)
    token, issued = served.ledger.issue_token(served.team.admin, staff_id, label="手机")
    first, second = (httpx.Client(base_url=base, timeout=30) for base in served.apis)
    with first, second:
        path = f"/customers/{served.customer}/requests"
        # The second API takes the token, for a command (its cache now vouches for it) and a read.
        assert second.post(path, headers=auth(token), json={"subject": "撤销前"}).status_code == 201
        assert second.get(f"/staff/{staff_id}", headers=auth(token)).status_code == 200
        revoked = first.post(f"/staff/{staff_id}/tokens/{issued.entity_id}/revocation", headers=auth(token),
                             json={"reason": "手机丢失"})
        assert revoked.status_code == 200, revoked.text
        before = on_record(served.ledger)
        for api in (second, first):
            assert_problem(api.post(path, headers=auth(token), json={"subject": "撤销后"}), 401, "unauthenticated")
            assert_problem(api.get(f"/staff/{staff_id}", headers=auth(token)), 401, "unauthenticated")
        assert on_record(served.ledger) == before


LIFE = timedelta(seconds=3)  # what is left of the token's day when it is issued


def test_an_expired_token_is_refused_at_once_by_every_api_even_one_that_cached_it(served: Served) -> None:
    # Back-dated, so that a token with the shortest lifetime one can give (a day) ends in seconds:
    # a member registered two days ago, a token issued a day ago less LIFE.
    team = served.team
    member = served.ledger.register_staff(team.admin, name="短期工", role="property_consultant", team=team.name,
                                          occurred_at=at(days=-2)).id
    token, issued = served.ledger.issue_token(team.admin, member, label="一天", expires_in_days=1,
                                              occurred_at=datetime.now(UTC) - timedelta(days=1) + LIFE)
    expires_at = datetime.fromisoformat(served.ledger.state(member)["tokens"][issued.entity_id]["expires_at"])
    receive = {"channel": "walk_in", "reception_started_at": at(minutes=-25).isoformat(),
               "reception_ended_at": at(minutes=-5).isoformat()}
    clients = [httpx.Client(base_url=base, timeout=30) for base in served.apis]
    try:
        for api in clients:  # valid now: each process caches the member's record with the token on it
            assert api.post("/customers", headers=auth(token), json=receive).status_code == 201
            assert api.get(f"/staff/{member}", headers=auth(token)).status_code == 200
        left = (expires_at - datetime.now(UTC)).total_seconds()
        assert left > 0, "the set-up took longer than the token's life: raise LIFE"
        time.sleep(left + 0.05)

        before = on_record(served.ledger)
        unknown = new_token(uuid.UUID(member))[0]  # a token of the same member that was never issued
        for api in clients:
            refused = api.post("/customers", headers=auth(token), json=receive)
            assert_problem(refused, 401, "unauthenticated")
            read = api.get(f"/staff/{member}", headers=auth(token))
            assert_problem(read, 401, "unauthenticated")
            # No oracle: an expired token is told exactly what a token never issued is told.
            never = api.get(f"/staff/{member}", headers=auth(unknown))
            assert (read.json(), read.headers["WWW-Authenticate"]) == (never.json(), never.headers["WWW-Authenticate"])
            assert refused.json() == never.json()
        assert on_record(served.ledger) == before
    finally:
        for api in clients:
            api.close()


def test_a_token_issued_through_the_api_says_when_it_expires_and_a_bad_lifetime_is_refused(served: Served) -> None:
    staff_id = served.team.id(served.team.consultant)
    token = served.token("consultant")
    with httpx.Client(base_url=served.apis[0], timeout=30) as http:
        def issue(**body: Any) -> httpx.Response:
            return http.post(f"/staff/{staff_id}/tokens", headers=auth(token), json={"label": "平板", **body})

        for days in (7, None):
            answer = issue(**({} if days is None else {"expires_in_days": days}))
            assert answer.status_code == 201, answer.text
            expected = at(days=days or 90)  # 90: REALTY_TOKEN_LIFETIME_DAYS by default
            assert abs(datetime.fromisoformat(answer.json()["expires_at"]) - expected) < timedelta(minutes=5)
        never = issue(expires_in_days=0)
        assert never.status_code == 201 and never.json()["expires_at"] is None
        assert http.get(f"/staff/{staff_id}", headers=auth(never.json()["token"])).status_code == 200

        before = on_record(served.ledger)
        for days in (-1, 3651, 10**6, 1.5, "never"):
            assert_problem(issue(expires_in_days=days), 422, "invalid_request")
        assert on_record(served.ledger) == before


def test_the_cli_refuses_a_token_lifetime_the_domain_refuses(served: Served) -> None:
    before = on_record(served.ledger)
    for days in ("-5", "3651"):
        refused = subprocess.run([str(REALTY), "token", "issue", served.team.id(served.team.consultant),
                                  "--label", "x", "--expires-in-days", days], cwd=served.topology.home,
                                 env=served.topology.settings_env(), capture_output=True, text=True, timeout=120,
                                 check=False)
        assert refused.returncode != 0
        assert "lifetime" in refused.stdout + refused.stderr and "rlt_" not in refused.stdout
    assert on_record(served.ledger) == before


# --- a compliance officer writes nothing ------------------------------------------------------------


def test_a_compliance_officer_records_nothing_through_any_write_route_of_the_process(served: Served) -> None:
    routes = route_names(create_app(ledger=served.ledger))
    writes = {name: target for name, target in routes.items() if target[0] in WRITES}
    assert len(writes) > 50, "the walk found almost no write routes"
    allowed = {name for name in writes if PERMISSIONS[name] != PUBLIC
               and Role.COMPLIANCE_OFFICER in PERMISSIONS[name]}  # type: ignore[operator]
    assert allowed == OVERSIGHT, f"write routes open to compliance officers changed: {sorted(allowed ^ OVERSIGHT)}"

    other = register_team(served.ledger, name=f"徐汇{uuid.uuid4().hex[:4]}组")
    prepared = prepare(served.ledger, served.team, other)
    compliance = served.team.compliance
    caller = Caller(Role.COMPLIANCE_OFFICER, served.team.id(compliance), served.team.name, served.token("compliance"))
    before, cases, wrong = on_record(served.ledger), 0, []
    with httpx.Client(base_url=served.apis[1], timeout=60) as http:
        for route, (method, path) in writes.items():
            if route in OVERSIGHT:
                continue
            for record in candidates(prepared, record_kind(route, path), caller, None):
                sent = payload(route, method, record, prepared.shared)
                response = http.request(method, url_for(path, record) + QUERIES.get(route, ""),
                                        headers={**auth(caller.token), **sent.pop("headers", {})}, **sent)
                cases += 1
                if response.status_code != 403 or response.json().get("code") != "forbidden":
                    wrong.append(f"{route} on {record.label}: {response.status_code} {response.text[:150]}")
    assert not wrong, "\n".join(wrong)
    assert cases >= len(writes) - len(OVERSIGHT)
    assert on_record(served.ledger) == before


# --- a service account never sees personal data in full --------------------------------------------


def wait_for_views(http: httpx.Client, token: str, timeout: float = 90) -> None:
    """Until the projector has brought every view to the head of the log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = http.get("/projections", headers=auth(token)).json()
        if all(v["lag"] == 0 and v["error"] is None for v in status["views"].values()):
            return
        time.sleep(0.2)
    raise AssertionError(f"the views did not catch up: {status}")


def stream_until(http: httpx.Client, token: str, head: int) -> str:
    """The event stream from the start until it has sent the event at ``head``."""
    seen: list[str] = []
    with http.stream("GET", "/events/stream?after=0", headers=auth(token), timeout=60) as stream:
        assert stream.status_code == 200
        for line in stream.iter_lines():
            seen.append(line)
            if line == f"id: {head}":
                break
    return "\n".join(seen)


def test_a_service_account_reads_every_route_it_may_and_never_sees_personal_data(served: Served) -> None:
    token = served.token("service_account")
    readable = {name: target for name, target in route_names(create_app(ledger=served.ledger)).items()
                if target[0] == "GET" and PERMISSIONS[name] != PUBLIC
                and Role.SERVICE_ACCOUNT in PERMISSIONS[name]}  # type: ignore[operator]
    assert {"customers.read", "customers.history", "deals.read", "deals.history", "events.list",
            "events.stream"} <= set(readable)
    record = Record("the customer with personal data", "customer", values={
        "customer_id": served.customer, "deal_id": served.deal, "listing_id": served.listing})
    # The contact details corrected too, so the history holds two versions of them.
    served.ledger.correct_contact_details(served.team.consultant, served.customer, reason="号码更正", phone=PHONE)
    head = served.ledger.log_head()
    bodies: dict[str, str] = {}
    with httpx.Client(base_url=served.apis[0], timeout=60) as http:
        wait_for_views(http, token)
        for route, (_, path) in readable.items():
            if route == "events.stream":
                bodies[route] = stream_until(http, token, head)
                continue
            query = "?after=0&limit=1000" if route == "events.list" else QUERIES.get(route, "")
            response = http.get(url_for(path, record) + query, headers=auth(token))
            assert response.status_code == 200, f"{route}: {response.status_code} {response.text[:200]}"
            bodies[route] = response.text
    assert json.loads(bodies["events.list"])["head"] >= head  # the feed was read to the end
    assert "1******5678" in bodies["customers.read"]  # masked, so it was there to mask
    leaks = [f"{route} shows {value}" for route, body in bodies.items() for value in PERSONAL if value in body]
    assert not leaks, leaks
