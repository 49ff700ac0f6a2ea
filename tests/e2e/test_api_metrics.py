"""``GET /metrics`` on both backends: requests by route template, events appended, view lag, SLA
items, verification, checkpoint and key age, who may read it, and a real uvicorn with two workers.

Each test has a store of its own (``own_database_url``), so the store's figures are exact; the
process's counters are shared by every test in the process, so those are compared before and after.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from projections import tracking
from service.application import Acting, RealtyLedger
from service.settings import load_settings
from tests.conftest import Team, register_team
from tests.e2e.cli import REALTY
from tests.e2e.test_api import api, assert_problem, auth, receive, tokens  # noqa: F401 - fixtures
from tests.e2e.test_serve import free_port

H = timedelta(hours=1)
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def database_url(own_database_url: str) -> str:
    return own_database_url


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[RealtyLedger]:
    # Master keys from a directory of the test's own (not the suite's secret), so their age is known.
    ledger = RealtyLedger(load_settings(database_url=database_url, signing_keys_dir=tmp_path / "keys",
                                        master_keys=None, master_keys_dir=tmp_path / "master"))
    try:
        yield ledger
    finally:
        ledger.close()


def parse(text: str) -> Samples:
    """Every sample of a scrape: (sample name, its labels) -> value."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def scrape(api: TestClient, token: str) -> tuple[str, Samples]:  # noqa: F811
    response = api.get("/metrics", headers=auth(token))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return response.text, parse(response.text)


def value(samples: Samples, name: str, default: float | None = None, **labels: str) -> float:
    found = samples.get((name, frozenset(labels.items())))
    if found is None:
        if default is None:
            raise AssertionError(f"no sample {name}{labels}")
        return default
    return found


def catch_up(app: RealtyLedger, *views: str) -> None:
    runner = app.views.make_runner(list(views))
    try:
        assert runner.acquire() == sorted(views)
        runner.catch_up()
        assert runner.last_error is None, runner.last_error
    finally:
        runner.release()


def test_a_request_is_counted_under_its_route_template_and_status_and_never_its_raw_path(
    api: TestClient, tokens: dict[str, str]  # noqa: F811
) -> None:
    customer = receive(api, tokens["consultant"])
    route = {"route": "/customers/{customer_id}", "method": "GET"}
    _, before = scrape(api, tokens["admin"])
    assert api.get(f"/customers/{customer}", headers=auth(tokens["consultant"])).status_code == 200
    assert_problem(api.get(f"/customers/{customer}", headers=auth(tokens["second_consultant"])), 404, "not_found")
    assert api.get(f"/wp-admin/{customer}/setup.php").status_code == 404
    assert api.request("BREW", "/coffee").status_code == 404
    text, after = scrape(api, tokens["admin"])

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, 0, **labels)

    assert delta("realty_http_requests_total", **route, status="200") == 1
    assert delta("realty_http_requests_total", **route, status="404") == 1
    # Paths no route knows share one label value, and so do methods nobody serves.
    assert delta("realty_http_requests_total", route="unmatched", method="GET", status="404") == 1
    assert delta("realty_http_requests_total", route="unmatched", method="other", status="404") == 1
    assert customer not in text and "wp-admin" not in text and "BREW" not in text
    # The latency histogram of the route: every bucket around the 100 ms target, and both requests.
    buckets = {dict(labels)["le"] for name, labels in after if name == "realty_http_request_duration_seconds_bucket"
               and {("route", route["route"]), ("method", "GET")} <= labels}
    assert buckets == {"0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.25", "0.5", "1.0", "2.5", "+Inf"}
    assert delta("realty_http_request_duration_seconds_count", **route) == 2
    assert delta("realty_http_request_duration_seconds_bucket", **route, le="+Inf") == 2
    assert delta("realty_http_request_duration_seconds_sum", **route) > 0


def test_a_command_raises_the_events_appended_by_the_process_and_the_log_size_alike(
    api: TestClient, app: RealtyLedger, tokens: dict[str, str]  # noqa: F811
) -> None:
    _, before = scrape(api, tokens["service_account"])
    assert value(before, "realty_log_events") == app.event_count()
    customer = receive(api, tokens["consultant"])
    assert api.post(f"/customers/{customer}/requests", headers=auth(tokens["consultant"]),
                    json={"subject": "学区政策"}).status_code == 201
    _, after = scrape(api, tokens["service_account"])
    appended = value(after, "realty_events_appended_total") - value(before, "realty_events_appended_total")
    assert appended >= 2  # the reception and the request, at least
    assert value(after, "realty_log_events") - value(before, "realty_log_events") == appended
    assert value(after, "realty_log_events") == app.event_count()


def test_each_view_reports_its_lag_behind_the_log_head_and_whether_it_has_stopped(
    api: TestClient, app: RealtyLedger, tokens: dict[str, str]  # noqa: F811
) -> None:
    receive(api, tokens["consultant"])
    events = app.event_count()
    _, samples = scrape(api, tokens["admin"])
    views = list(app.views.projections)
    assert {v: value(samples, "realty_projection_lag_events", view=v) for v in views} == dict.fromkeys(views, events)
    catch_up(app, "service_desk", "pipeline")
    _, samples = scrape(api, tokens["admin"])
    assert value(samples, "realty_projection_lag_events", view="service_desk") == 0
    assert value(samples, "realty_projection_lag_events", view="pipeline") == 0
    assert value(samples, "realty_projection_lag_events", view="satisfaction") == events
    assert {v: value(samples, "realty_projection_stopped", view=v) for v in views} == dict.fromkeys(views, 0)

    # What the runner writes when a view meets an event it cannot handle.
    track = tracking.active(app.views.store, "pipeline")
    assert track is not None
    tracking.record_failure(app.views.store, track, "position 3: a test's failure")
    _, samples = scrape(api, tokens["admin"])
    assert value(samples, "realty_projection_stopped", view="pipeline") == 1
    assert value(samples, "realty_projection_stopped", view="service_desk") == 0


def test_open_items_past_their_warning_point_are_counted_as_due_soon_or_breached(
    api: TestClient, app: RealtyLedger, team: Team, tokens: dict[str, str]  # noqa: F811
) -> None:
    _, samples = scrape(api, tokens["admin"])
    assert not [name for name, _ in samples if name == "realty_sla_open_items"]  # the view is not built yet
    now = datetime.now(UTC)
    customer = app.receive_customer(team.consultant, channel="walk_in", reception_started_at=now - 10 * 24 * H,
                                    reception_ended_at=now - 10 * 24 * H + 20 * timedelta(minutes=1)).id

    def request(hours_ago: float) -> str:
        return str(app.raise_request(team.consultant, customer, subject="学区政策", occurred_at=now - hours_ago * H)
                   .entity_id)

    def complaint(hours_ago: float) -> str:
        return str(app.file_complaint(team.service, customer, category="服务", severity="medium",
                                      description="带看迟到", occurred_at=now - hours_ago * H).entity_id)

    # In the order they happened (a record's history never goes back in time).
    complaint(80)  # 72 hours to handle: breached
    complaint(60)  # past its warning at 54 hours: due soon
    answered = request(40)  # answered late below, so no longer open: not counted
    request(30)  # 24 hours to respond: breached
    request(25)  # breached too, though the clock has not recorded it yet
    request(20)  # past its warning at 18 hours: due soon
    request(1)  # neither
    app.respond_to_request(team.service, customer, request_id=answered, response="已答复", occurred_at=now - H / 2)
    catch_up(app, "service_desk")
    text, samples = scrape(api, tokens["service_account"])
    assert {(kind, state): value(samples, "realty_sla_open_items", kind=kind, state=state)
            for kind in ("request", "complaint") for state in ("due_soon", "breached")} == {
        ("request", "due_soon"): 1, ("request", "breached"): 2,
        ("complaint", "due_soon"): 1, ("complaint", "breached"): 1}
    assert customer not in text and "学区" not in text


def test_a_checkpoint_shows_its_age_and_tree_size_and_the_keys_their_age(
    api: TestClient, app: RealtyLedger, tokens: dict[str, str]  # noqa: F811
) -> None:
    _, samples = scrape(api, tokens["admin"])
    assert not [name for name, _ in samples if name.startswith("realty_checkpoint_")]  # none signed yet
    assert not [name for name, _ in samples if name == "realty_signing_key_age_seconds"]  # no key made yet
    assert value(samples, "realty_master_key_active_version") == 1
    assert value(samples, "realty_master_key_age_seconds") >= 0
    receive(api, tokens["consultant"])
    made = api.post("/audit/checkpoints", headers=auth(tokens["compliance"]))
    assert made.status_code == 201, made.text
    checkpoint = made.json()
    _, samples = scrape(api, tokens["admin"])
    assert value(samples, "realty_checkpoint_tree_size") == checkpoint["tree_size"] == app.event_count()
    signed = datetime.fromisoformat(checkpoint["timestamp"]).timestamp()
    assert value(samples, "realty_checkpoint_timestamp_seconds") == signed
    assert value(samples, "realty_checkpoint_age_seconds") >= 0
    assert value(samples, "realty_signing_key_age_seconds") >= 0
    assert all(value(samples, "realty_scrape_read_ok", read=r) == 1
               for r in ("views", "sla", "checkpoint", "signing_key", "master_key"))


def test_a_verification_through_the_api_records_its_outcome_and_when(
    api: TestClient, tokens: dict[str, str]  # noqa: F811
) -> None:
    receive(api, tokens["consultant"])
    _, before = scrape(api, tokens["admin"])
    started = time.time()
    verified = api.get("/audit/verify", headers=auth(tokens["compliance"]))
    assert verified.status_code == 200 and verified.json()["clean"] is True
    _, after = scrape(api, tokens["admin"])
    clean = {"outcome": "clean"}
    assert (value(after, "realty_verifications_total", **clean)
            - value(before, "realty_verifications_total", 0, **clean)) == 1
    assert value(after, "realty_verification_last_timestamp_seconds", **clean) >= started
    assert value(after, "realty_verifications_total", 0, outcome="damaged") == value(
        before, "realty_verifications_total", 0, outcome="damaged")


def test_only_administrators_and_service_accounts_may_read_the_metrics(
    api: TestClient, tokens: dict[str, str]  # noqa: F811
) -> None:
    assert_problem(api.get("/metrics"), 401, "unauthenticated")
    assert_problem(api.get("/metrics", headers=auth("rlt_nonsense")), 401, "unauthenticated")
    for who in ("manager", "consultant", "customer_manager", "service", "compliance", "archivist"):
        assert_problem(api.get("/metrics", headers=auth(tokens[who])), 403, "forbidden")
    for who in ("admin", "service_account"):
        assert api.get("/metrics", headers=auth(tokens[who])).status_code == 200


def test_a_read_that_fails_is_reported_and_the_scrape_still_answers(
    api: TestClient, tokens: dict[str, str], tmp_path: Path  # noqa: F811
) -> None:
    _, before = scrape(api, tokens["admin"])
    (tmp_path / "keys").mkdir(exist_ok=True)
    (tmp_path / "keys" / "keyring.json").write_text("{not json", encoding="utf-8")  # a damaged signing keyring
    _, after = scrape(api, tokens["admin"])
    assert value(after, "realty_scrape_read_ok", read="signing_key") == 0
    assert (value(after, "realty_scrape_errors_total", read="signing_key")
            - value(before, "realty_scrape_errors_total", 0, read="signing_key")) == 1
    assert all(value(after, "realty_scrape_read_ok", read=r) == 1 for r in ("views", "sla", "checkpoint", "master_key"))
    assert value(after, "realty_log_events") >= 1


def test_a_served_api_with_two_workers_reports_the_requests_of_both_in_one_scrape(
    database_url: str, tmp_path: Path
) -> None:
    ledger = RealtyLedger(load_settings(database_url=database_url, signing_keys_dir=tmp_path / "var" / "keys"))
    try:
        staff = register_team(ledger).service_account
        token, _ = ledger.issue_token(Acting.system(), str(staff.staff_id), label="prometheus")
        events = ledger.event_count()
    finally:
        ledger.close()
    shared = tmp_path / "prometheus"
    shared.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REALTY_") or k == "REALTY_MASTER_KEYS"}
    env.update(REALTY_DATABASE_URL=database_url, REALTY_POOL_SIZE="2", REALTY_POOL_MAX_OVERFLOW="4",
               PROMETHEUS_MULTIPROC_DIR=str(shared))
    output = (tmp_path / "server-output.txt").open("w", encoding="utf-8")
    process = subprocess.Popen([str(REALTY), "serve", "--port", str(port), "--workers", "2"], cwd=tmp_path, env=env,
                               stdout=output, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, (tmp_path / "server-output.txt").read_text(encoding="utf-8")
            assert time.monotonic() < deadline, "the API did not come up within 120 s"
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        missing = [str(uuid.uuid4()) for _ in range(6)]
        for record in missing:  # a fresh connection each: the kernel hands them to either worker
            assert httpx.get(f"{base}/customers/{record}", headers=auth(token)).status_code == 404
        assert httpx.get(f"{base}/metrics", headers=auth("rlt_nonsense")).status_code == 401
        scraped = httpx.get(f"{base}/metrics", headers=auth(token))
        assert scraped.status_code == 200, scraped.text
        samples = parse(scraped.text)
        assert value(samples, "realty_http_requests_total", route="/customers/{customer_id}", method="GET",
                     status="404") == 6
        assert value(samples, "realty_http_requests_total", route="/metrics", method="GET", status="401") == 1
        assert not any(record in scraped.text for record in missing)
        assert value(samples, "realty_log_events") == events  # read from the store, as any worker sees it
        assert value(samples, "realty_scrape_read_ok", read="views") == 1
        # Both workers keep their counts in the shared directory (one file set per process id).
        writers = {path.stem.rsplit("_", 1)[1] for path in shared.glob("counter_*.db")}
        assert len(writers) >= 3, writers  # the serving command's own process, and each worker
    finally:
        process.terminate()
        process.wait(timeout=30)
        output.close()
