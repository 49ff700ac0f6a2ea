"""The event feed over HTTP, on both backends: pages that give every event once and in log order,
personal data masked for every caller, bad cursors refused as problems — and the server-sent events
stream through a real uvicorn, which resumes after a disconnect with no gap and no duplicate and
ends when the client goes or the server stops.

Tests that judge the whole log use a store of their own (``own_database_url``); the others use the
shared one and judge only the records they created.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import httpx
import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.api.routes.events import _still_allowed, event_stream
from service.application import Acting, RealtyLedger
from service.redaction import mask
from service.settings import load_settings
from tests.conftest import Team, register_team
from tests.e2e.cli import REALTY
from tests.e2e.test_api import api, assert_problem, auth, tokens  # noqa: F401 - fixtures
from tests.e2e.test_serve import free_port
from tests.unit.builders import VALID_ID_NUMBER

NAME, PHONE, ACCOUNT, COMPLAINT = "欧阳娜娜", "13912345678", "6222020200112233445", "楼上邻居每晚装修噪音"
BEYOND = 10**12  # far past any head a shared test database reaches


def at(minutes: float = 0) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


def write_a_customers_story(ledger: RealtyLedger, team: Team) -> dict[str, str]:
    """A customer with personal details, a complaint, and a deal with a payment: events of four records."""
    customer = ledger.receive_customer(team.consultant, channel="walk_in", reception_started_at=at(-25),
                                       reception_ended_at=at(-5)).id
    ledger.record_personal_details(team.consultant, customer, name=NAME, phone=PHONE, id_number=VALID_ID_NUMBER)
    ledger.file_complaint(team.service, customer, category="服务", severity="low", description=COMPLAINT)
    listing = ledger.list_property(team.consultant, district="浦东", address="锦绣路1888弄3号1201室", area=89.5,
                                   rooms=2, price=5_000_000, property_right_status="clear", tenure_years=70,
                                   mortgage_eligible=True).id
    deal = ledger.draft_deal(team.consultant, customer_id=customer, listing_id=listing, price=5_000_000,
                             terms="首付三成").id
    return {"customer": customer, "listing": listing, "deal": deal}


def page_through(client: TestClient, token: str, after: int,
                 limit: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every event after ``after``, page by page: (the events, the pages' answers)."""
    events: list[dict[str, Any]] = []
    pages: list[dict[str, Any]] = []
    while True:
        response = client.get(f"/events?after={after}&limit={limit}", headers=auth(token))
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        assert len(page["events"]) <= limit
        events.extend(page["events"])
        assert page["next_after"] == (page["events"][-1]["position"] if page["events"] else after)
        assert page["head"] >= page["next_after"]
        if not page["events"]:
            return events, pages
        after = page["next_after"]


# --- paging, on a store of the test's own ------------------------------------------------------


@pytest.fixture
def own_ledger(own_database_url: str, tmp_path: Path) -> Iterator[RealtyLedger]:
    ledger = RealtyLedger(load_settings(database_url=own_database_url, signing_keys_dir=tmp_path / "keys"))
    try:
        yield ledger
    finally:
        ledger.close()


def burn_a_position(ledger: RealtyLedger) -> None:
    """What a rolled-back write leaves on PostgreSQL: a notification id taken and never used."""
    if ledger.settings.database.backend != "postgres":
        return
    recorder: Any = ledger.recorder
    with recorder.datastore.get_connection() as conn:
        conn.execute("SELECT nextval(pg_get_serial_sequence(%s, 'notification_id'))",
                     (f"{recorder.datastore.schema}.{recorder.events_table_name}",))


def test_pages_give_every_event_of_the_log_once_in_log_order(own_ledger: RealtyLedger) -> None:
    team = register_team(own_ledger)
    token, _ = own_ledger.issue_token(team.admin, team.id(team.service_account), label="feed")
    story = write_a_customers_story(own_ledger, team)
    burn_a_position(own_ledger)
    more = write_a_customers_story(own_ledger, team)

    with TestClient(create_app(ledger=own_ledger)) as client:
        events, pages = page_through(client, token, 0, 7)
        log = own_ledger.recorder.select_notifications(start=1, limit=10_000)
        assert [e["position"] for e in events] == [n.id for n in log]  # all of them, once, in order
        assert [e["leaf_index"] for e in events] == list(range(len(log)))  # dense, whatever the gaps
        assert all(len(page["events"]) == 7 for page in pages[:-2])
        assert pages[-1]["next_after"] == pages[-1]["head"] == own_ledger.log_head()
        if own_ledger.settings.database.backend == "postgres":  # the burnt id is a gap, not an event
            positions = [e["position"] for e in events]
            assert any(b - a > 1 for a, b in zip(positions, positions[1:], strict=False))

        # Each record's events in its version order, each as its history tells it (masked).
        for record_id in [*story.values(), *more.values()]:
            own = [e for e in events if e["record_id"] == record_id]
            assert [e["version"] for e in own] == list(range(1, len(own) + 1))
            history = own_ledger.history(record_id)
            assert [(e["event"], e["name"], e["actor_id"], e["correlation_id"]) for e in own] == [
                (h["event"], h["name"], h["actor_id"], h["correlation_id"]) for h in history]
        assert {e["record_kind"] for e in events} == {"staff", "customer", "listing", "deal"}

        # The head is a valid cursor (an empty page); one past it is not.
        head = own_ledger.log_head()
        at_head = client.get(f"/events?after={head}", headers=auth(token)).json()
        assert at_head == {"events": [], "next_after": head, "head": head}
        body = assert_problem(client.get(f"/events?after={head + 1}", headers=auth(token)), 422, "after_beyond_head")
        assert body["context"] == {"after": head + 1, "head": head}


# --- masking and bad input, on the shared store ------------------------------------------------


def test_no_caller_of_the_feed_sees_personal_data_or_a_tokens_secret_hash(
    api: TestClient, app: RealtyLedger, team: Team, tokens: dict[str, str]  # noqa: F811
) -> None:
    start = api.get("/events?limit=1", headers=auth(tokens["service_account"])).json()["head"]
    story = write_a_customers_story(app, team)
    app.record_payment(team.consultant, story["deal"], kind="deposit", amount=50_000, payer_account=ACCOUNT)
    newcomer = app.register_staff(Acting.system(), name="司马相如", role="property_consultant", team=team.name).id
    _, issued = app.issue_token(team.admin, newcomer, label="报表服务")
    secret_hash = app.state(newcomer)["tokens"][issued.entity_id]["secret_hash"]
    mine = {*story.values(), newcomer}
    secrets = [NAME, PHONE, VALID_ID_NUMBER, ACCOUNT, COMPLAINT, "司马相如", secret_hash]

    for role in ("service_account", "compliance", "admin"):
        events, pages = page_through(api, tokens[role], start, 50)
        text = json.dumps(pages, ensure_ascii=False)
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{role} read {leaked} in the feed"
        own = {e["event"]: e for e in events if e["record_id"] in mine}
        assert own["realty.customer.personal_details_recorded"]["data"] == {
            "name": mask(NAME), "phone": mask(PHONE), "id_number": mask(VALID_ID_NUMBER)}
        assert own["realty.customer.complaint_filed"]["data"]["description"] == mask(COMPLAINT)
        assert own["realty.customer.complaint_filed"]["data"]["severity"] == "low"  # not personal: as recorded
        assert own["realty.deal.payment_recorded"]["data"]["payer_account"] == mask(ACCOUNT)
        assert own["realty.staff.registered"]["data"]["name"] == mask("司马相如")
        assert set(own["realty.staff.token_issued"]["data"]) == {"token_id", "label", "expires_at"}  # no secret hash
    # Reading the feed is not a full read of personal data: the readers' access logs did not grow.
    readers = {team.id(team.service_account), team.id(team.compliance), team.id(team.admin)}
    assert not [e for e in page_through(api, tokens["service_account"], start, 1000)[0]
                if e["record_kind"] == "access_log" and e["actor_id"] in readers]


def test_bad_page_sizes_and_cursors_are_problems_and_other_roles_are_refused(
    api: TestClient, tokens: dict[str, str]  # noqa: F811
) -> None:
    service = auth(tokens["service_account"])
    for query in ("limit=1001", "limit=0", "after=-1", "after=abc", f"after={2**62 + 1}"):
        body = assert_problem(api.get(f"/events?{query}", headers=service), 422, "invalid_request")
        assert body["errors"][0]["field"] in ("query.limit", "query.after")
    assert api.get("/events?limit=1000", headers=service).status_code == 200

    head = api.get("/events?limit=1", headers=service).json()["head"]
    body = assert_problem(api.get(f"/events?after={head + BEYOND}", headers=service), 422, "after_beyond_head")
    assert body["context"]["after"] == head + BEYOND

    # The stream refuses before it starts: a problem, never an empty or endless stream.
    assert_problem(api.get("/events/stream", headers=service), 422, "cursor_required")
    assert_problem(api.get(f"/events/stream?after={head + BEYOND}", headers=service), 422, "after_beyond_head")
    for last_event_id in ("abc", "-1", "1.5", "", "1e3"):
        assert_problem(api.get("/events/stream?after=0", headers={**service, "Last-Event-ID": last_event_id}),
                       400, "invalid_last_event_id")
    assert_problem(api.get("/events/stream?after=0", headers={**service, "Last-Event-ID": str(head + BEYOND)}),
                   422, "after_beyond_head")
    assert_problem(api.get("/events/stream?after=-1", headers=service), 422, "invalid_request")

    for path in ("/events", "/events/stream?after=0"):
        assert_problem(api.get(path), 401, "unauthenticated")
        for role in ("consultant", "manager", "customer_manager", "service", "archivist"):
            assert_problem(api.get(path, headers=auth(tokens[role])), 403, "forbidden")
    for role in ("compliance", "admin"):
        assert api.get("/events?limit=1", headers=auth(tokens[role])).status_code == 200


# --- the stream's loop, in process: keep-alives, new events, and its ends ----------------------


class Client:
    """The request as the stream sees it: connected until told otherwise."""

    def __init__(self) -> None:
        self.gone = False

    async def is_disconnected(self) -> bool:
        return self.gone


def parse(chunks: list[str]) -> list[dict[str, str]]:
    """Server-sent messages (``retry``, events, ``:`` comments) from what a stream yielded."""
    messages = []
    for block in "".join(chunks).split("\n\n"):
        if block:
            fields = {}
            for line in block.split("\n"):
                name, _, value = line.partition(":")
                fields[name or "comment"] = value.removeprefix(" ")
            messages.append(fields)
    return messages


def run_stream(ledger: RealtyLedger, after: int, script: Callable[[list[dict[str, str]], Client], None],
               **options: Any) -> list[dict[str, str]]:
    """Run the stream until it ends, calling ``script`` with the messages so far after each chunk."""
    client, chunks = Client(), []

    async def main() -> None:
        with anyio.fail_after(20):
            async for chunk in event_stream(client, ledger, after, poll=0.05, heartbeat=0.3, **options):  # type: ignore[arg-type]
                chunks.append(chunk)
                await anyio.to_thread.run_sync(script, parse(chunks), client)

    anyio.run(main)
    return parse(chunks)


def test_a_stream_sends_what_is_there_then_keep_alives_then_new_events_until_the_client_goes(
    own_ledger: RealtyLedger,
) -> None:
    team = register_team(own_ledger)
    start = own_ledger.log_head() - 3
    written: list[int] = []

    def script(messages: list[dict[str, str]], client: Client) -> None:
        comments = [m for m in messages if m.get("comment") == "keep-alive"]
        if len(comments) == 1 and not written:  # idle: something happens
            own_ledger.receive_customer(team.consultant, channel="phone", reception_started_at=at(-9),
                                        reception_ended_at=at(-1))
            written.append(own_ledger.log_head())
        if written and any(m.get("id") == str(written[0]) for m in messages):
            client.gone = True

    messages = run_stream(own_ledger, start, script)
    assert messages[0] == {"retry": "1000"}
    ids = [int(m["id"]) for m in messages if "id" in m]
    assert ids == [n.id for n in own_ledger.recorder.select_notifications(start=start + 1, limit=100)]
    kinds = ["event" if "id" in m else m.get("comment", "retry") for m in messages]
    assert kinds[:5] == ["retry", "event", "event", "event", "keep-alive"]
    assert kinds[-1] == "event"  # and then nothing: the client went
    last = json.loads(messages[-1]["data"])
    assert (last["event"], messages[-1]["event"]) == ("realty.customer.received", "realty.customer.received")


def test_a_stream_ends_when_its_token_is_revoked(own_ledger: RealtyLedger) -> None:
    team = register_team(own_ledger)
    token, issued = own_ledger.issue_token(team.admin, team.id(team.service_account), label="feed")
    access = SimpleNamespace(ledger=own_ledger, route="events.stream")

    def script(messages: list[dict[str, str]], client: Client) -> None:
        if messages[-1].get("comment") == "keep-alive" and own_ledger.authenticate(token) is not None:
            own_ledger.revoke_token(team.admin, team.id(team.service_account), token_id=str(issued.entity_id),
                                    reason="服务下线")

    started = time.monotonic()
    # Proven again before every read (reauth=0): not even the revocation's own event gets out.
    messages = run_stream(own_ledger, own_ledger.log_head(), script, reauth=0.0,
                          still_allowed=lambda: _still_allowed(access, token))
    assert time.monotonic() - started < 10  # ended by itself: the client never went
    assert own_ledger.authenticate(token) is None
    assert [m.get("comment") for m in messages[1:]] == ["keep-alive"] * (len(messages) - 1)


def test_a_stream_that_cannot_read_the_store_ends_instead_of_breaking_mid_response(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def unavailable(**_: Any) -> Any:
        raise ConnectionError("the store does not answer")

    broken: Any = SimpleNamespace(recorder=SimpleNamespace(select_notifications=unavailable))
    messages = run_stream(broken, 5, lambda messages, client: None)
    assert messages == [{"retry": "1000"}]  # then the end: the client reconnects after its last id
    assert "could not read the store after position 5" in caplog.text


# --- the stream through a real uvicorn ---------------------------------------------------------


@dataclass
class Served:
    base: str
    token: str
    ledger: RealtyLedger
    team: Team
    process: subprocess.Popen[str]
    output: Path

    def access_log(self) -> list[dict[str, Any]]:
        lines = self.output.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


@pytest.fixture
def served(own_database_url: str, tmp_path: Path) -> Iterator[Served]:
    """``realty serve`` on a store of the test's own, and a ledger of the test's on the same store."""
    keys = tmp_path / "keys"
    ledger = RealtyLedger(load_settings(database_url=own_database_url, signing_keys_dir=keys))
    team = register_team(ledger)
    token, _ = ledger.issue_token(team.admin, team.id(team.service_account), label="feed")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REALTY_") or k == "REALTY_MASTER_KEYS"}
    env.update(REALTY_DATABASE_URL=own_database_url, REALTY_SIGNING_KEYS_DIR=str(keys),
               REALTY_CHECKPOINT_EVERY="0", REALTY_CHECKPOINT_INTERVAL="0")
    output_path = tmp_path / "server-output.txt"
    output = output_path.open("w", encoding="utf-8")
    process = subprocess.Popen([str(REALTY), "serve", "--port", str(port)], cwd=tmp_path, env=env,
                               stdout=output, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, output_path.read_text(encoding="utf-8")
            assert time.monotonic() < deadline, "the API did not come up within 60 s"
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield Served(base, token, ledger, team, process, output_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        finally:
            output.close()
            ledger.close()


def sse(response: httpx.Response) -> Iterator[dict[str, str]]:
    """The messages of a server-sent events response, as they arrive (comments as ``comment``)."""
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if line == "":
            if fields:
                yield fields
            fields = {}
            continue
        name, _, value = line.partition(":")
        fields[name or "comment"] = value.removeprefix(" ")


def events_until(messages: Iterator[dict[str, str]], done: Callable[[list[dict[str, str]]], bool]) -> list[dict[str, str]]:
    received: list[dict[str, str]] = []
    for message in messages:
        if "id" in message:
            received.append(message)
            if done(received):
                return received
    raise AssertionError(f"the stream ended after {len(received)} events")


def receive_customers(ledger: RealtyLedger, team: Team, count: int) -> None:
    for _ in range(count):
        customer = ledger.receive_customer(team.consultant, channel="walk_in", reception_started_at=at(-25),
                                           reception_ended_at=at(-5)).id
        ledger.record_personal_details(team.consultant, customer, name=NAME, phone=PHONE, id_number=None)


def test_the_stream_resumes_after_a_disconnect_without_a_gap_or_a_duplicate(served: Served) -> None:
    ledger, team = served.ledger, served.team
    receive_customers(ledger, team, 3)
    headers = auth(served.token, **{"X-Request-ID": "stream-first"})
    with httpx.Client(base_url=served.base, timeout=httpx.Timeout(15.0)) as client:
        with client.stream("GET", "/events/stream?after=0", headers=headers) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-cache"
            first = events_until(sse(response), lambda got: len(got) == 9)
        # The client went: the server notices, ends the stream and logs the request.
        deadline = time.monotonic() + 10
        while not any(line["request_id"] == "stream-first" for line in served.access_log()):
            assert time.monotonic() < deadline, "the server did not notice the client went"
            time.sleep(0.1)
        assert [line["status"] for line in served.access_log() if line["request_id"] == "stream-first"] == [200]

        receive_customers(ledger, team, 3)  # written while nobody listens
        resume_at = first[-1]["id"]
        # As an EventSource reconnects: the URL it first opened, and the last id it received.
        with client.stream("GET", "/events/stream?after=0",
                           headers=auth(served.token, **{"Last-Event-ID": resume_at})) as response:
            assert response.status_code == 200
            messages = sse(response)
            head = ledger.log_head()
            second = events_until(messages, lambda got: int(got[-1]["id"]) == head)
            receive_customers(ledger, team, 2)  # written while it listens: delivered live
            head = ledger.log_head()
            second += events_until(messages, lambda got: int(got[-1]["id"]) == head)

        log = [n.id for n in ledger.recorder.select_notifications(start=1, limit=10_000)]
        streamed = [int(m["id"]) for m in first + second]
        assert streamed == log  # every event, once, in order, across the disconnect
        assert int(second[0]["id"]) == log[log.index(int(resume_at)) + 1]

        # Each message is the feed's envelope for that position, its topic the event's.
        pages = client.get("/events?after=0&limit=1000", headers=auth(served.token)).json()["events"]
        assert [json.loads(m["data"]) for m in first + second] == pages
        assert [m["event"] for m in first + second] == [e["event"] for e in pages]
        assert PHONE not in json.dumps(pages, ensure_ascii=False)


def test_the_stream_ends_when_the_server_shuts_down(served: Served) -> None:
    with httpx.Client(base_url=served.base, timeout=httpx.Timeout(15.0)) as client:
        with client.stream("GET", f"/events/stream?after={served.ledger.log_head()}",
                           headers=auth(served.token)) as response:
            messages = sse(response)
            assert next(messages) == {"retry": "1000"}  # the stream is open, and idle
            served.process.send_signal(signal.SIGTERM)
            started = time.monotonic()
            rest = list(messages)  # ends, rather than holding the server up until a read timeout
            assert time.monotonic() - started < 10
            assert all("id" not in m for m in rest)
    served.process.wait(timeout=15)  # and the server exits


def test_a_stream_refused_before_it_starts_is_a_problem_over_http_too(served: Served) -> None:
    with httpx.Client(base_url=served.base, timeout=httpx.Timeout(15.0)) as client:
        response = client.get("/events/stream", headers=auth(served.token, **{"Last-Event-ID": "x"}))
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "invalid_last_event_id"
        assert client.get("/events/stream?after=0").status_code == 401
        assert client.get(f"/events/stream?after={uuid.uuid4().int}", headers=auth(served.token)).json()["code"] == (
            "invalid_request")
