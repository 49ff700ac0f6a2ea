"""Bad input gets a 4xx problem with a stable code, and nothing is recorded: a catalogue.

Each case of the catalogue is one hostile or broken request — an oversized body with or without
``Content-Length``, JSON nested 100,000 deep, invalid UTF-8, numbers no money or area can be, the
wrong media type, path traversal in ids and document names, CR/LF and raw bytes in the headers
that carry text — sent through the real app (``create_app`` on a real ledger) on SQLite and on
PostgreSQL. Every case must answer ``application/problem+json`` with its status and code, leave
the log as it was (head and event count), store no document, and echo nothing it was sent into a
response header. Replayed idempotency keys follow the catalogue.

What only the server layer sees is sent to a real ``realty serve`` (uvicorn) over a raw socket:
a chunked body past the limit, raw bytes past ASCII in headers, and CR, LF or NUL where a header
may not have them. A request that is not HTTP at all never reaches the app: uvicorn refuses it with
its own plain-text 400, which the last tests accept (and still check that nothing was recorded and
nothing echoed).
"""

from __future__ import annotations

import http.client
import json
import select
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.api.middleware import MAX_BODY_BYTES
from service.application import RealtyLedger
from service.settings import load_settings
from tests.conftest import BACKENDS, Team, register_team
from tests.e2e.test_api import assert_problem
from tests.e2e.test_api_matrix import ACCOUNT, LISTING
from tests.reliability.scratch_stores import scratch_store
from tests.reliability.topology import Topology, running
from tests.unit.test_content_types import minimal_pdf

DOCUMENT_LIMIT = 64 * 1024  # small, so that a document past it is quick to send
MARK = "Evil"  # in every injected header; no response header may carry it
PDF = minimal_pdf()


@dataclass(frozen=True)
class Stack:
    client: TestClient
    ledger: RealtyLedger
    team: Team
    tokens: dict[str, str]
    customer: str
    listing: str
    deal: str
    file: str
    document: str
    documents_dir: Path

    def auth(self, who: str = "consultant", *extra: tuple[str, str | bytes]) -> list[tuple[str, str | bytes]]:
        return [("Authorization", f"Bearer {self.tokens[who]}"), *extra]


def on_record(ledger: RealtyLedger) -> tuple[int, int]:
    """What the log holds: its head and its event count (a PostgreSQL head alone may skip)."""
    return ledger.log_head(), ledger.event_count()


def stored_documents(root: Path) -> int:
    return sum(1 for p in root.rglob("*") if p.is_file()) if root.exists() else 0


def at(minutes: float = 0) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


@pytest.fixture(scope="module", params=BACKENDS)
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One prepared store per backend for the whole catalogue: a customer, a listing, a deal, a
    service file with a document, and a token per role."""
    home = tmp_path_factory.mktemp(f"bad-input-{request.param}")
    with scratch_store(request.param, home) as url:
        ledger = RealtyLedger(load_settings(
            database_url=url, signing_keys_dir=home / "keys", documents_dir=home / "documents",
            exports_dir=home / "exports", max_document_bytes=DOCUMENT_LIMIT))
        try:
            team = register_team(ledger)
            tokens = {role: ledger.issue_token(team.admin, team.id(getattr(team, role)), label="bad input")[0]
                      for role in ("consultant", "manager", "archivist", "compliance", "admin")}
            c = team.consultant
            customer = ledger.receive_customer(c, channel="walk_in", reception_started_at=at(-25),
                                               reception_ended_at=at(-5)).id
            listing = ledger.list_property(c, **LISTING).id  # type: ignore[arg-type]
            deal = ledger.draft_deal(c, customer_id=customer, listing_id=listing, price=5_000_000, terms="首付三成").id
            file = ledger.open_service_file(c, owner_kind="customer", owner_id=customer, record_class="customer_file").id
            document = str(ledger.upload_document(c, file, content=PDF, kind="id_copy").entity_id)
            with TestClient(create_app(ledger=ledger), raise_server_exceptions=False) as client:
                yield Stack(client, ledger, team, tokens, customer, listing, deal, file, document, home / "documents")
        finally:
            ledger.close()


# --- the catalogue -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    request: Callable[[Stack], dict[str, Any]]  # keyword arguments of TestClient.request
    status: int
    code: str


def json_post(path: Callable[[Stack], str], body: Any, content_type: str | None = "application/json",
              *headers: tuple[str, str | bytes], who: str = "consultant") -> Callable[[Stack], dict[str, Any]]:
    def build(s: Stack) -> dict[str, Any]:
        sent = s.auth(who, *headers)
        if content_type is not None:
            sent.append(("Content-Type", content_type))
        return {"method": "POST", "url": path(s), "headers": sent, "content": body() if callable(body) else body}
    return build


def upload(path: Callable[[Stack], str], body: Any, content_type: str | None = "application/pdf",
           *headers: tuple[str, str | bytes]) -> Callable[[Stack], dict[str, Any]]:
    return json_post(path, body, content_type, *headers)


def get(path: Callable[[Stack], str], *headers: tuple[str, str | bytes],
        who: str = "consultant") -> Callable[[Stack], dict[str, Any]]:
    return lambda s: {"method": "GET", "url": path(s), "headers": s.auth(who, *headers)}


def chunked(*parts: bytes, repeat: bytes = b"", times: int = 0) -> Any:
    """A body an iterator yields, so it goes without Content-Length (Transfer-Encoding: chunked)."""
    def body() -> Iterator[bytes]:
        yield parts[0]
        for _ in range(times):
            yield repeat
        yield from parts[1:]
    return body


def requests_of(s: Stack) -> str:
    return f"/customers/{s.customer}/requests"


def listing_with(field: str, literal: str) -> bytes:
    """A valid listing body with one field's value replaced by a raw JSON literal."""
    text = json.dumps({**LISTING, field: "__HERE__"}, ensure_ascii=False)
    return text.replace('"__HERE__"', literal).encode()


def payment_of(literal: str) -> bytes:
    return b'{"kind": "deposit", "amount": %s, "payer_account": "%s"}' % (literal.encode(), ACCOUNT.encode())


def needs_with_budget(literal: str) -> bytes:
    return (b'{"budget_min": 4000000, "budget_max": %s, "area_min": 70, "area_max": 100, "rooms": 2, '
            b'"districts": ["\xe6\xb5\xa6\xe4\xb8\x9c"], "purpose": "home", "payment_method": "provident_fund", '
            b'"qualification": "qualified"}' % literal.encode())


OVER = MAX_BODY_BYTES + 1024
BIG_SUBJECT = b'{"subject": "' + b"x" * OVER + b'"}'

CATALOGUE: dict[str, Case] = {
    # Oversized bodies: judged on Content-Length before a byte is read, and counted as they arrive
    # when there is none (chunked), also on the path that reads a body itself (idempotency keys).
    "a JSON body over 1 MiB with Content-Length": Case(json_post(requests_of, BIG_SUBJECT), 413, "payload_too_large"),
    "a JSON body over 1 MiB, chunked": Case(
        json_post(requests_of, chunked(b'{"subject": "', b'"}', repeat=b"x" * 65536, times=17)),
        413, "payload_too_large"),
    "a chunked body over 1 MiB with an Idempotency-Key": Case(
        json_post(requests_of, chunked(b'{"subject": "', b'"}', repeat=b"x" * 65536, times=17), "application/json",
                  ("Idempotency-Key", "big-chunked")), 413, "payload_too_large"),
    "a document over its limit with Content-Length": Case(
        upload(lambda s: f"/service-files/{s.file}/documents?kind=contract", PDF + b"%" * DOCUMENT_LIMIT),
        413, "document_too_large"),
    "a document over its limit, chunked": Case(
        upload(lambda s: f"/service-files/{s.file}/documents?kind=contract",
               chunked(PDF, repeat=b"%" * 8192, times=9)), 413, "document_too_large"),
    "a document over its limit, chunked, with an Idempotency-Key": Case(
        upload(lambda s: f"/service-files/{s.file}/documents?kind=contract",
               chunked(PDF, repeat=b"%" * 8192, times=9), "application/pdf", ("Idempotency-Key", "big-document")),
        413, "document_too_large"),

    # Deep nesting: the parser's recursion limit is a 400, never a RecursionError 500.
    "100,000 levels of [": Case(json_post(requests_of, b"[" * 100_000 + b"]" * 100_000), 400, "malformed_body"),
    "100,000 levels of { unclosed": Case(json_post(requests_of, b'{"a":' * 100_000), 400, "malformed_body"),
    "900 levels of [ inside a field": Case(
        json_post(requests_of, b'{"subject": ' + b"[" * 900 + b"]" * 900 + b"}"), 422, "invalid_request"),

    # Invalid UTF-8 in the body.
    "a byte 0xff in a string": Case(json_post(requests_of, b'{"subject": "\xff"}'), 400, "malformed_body"),
    "an overlong encoding of /": Case(json_post(requests_of, b'{"subject": "\xc0\xaf"}'), 400, "malformed_body"),
    # (the JSON decoder lets an encoded surrogate through, as surrogatepass; the schema refuses it)
    "a UTF-8-encoded surrogate": Case(json_post(requests_of, b'{"subject": "\xed\xa0\x80"}'), 422,
                                      "invalid_request"),
    "a truncated multi-byte character": Case(json_post(requests_of, b'{"subject": "\xe5\xad"}'), 400,
                                             "malformed_body"),
    "an escaped lone surrogate": Case(json_post(requests_of, b'{"subject": "\\ud800"}'), 422, "invalid_request"),

    # Numbers no price, payment, budget or area can be.
    "a price of 10**100": Case(json_post(lambda s: "/listings", listing_with("price", str(10**100))), 422,
                               "invalid_request"),
    "a price of 1e400": Case(json_post(lambda s: "/listings", listing_with("price", "1e400")), 422, "invalid_request"),
    "a price of NaN": Case(json_post(lambda s: "/listings", listing_with("price", "NaN")), 422, "invalid_request"),
    "a price of 5000 digits": Case(json_post(lambda s: "/listings", listing_with("price", "9" * 5000)), 400,
                                   "malformed_body"),
    "an area of 1e400": Case(json_post(lambda s: "/listings", listing_with("area", "1e400")), 422, "invalid_request"),
    "an area of 1e308": Case(json_post(lambda s: "/listings", listing_with("area", "1e308")), 422, "invalid_request"),
    "an area of NaN": Case(json_post(lambda s: "/listings", listing_with("area", "NaN")), 422, "invalid_request"),
    "an area of Infinity": Case(json_post(lambda s: "/listings", listing_with("area", "Infinity")), 422,
                                "invalid_request"),
    "an area of -Infinity": Case(json_post(lambda s: "/listings", listing_with("area", "-Infinity")), 422,
                                 "invalid_request"),
    "an area of 10**400": Case(json_post(lambda s: "/listings", listing_with("area", "1" + "0" * 400)), 422,
                               "invalid_request"),
    "a payment of 10**100": Case(json_post(lambda s: f"/deals/{s.deal}/payments", payment_of(str(10**100))), 422,
                                 "invalid_request"),
    "a payment of Infinity": Case(json_post(lambda s: f"/deals/{s.deal}/payments", payment_of("Infinity")), 422,
                                  "invalid_request"),
    "a payment of 1e400": Case(json_post(lambda s: f"/deals/{s.deal}/payments", payment_of("1e400")), 422,
                               "invalid_request"),
    "a budget of 10**100": Case(json_post(lambda s: f"/customers/{s.customer}/needs",  # the domain's range
                                          needs_with_budget(str(10**100))), 422, "invalid_value"),
    "a token lifetime of 10**100 days": Case(
        json_post(lambda s: f"/staff/{s.team.id(s.team.consultant)}/tokens",
                  b'{"label": "x", "expires_in_days": ' + str(10**100).encode() + b"}"), 422, "invalid_request"),

    # The wrong media type: a JSON route takes JSON; a document route takes a document.
    "JSON sent as text/plain": Case(json_post(requests_of, b'{"subject": "x"}', "text/plain"), 415,
                                    "unsupported_media_type"),
    "JSON sent without a Content-Type": Case(json_post(requests_of, b'{"subject": "x"}', None), 415,
                                             "unsupported_media_type"),
    "a form sent to a JSON route": Case(
        json_post(requests_of, b"subject=x", "application/x-www-form-urlencoded"), 415, "unsupported_media_type"),
    "multipart sent to a JSON route": Case(
        json_post(requests_of, b'--b\r\nContent-Disposition: form-data; name="subject"\r\n\r\nx\r\n--b--\r\n',
                  "multipart/form-data; boundary=b"), 415, "unsupported_media_type"),
    "JSON sent to a document upload": Case(
        upload(lambda s: f"/service-files/{s.file}/documents?kind=contract", b'{"content": "x"}',
               "application/json"), 415, "unsupported_document_type"),
    "multipart sent to a document upload": Case(
        upload(lambda s: f"/service-files/{s.file}/documents?kind=contract",
               b'--b\r\nContent-Disposition: form-data; name="f"; filename="a.pdf"\r\n'
               b"Content-Type: application/pdf\r\n\r\n" + PDF + b"\r\n--b--\r\n",
               "multipart/form-data; boundary=b"), 415, "unsupported_document_type"),
    "a PDF declared as a PNG": Case(upload(lambda s: f"/service-files/{s.file}/documents?kind=contract", PDF,
                                           "image/png"), 415, "document_type_mismatch"),

    # Path traversal in document names, ids and path parameters.
    "a document kind of ../../etc/passwd": Case(
        upload(lambda s: f"/service-files/{s.file}/documents?kind=../../etc/passwd", PDF), 422, "invalid_request"),
    "a document kind of ..%2F..%2Fkeys": Case(
        upload(lambda s: f"/service-files/{s.file}/documents?kind=..%2F..%2Fkeys", PDF), 422, "invalid_request"),
    "a file id of %2e%2e": Case(upload(lambda s: "/service-files/%2e%2e/documents?kind=contract", PDF), 422,
                                "invalid_value"),
    "a file id of ..%2F..%2Fkeys": Case(
        upload(lambda s: "/service-files/..%2F..%2Fkeys/documents?kind=contract", PDF), 404, "no_such_route"),
    "a document id of %2e%2e in a new version": Case(
        upload(lambda s: f"/service-files/{s.file}/documents/%2e%2e/versions", PDF, "application/pdf",
               ("X-Change-Reason", "x")), 422, "invalid_request"),
    "a document id of ..%5C..%5Cmaster on a read": Case(
        get(lambda s: f"/service-files/{s.file}/documents/..%5C..%5Cmaster", ("X-Read-Purpose", "x")), 422,
        "invalid_request"),
    "a customer id of ..%2F..%2Fetc%2Fpasswd": Case(
        json_post(lambda s: "/customers/..%2F..%2Fetc%2Fpasswd/requests", b'{"subject": "x"}'), 404, "no_such_route"),
    "a customer id of %2e%2e%2f%2e%2e": Case(
        json_post(lambda s: "/customers/%2e%2e%2f%2e%2e/requests", b'{"subject": "x"}'), 404, "no_such_route"),
    "a staff id of %2e%2e on a token issue": Case(
        json_post(lambda s: "/staff/%2e%2e/tokens", b'{"label": "x"}'), 422, "invalid_value"),
    "an export id of %2e%2e%2fkeys": Case(get(lambda s: "/archive/exports/%2e%2e%2fkeys", who="archivist"), 404,
                                          "no_such_route"),
    "an export id of .. padded to 32": Case(get(lambda s: "/archive/exports/" + "." * 32, who="archivist"), 404,
                                            "not_found"),

    # Header injection: CR/LF (percent-encoded: raw ones never get through HTTP, see the server
    # tests below) and raw bytes past ASCII in the headers that carry text onto the record.
    "CR/LF in X-Change-Reason": Case(
        upload(lambda s: f"/service-files/{s.file}/documents/{s.document}/versions", PDF, "application/pdf",
               ("X-Change-Reason", f"ok%0D%0AX-{MARK}:%201")), 422, "invalid_value"),
    "a lone LF in X-Change-Reason": Case(
        upload(lambda s: f"/service-files/{s.file}/documents/{s.document}/versions", PDF, "application/pdf",
               ("X-Change-Reason", f"ok%0A{MARK}")), 422, "invalid_value"),
    "invalid UTF-8 in X-Change-Reason": Case(
        upload(lambda s: f"/service-files/{s.file}/documents/{s.document}/versions", PDF, "application/pdf",
               ("X-Change-Reason", b"\xff\xfe" + MARK.encode())), 422, "invalid_value"),
    "percent-encoded invalid UTF-8 in X-Change-Reason": Case(
        upload(lambda s: f"/service-files/{s.file}/documents/{s.document}/versions", PDF, "application/pdf",
               ("X-Change-Reason", f"%FF{MARK}")), 422, "invalid_value"),
    "CR/LF in X-Read-Purpose": Case(
        get(lambda s: f"/service-files/{s.file}/documents/{s.document}",
            ("X-Read-Purpose", f"audit%0D%0ASet-Cookie:%20{MARK}=1")), 422, "invalid_value"),
    "invalid UTF-8 in X-Read-Purpose": Case(
        get(lambda s: f"/service-files/{s.file}/documents/{s.document}", ("X-Read-Purpose", b"\xc3" + MARK.encode())),
        422, "invalid_value"),
    "a NUL in X-Read-Purpose": Case(
        get(lambda s: f"/service-files/{s.file}/documents/{s.document}", ("X-Read-Purpose", f"a%00{MARK}")),
        422, "invalid_value"),
    "invalid UTF-8 in Idempotency-Key": Case(
        json_post(requests_of, b'{"subject": "x"}', "application/json", ("Idempotency-Key", b"k\xff" + MARK.encode())),
        400, "invalid_idempotency_key"),
    "a tab in Idempotency-Key": Case(
        json_post(requests_of, b'{"subject": "x"}', "application/json", ("Idempotency-Key", f"k\t{MARK}")),
        400, "invalid_idempotency_key"),
    "an Idempotency-Key of 201 characters": Case(
        json_post(requests_of, b'{"subject": "x"}', "application/json", ("Idempotency-Key", MARK + "k" * 197)),
        400, "invalid_idempotency_key"),
    "invalid UTF-8 in Authorization": Case(
        lambda s: {"method": "POST", "url": requests_of(s), "json": {"subject": "x"},
                   "headers": [("Authorization", b"Bearer " + s.tokens["consultant"].encode() + b"\xff")]},
        401, "unauthenticated"),
    "invalid UTF-8 in If-Match": Case(
        json_post(requests_of, b'{"subject": "x"}', "application/json", ("If-Match", b'"\xff1"')),
        400, "invalid_if_match"),
}


@pytest.mark.parametrize("case", list(CATALOGUE.values()), ids=list(CATALOGUE))
def test_bad_input_is_a_problem_with_a_stable_code_and_records_nothing(stack: Stack, case: Case) -> None:
    before, documents = on_record(stack.ledger), stored_documents(stack.documents_dir)
    response = stack.client.request(**case.request(stack))
    assert_problem(response, case.status, case.code)
    assert on_record(stack.ledger) == before
    assert stored_documents(stack.documents_dir) == documents
    echoed = [(k, v) for k, v in response.headers.items() if MARK.lower() in f"{k}{v}".lower()]
    assert not echoed, f"a response header echoes what was sent: {echoed}"


# --- request ids: never refused, never echoed unless plain ---------------------------------------


@pytest.mark.parametrize("given", [f"a%0D%0ASet-Cookie:%20{MARK}=1", f"{MARK}\tx", f"<script>{MARK}",
                                   b"\xff" + MARK.encode(), MARK + "x" * 100],
                         ids=["encoded CR/LF", "a tab", "markup", "invalid UTF-8", "101 characters"])
def test_a_request_id_that_is_not_plain_is_replaced_by_a_generated_one_never_echoed(
    stack: Stack, given: str | bytes
) -> None:
    # A tracing header is not a reason to refuse a command: the request goes on under an id of our own.
    response = stack.client.post(requests_of(stack), json={"subject": "追踪"},
                                 headers=stack.auth("consultant", ("X-Request-ID", given)))
    assert response.status_code == 201, response.text
    generated = response.headers["X-Request-ID"]
    assert len(generated) == 32 and all(ch in "0123456789abcdef" for ch in generated)
    assert MARK.lower() not in str(response.headers).lower()
    assert stack.ledger.history(stack.customer)[-1]["correlation_id"] == generated


# --- replayed idempotency keys -------------------------------------------------------------------


def test_a_replayed_key_with_the_same_body_answers_the_first_answer_and_records_nothing(stack: Stack) -> None:
    headers = stack.auth("consultant", ("Idempotency-Key", "replay-same"))
    first = stack.client.post(requests_of(stack), headers=headers, json={"subject": "按揭资料"})
    assert first.status_code == 201, first.text
    before = on_record(stack.ledger)
    for _ in range(3):
        again = stack.client.post(requests_of(stack), headers=headers, json={"subject": "按揭资料"})
        assert (again.status_code, again.json()) == (201, first.json())
        assert again.headers["Idempotent-Replayed"] == "true"
    assert on_record(stack.ledger) == before


@pytest.mark.parametrize("change", ["another body", "another route", "the same body re-encoded"])
def test_a_replayed_key_with_another_request_is_422_and_records_nothing(stack: Stack, change: str) -> None:
    key = f"replay-other-{change.replace(' ', '-')}-{stack.ledger.log_head()}"
    headers = stack.auth("consultant", ("Idempotency-Key", key), ("Content-Type", "application/json"))
    body = '{"subject": "按揭资料"}'.encode()
    first = stack.client.post(requests_of(stack), headers=headers, content=body)
    assert first.status_code == 201, first.text
    before = on_record(stack.ledger)
    path, sent = requests_of(stack), body
    if change == "another body":
        sent = '{"subject": "别的"}'.encode()
    elif change == "another route":
        path = f"/customers/{stack.customer}/complaints"
    else:  # the same JSON, other bytes: the key names exactly what was sent
        sent = json.dumps({"subject": "按揭资料"}).encode()
    again = stack.client.post(path, headers=headers, content=sent)
    assert_problem(again, 422, "idempotency_key_reused")
    assert "Idempotent-Replayed" not in again.headers
    assert on_record(stack.ledger) == before


# --- through a real server: what only uvicorn sees -------------------------------------------------


@dataclass
class Served:
    topology: Topology
    ledger: RealtyLedger  # on the same store, for checking what was recorded
    customer: str
    file: str
    document: str

    @property
    def port(self) -> int:
        port = self.topology.api_processes[0].port
        assert port is not None
        return port

    def token(self, role: str = "consultant") -> str:
        return self.topology.tokens[role]


@pytest.fixture(scope="module", params=BACKENDS)
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp(f"bad-input-served-{request.param}")
    with scratch_store(request.param, home / "store") as url, \
            running(url, home, apis=1, projectors=0) as topology:
        ledger = topology.open_ledger()
        try:
            assert topology.team is not None
            c = topology.team.consultant
            customer = ledger.receive_customer(c, channel="walk_in", reception_started_at=at(-25),
                                               reception_ended_at=at(-5)).id
            file = ledger.open_service_file(c, owner_kind="customer", owner_id=customer,
                                            record_class="customer_file").id
            document = str(ledger.upload_document(c, file, content=PDF, kind="id_copy").entity_id)
            yield Served(topology, ledger, customer, file, document)
        finally:
            ledger.close()


@dataclass(frozen=True)
class RawAnswer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def problem(self) -> dict[str, Any]:
        assert dict((k.lower(), v) for k, v in self.headers)["content-type"] == "application/problem+json"
        answer: dict[str, Any] = json.loads(self.body)
        assert {"type", "title", "status", "detail", "code"} <= set(answer)
        return answer


def raw_exchange(port: int, head: bytes, body: Iterator[bytes] | None = None) -> RawAnswer:
    """Send bytes as they are (no client library tidies them up) and read one answer.

    The body goes piece by piece; once the server answers (it may before it has read all of a
    body it refuses), the rest is not sent.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head)
        for piece in body or ():
            if select.select([sock], [], [], 0)[0]:  # answered already
                break
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
        response = http.client.HTTPResponse(sock)
        response.begin()
        return RawAnswer(response.status, response.getheaders(), response.read())


def request_head(method: str, path: str, *headers: bytes) -> bytes:
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: 127.0.0.1", b"Connection: close", *headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def chunks_of(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    yield b'6\r\n{"a":"\r\n'
    sent = 0
    while sent < total:
        yield b"%x\r\n%s\r\n" % (size, b"x" * size)
        sent += size
    yield b'2\r\n"}\r\n0\r\n\r\n'


@pytest.mark.parametrize("keyed", [False, True], ids=["plain", "with an Idempotency-Key"])
def test_a_chunked_body_past_the_limit_is_refused_by_the_real_server_while_it_arrives(
    served: Served, keyed: bool
) -> None:
    before = on_record(served.ledger)
    head = request_head("POST", f"/customers/{served.customer}/requests",
                        f"Authorization: Bearer {served.token()}".encode(), b"Content-Type: application/json",
                        b"Transfer-Encoding: chunked", *([b"Idempotency-Key: chunked-413"] if keyed else []))
    answer = raw_exchange(served.port, head, chunks_of(MAX_BODY_BYTES * 3))
    assert answer.status == 413
    assert answer.problem()["code"] == "payload_too_large"
    assert on_record(served.ledger) == before


def test_json_nested_100000_deep_is_400_from_the_real_server(served: Served) -> None:
    before = on_record(served.ledger)
    body = b"[" * 100_000 + b"]" * 100_000
    head = request_head("POST", f"/customers/{served.customer}/requests",
                        f"Authorization: Bearer {served.token()}".encode(), b"Content-Type: application/json",
                        f"Content-Length: {len(body)}".encode())
    answer = raw_exchange(served.port, head + body)
    assert answer.status == 400 and answer.problem()["code"] == "malformed_body"
    assert on_record(served.ledger) == before


@pytest.mark.parametrize(("header", "status", "code"), [
    (b"Authorization: Bearer rlt_\xff\xfe" + MARK.encode(), 401, "unauthenticated"),
    (b"Idempotency-Key: k\xc3\x28" + MARK.encode(), 400, "invalid_idempotency_key"),
    (b"X-Change-Reason: \xe8\xa1" + MARK.encode(), 422, "invalid_value"),
], ids=["Authorization", "Idempotency-Key", "X-Change-Reason"])
def test_invalid_utf8_in_a_header_reaches_the_app_and_is_refused_with_its_code(
    served: Served, header: bytes, status: int, code: str
) -> None:
    before = on_record(served.ledger)
    auth = [] if header.startswith(b"Authorization") else [f"Authorization: Bearer {served.token()}".encode()]
    head = request_head("POST", f"/service-files/{served.file}/documents/{served.document}/versions", *auth,
                        header, b"Content-Type: application/pdf", f"Content-Length: {len(PDF)}".encode())
    answer = raw_exchange(served.port, head + PDF)
    assert answer.status == status and answer.problem()["code"] == code
    assert not [h for h in answer.headers if MARK.lower() in f"{h[0]}{h[1]}".lower()]
    assert on_record(served.ledger) == before


@pytest.mark.parametrize("header", [
    b"X-Request-ID: ok\r" + MARK.encode() + b": 1",          # a bare CR inside a value
    b"X-Request-ID: ok\x00" + MARK.encode(),                   # a NUL
    b"Idempotency-Key: k\r\n " + MARK.encode(),                # an obsolete line folding
    b"X-Read-Purpose: audit\r\n" + MARK.encode(),              # a line without a colon
    b"Content-Length: 99",                                       # a second, conflicting Content-Length
], ids=["bare CR", "NUL", "obs-fold", "a line without a colon", "two Content-Lengths"])
def test_control_characters_in_raw_headers_never_reach_the_app_and_are_never_echoed(
    served: Served, header: bytes
) -> None:
    before = on_record(served.ledger)
    head = request_head("POST", f"/customers/{served.customer}/requests",
                        f"Authorization: Bearer {served.token()}".encode(), b"Content-Type: application/json",
                        header, b"Content-Length: 16")
    answer = raw_exchange(served.port, head + b'{"subject": "x"}')
    assert 400 <= answer.status < 500
    assert not [h for h in answer.headers if MARK.lower() in f"{h[0]}{h[1]}".lower()]
    assert on_record(served.ledger) == before
