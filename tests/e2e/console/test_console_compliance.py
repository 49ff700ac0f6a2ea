"""The compliance officer's console pages in a real browser, on the demo data, on both backends:
search → a customer's timeline (every event, each proof checked by the page against the signed
checkpoint) → its state as of a moment and what changed between two → the log's verification →
the personal-data access log (the officer's own reads) → SLA breaches; each compared with what
the API answers. And a row re-sealed behind the application's back, on a store of its own, turns
that one event's badge to "failed".
"""

from __future__ import annotations

import re
import sqlite3
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from service.application import RealtyLedger
from service.settings import load_settings
from tests.conftest import BACKENDS, require_postgres
from tests.e2e.console.harness import Console, new_page, screenshot, served_console, sign_in

SHANGHAI = ZoneInfo("Asia/Shanghai")  # the ``page`` fixture's zone


def local_input(moment: datetime, zone: ZoneInfo = SHANGHAI) -> str:
    """A moment as a ``datetime-local`` value on the user's wall clock, to the second."""
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S")


def team_of(console: Console, role: str) -> str:
    for line in (console.home / "var" / "demo-tokens.txt").read_text(encoding="utf-8").splitlines():
        if not line.startswith("#") and line.split("\t")[0] == role:
            return line.split("\t")[1]
    raise AssertionError(f"no demo token for {role}")


def customers_of(console: Console, team: str) -> list[dict[str, Any]]:
    with console.api("compliance_officer") as api:
        customers = api.get("/views/pipeline", params={"limit": 500, "team": team}).json()["items"]
    assert len(customers) >= 2, f"the demo has too few customers in {team}"
    return customers


def a_customer_with_a_deal(console: Console, team: str) -> dict[str, Any]:
    customers = customers_of(console, team)
    return next((c for c in customers if c["deals"]), customers[0])


def late_items(console: Console, customer_id: str) -> tuple[str, str]:
    """A request raised 30 hours ago and still open (past the 24-hour rule), and one raised then
    and answered now (closed late): their ids."""
    raised_at = (datetime.now(UTC) - timedelta(hours=30)).isoformat()
    with console.api("customer_service") as desk:
        ids = []
        for subject in ("合规审计：逾期未答复", "合规审计：逾期后答复"):
            answer = desk.post(f"/customers/{customer_id}/requests", json={"subject": subject, "occurred_at": raised_at})
            assert answer.status_code == 201, answer.text
            ids.append(answer.json()["entity_id"])
        answered = desk.post(f"/customers/{customer_id}/requests/{ids[1]}/response", json={"response": "已答复"})
        assert answered.status_code == 200, answered.text
        position = answered.json()["position"]
    with console.api("compliance_officer") as officer:  # the service desk view has caught up
        assert officer.get("/views/service-desk", params={"min_position": position, "limit": 1}).status_code == 200
    return ids[0], ids[1]


def badges(page: Any) -> list[str]:
    return page.locator("tr[data-event] [data-badge]").evaluate_all("els => els.map(e => e.dataset.badge)")


def same_on_page_as_in_api(read_page: Callable[[], list[str]], read_api: Callable[[], list[str]]) -> list[str]:
    """What the page shows equals what the API answers, read around it (a clock or a timer may
    change the answer meanwhile: then once more)."""
    for _ in range(3):
        before = read_api()
        shown = read_page()
        if read_api() == before:
            assert shown == before
            return shown
    raise AssertionError("the API's answer kept changing while the page was read")


def test_a_compliance_officer_walks_from_search_to_timeline_state_diff_log_access_log_and_sla(
        console: Console, page: Any) -> None:
    service_team = team_of(console, "customer_service")
    customer = a_customer_with_a_deal(console, service_team)
    customer_id = customer["customer_id"]
    other = next(c["customer_id"] for c in customers_of(console, service_team) if c["customer_id"] != customer_id)
    still_open, answered_late = late_items(console, other)
    # An event of today at a second of its own, so that two moments around it differ.
    # A moment whose seconds are not 0: a datetime-local input drops ":00", and the page then reads
    # the whole minute (up to the end of the last unit typed), which could take in the request.
    while (before_request := datetime.now(UTC).replace(microsecond=0)).astimezone(SHANGHAI).second == 0:
        time.sleep(0.1)
    time.sleep(max(0.0, (before_request + timedelta(seconds=1.2) - datetime.now(UTC)).total_seconds()))
    with console.api("customer_service") as desk:
        raised = desk.post(f"/customers/{customer_id}/requests", json={"subject": "合规审计：询问学区政策"})
        assert raised.status_code == 201, raised.text

    # The log's verification, and a checkpoint signed through the page (the request is then covered).
    sign_in(page, console, "compliance_officer", next_path="/console/audit/log")
    page.click("[data-action=sign-checkpoint]")
    page.wait_for_selector("[data-flash='compliance.log.signed']")
    assert page.locator("[data-status]").count() == 0  # the whole log is verified only when asked
    page.click("[data-action=verify]")
    page.wait_for_url("**/console/audit/log?verify=true")
    assert page.locator("[data-status]").get_attribute("data-status") == "ok"
    assert page.locator("[data-signature]").first.get_attribute("data-signature") == "verified"
    officer = console.api("compliance_officer")
    signed = officer.get("/audit/checkpoints", params={"limit": 20}).json()["checkpoints"]
    rows = page.locator("[data-checkpoint-row]")
    assert rows.evaluate_all("rs => rs.map(r => Number(r.dataset.checkpointRow))") == [c["tree_size"] for c in signed]
    assert page.locator("[data-checkpoint-row] [data-signature=verified]").count() == len(signed) > 0
    assert officer.get("/audit/verify").json()["clean"] is True

    def checkpoint_on_page() -> list[str]:
        page.reload()
        return [page.locator("[data-field=checkpoint_tree_size]").inner_text()]

    same_on_page_as_in_api(checkpoint_on_page,
                           lambda: [str(officer.get("/audit/checkpoints/latest").json()["tree_size"])])
    screenshot(page, "compliance-log-zh-CN")
    # A form posted without its CSRF token is refused, and signs nothing.
    refused = page.request.post(f"{console.base}/console/audit/checkpoints", form={"form_key": "a" * 32})
    assert refused.status == 403

    # Search: the browse list (customers from the pipeline), then the customer by id.
    page.click("[data-nav=search]")
    page.wait_for_selector("table[data-table=customers]")
    listed = page.locator("tr[data-customer]").evaluate_all("rows => rows.map(r => r.dataset.customer)")
    assert listed == [c["customer_id"] for c in officer.get("/views/pipeline", params={"limit": 25}).json()["items"]]
    screenshot(page, "compliance-search-zh-CN")
    page.fill("[data-field=q]", "孟芳")  # not an id: the browser refuses to send it (no name in a URL)
    page.click("[data-action=search]")
    assert "q=" not in page.url
    page.fill("[data-field=q]", customer_id.upper())
    page.click("[data-action=search]")
    page.wait_for_url(f"**/console/audit/customers/{customer_id}")

    # The timeline: every event of the API's history, each proof verified by the page.
    history = officer.get(f"/audit/customers/{customer_id}/history").json()
    events = history["events"]
    assert page.locator("tr[data-event]").count() == len(events) == int(page.locator("[data-count=events]").inner_text())
    assert badges(page) == ["verified"] * len(events)
    assert page.locator("[data-count=failed]").inner_text() == "0"
    for deal_id in customer["deals"]:  # the deals are reachable from the customer's timeline
        assert page.locator(f"a[href='/console/audit/deals/{deal_id}']").count() >= 1
    screenshot(page, "compliance-timeline-zh-CN")

    # The state as of a moment before the request, and what changed from then to now.
    page.fill("[data-field=at]", local_input(before_request))
    page.click("[data-action=as-of]")
    page.wait_for_selector("[data-as-of-version]")
    at = (before_request + timedelta(microseconds=999_999)).isoformat()
    then = officer.get(f"/audit/customers/{customer_id}/as-of", params={"at": at}).json()
    assert int(page.locator("[data-as-of-version]").get_attribute("data-as-of-version")) == then["version"]
    assert then["version"] == events[-1]["version"] - 1  # the request is the one event after it
    shown_fields = page.locator("table[data-table=as-of] tr[data-field]").evaluate_all(
        "rows => rows.map(r => r.dataset.field)")
    assert shown_fields == list(then)
    for deal_id in then.get("deals") or {}:  # and from the customer's state
        assert page.locator(f"[data-related=as-of] a[href='/console/audit/deals/{deal_id}']").count() == 1

    page.fill("[data-field=from]", local_input(before_request))
    page.fill("[data-field=to]", local_input(datetime.now(UTC)))
    page.click("[data-action=diff]")
    page.wait_for_selector("[data-diff]")
    last = events[-1]["version"]
    assert page.locator("[data-diff]").get_attribute("data-diff") == f"{then['version']}-{last}"
    diff = officer.get(f"/audit/customers/{customer_id}/diff", params={"from": then["version"], "to": last}).json()
    changed = page.locator("tr[data-changed]").evaluate_all("rows => rows.map(r => r.dataset.changed)")
    assert changed == list(diff["changed"]) and "requests" in changed
    assert page.locator("[data-as-of-version]").count() == 1  # the state shown stays on the page
    screenshot(page, "compliance-timeline-state-diff-zh-CN")

    # The access log: the officer's own full reads of this customer (the timeline, the state, the diff).
    page.click("[data-nav=access_log]")
    page.select_option("[data-field=reader]", console.staff_ids["compliance_officer"])
    page.click("[data-action=show-reads]")
    page.wait_for_selector("table[data-table=reads]")
    purposes = page.locator(f"tr[data-read='{customer_id}']").evaluate_all("rows => rows.map(r => r.dataset.purpose)")
    assert {"audit.history", "audit.as_of", "audit.diff"} <= set(purposes)
    reads = officer.get("/audit/access-log", params={"reader": console.staff_ids["compliance_officer"]}).json()["reads"]
    assert page.locator("tr[data-read]").count() == len(reads)
    assert {r["subject_id"] for r in reads if r["purpose"] == "audit.history"} >= {customer_id}
    screenshot(page, "compliance-access-log-zh-CN")

    # SLA breaches: the rows are the API's breached items, then those closed late, then those open
    # past their due time (the clock records their breach within a minute).
    page.click("[data-nav=sla]")
    page.wait_for_selector("table[data-table=breaches]")
    shown: dict[str, list[str]] = {}
    for which, query in (("breached", {"breached": "true"}), ("closed_late", {"closed_late": "true"}),
                         ("overdue", {"overdue": "true"})):
        if which != "breached":
            page.select_option("[data-field=which]", which)
            page.click("[data-action=filter]")
            page.wait_for_url(re.compile(rf".*which={which}.*"))

        def on_page() -> list[str]:
            page.reload()
            return page.locator("tr[data-item]").evaluate_all("rows => rows.map(r => r.dataset.item)")

        def in_api(query: dict[str, str] = query) -> list[str]:
            return [i["item_id"] for i in officer.get("/views/service-desk", params={**query, "limit": 50}).json()["items"]]

        shown[which] = same_on_page_as_in_api(on_page, in_api)
        if which == "closed_late":
            screenshot(page, "compliance-sla-zh-CN")
    assert answered_late in shown["closed_late"] and still_open in shown["overdue"]
    assert page.locator(f"tr[data-item='{still_open}'] [data-late]").inner_text().startswith("0 天 6 小时")
    officer.close()


def test_the_compliance_pages_in_english_in_the_browsers_time_zone(console: Console, english_page: Any) -> None:
    page = english_page
    customer_id = a_customer_with_a_deal(console, team_of(console, "customer_service"))["customer_id"]
    sign_in(page, console, "compliance_officer", next_path="/console/audit/search")
    assert page.locator("html").get_attribute("lang") == "en"
    screenshot(page, "compliance-search-en")
    page.goto(f"{console.base}/console/audit/customers/{customer_id}")
    assert page.locator("html").get_attribute("data-zone") == "Europe/Berlin"
    assert page.locator("tr[data-event]").count() > 0
    screenshot(page, "compliance-timeline-en")
    for path, name in (("log", "log"), ("access-log", "access-log"), ("sla-breaches?which=closed_late", "sla")):
        page.goto(f"{console.base}/console/audit/{path}")
        screenshot(page, f"compliance-{name}-en")


def test_an_administrator_reads_timelines_masked_and_other_roles_see_no_compliance_pages(
        console: Console, page: Any, browser: Any) -> None:
    customer_id = a_customer_with_a_deal(console, team_of(console, "customer_service"))["customer_id"]
    with console.api("compliance_officer") as officer:
        name = officer.get(f"/audit/customers/{customer_id}/as-of", params={"version": 2}).json().get("name")
    sign_in(page, console, "administrator", next_path=f"/console/audit/customers/{customer_id}")
    assert page.locator("tr[data-event]").count() > 0
    if name:
        assert name not in page.content()  # masked for an administrator, as the API masks it
    assert page.locator("[data-nav=sla]").count() == 0  # no views.service_desk for this role
    assert page.locator("table[data-table=customers]").count() == 0
    page.goto(f"{console.base}/console/audit/search")
    assert page.locator("table[data-table=customers]").count() == 0  # no pipeline for this role either

    manager = new_page(browser)
    try:
        sign_in(manager, console, "sales_manager")
        assert manager.locator("[data-nav=search], [data-nav=verification], [data-nav=access_log]").count() == 0
        answer = manager.goto(f"{console.base}/console/audit/customers/{customer_id}")
        assert answer.status == 403
        assert manager.locator("[data-code=forbidden]").count() == 1
    finally:
        manager.context.close()


# --- a row changed behind the application's back ---------------------------------------------------


def reseal(console: Console, record_id: str, version: int, change: Callable[[dict[str, Any]], None]) -> None:
    """Play an insider who holds the keys (the data keys' master key is on the machine): decrypt
    one stored event, change it, seal it again for its row, and write it back with plain SQL. The
    history still reads (the state opens for its row), but the row is no longer the one signed."""
    settings = load_settings(database_url=console.database_url, signing_keys_dir=console.home / "var" / "keys",
                             checkpoint_interval=0, automation_interval=0, embedded_projector=False)
    ledger = RealtyLedger(settings)
    try:
        stored = next(e for e in ledger.recorder.select_events(uuid.UUID(record_id)) if e.originator_version == version)
        event = ledger.mapper.to_domain_event(stored)
        change(event.__dict__)
        state = ledger.mapper.to_stored_event(event).state
    finally:
        ledger.close()
    if console.database_url.startswith("sqlite"):
        with sqlite3.connect(console.database_url.removeprefix("sqlite:///"), timeout=30) as conn:
            conn.execute("UPDATE stored_events SET state = ? WHERE originator_id = ? AND originator_version = ?",
                         (state, uuid.UUID(record_id).hex, version))
    else:
        with psycopg.connect(console.database_url) as conn, conn.transaction():
            conn.execute("UPDATE realty_events SET state = %s WHERE originator_id = %s AND originator_version = %s",
                         (state, uuid.UUID(record_id), version))


def flip_a_byte(console: Console, record_id: str, version: int) -> None:
    """Play an outsider without the keys: change one byte of a stored event's sealed state."""
    if console.database_url.startswith("sqlite"):
        with sqlite3.connect(console.database_url.removeprefix("sqlite:///"), timeout=30) as conn:
            where = (uuid.UUID(record_id).hex, version)
            (state,) = conn.execute("SELECT state FROM stored_events WHERE originator_id = ? AND originator_version = ?",
                                    where).fetchone()
            changed = bytes(state[:-1]) + bytes([state[-1] ^ 0x01])
            conn.execute("UPDATE stored_events SET state = ? WHERE originator_id = ? AND originator_version = ?",
                         (changed, *where))
    else:
        with psycopg.connect(console.database_url) as conn, conn.transaction():
            where = (uuid.UUID(record_id), version)
            (state,) = conn.execute("SELECT state FROM realty_events WHERE originator_id = %s "
                                    "AND originator_version = %s", where).fetchone()
            changed = bytes(state[:-1]) + bytes([state[-1] ^ 0x01])
            conn.execute("UPDATE realty_events SET state = %s WHERE originator_id = %s AND originator_version = %s",
                         (changed, *where))


def delete_row(console: Console, record_id: str, version: int) -> None:
    """Play an outsider who deletes one stored event of a record."""
    if console.database_url.startswith("sqlite"):
        with sqlite3.connect(console.database_url.removeprefix("sqlite:///"), timeout=30) as conn:
            conn.execute("DELETE FROM stored_events WHERE originator_id = ? AND originator_version = ?",
                         (uuid.UUID(record_id).hex, version))
    else:
        with psycopg.connect(console.database_url) as conn, conn.transaction():
            conn.execute("DELETE FROM realty_events WHERE originator_id = %s AND originator_version = %s",
                         (uuid.UUID(record_id), version))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_row_changed_behind_the_applications_back_fails_its_badge_and_the_others_stay_verified(
        backend: str, browser: Any, tmp_path: Path) -> None:
    # A store of its own: the tampering must not reach the other tests' demo store.
    if backend == "postgres":
        require_postgres()
    with served_console(tmp_path, backend, customers=4) as console:
        with console.api("compliance_officer") as officer:
            for c in officer.get("/views/pipeline", params={"limit": 50}).json()["items"]:
                history = officer.get(f"/audit/customers/{c['customer_id']}/history").json()
                needs = [e for e in history["events"] if e["event"] == "realty.customer.needs_recorded"]
                if needs and len(history["events"]) >= 3:
                    customer_id, victim = c["customer_id"], needs[0]
                    break
            else:
                raise AssertionError("no demo customer with recorded needs")
            assert officer.post("/audit/checkpoints").status_code == 201

            reseal(console, customer_id, victim["version"],
                   lambda state: state.update(budget_max=state["budget_max"] + 1_000_000))

            tampered = officer.get(f"/audit/customers/{customer_id}/history")
            assert tampered.status_code == 200  # the history still answers, with the changed budget
            shown = next(e for e in tampered.json()["events"] if e["version"] == victim["version"])
            assert shown["data"]["budget_max"] == victim["data"]["budget_max"] + 1_000_000
            report = officer.get("/audit/verify").json()
            assert report["first_problem"]["kind"] == "modified"
            assert report["first_problem"]["position"] == victim["inclusion"]["position"]

            # An outsider's change (one byte, no keys): the row no longer opens. The history still
            # answers, listing that event as damaged rather than failing the whole read.
            flipped = next(e["version"] for e in tampered.json()["events"] if e["version"] != victim["version"])
            flip_a_byte(console, customer_id, flipped)
            tampered = officer.get(f"/audit/customers/{customer_id}/history")
            assert tampered.status_code == 200
            assert [e["version"] for e in tampered.json()["events"] if e.get("damaged")] == [flipped]
            refused = officer.get(f"/audit/customers/{customer_id}/as-of", params={"version": flipped})
            assert refused.status_code == 409 and refused.json()["code"] == "record_damaged"

            # A row deleted from the middle: the history lists the gap as a missing event.
            events = tampered.json()["events"]
            deleted = next(e["version"] for e in events[1:-1] if e["version"] not in (victim["version"], flipped))
            delete_row(console, customer_id, deleted)
            tampered = officer.get(f"/audit/customers/{customer_id}/history")
            assert tampered.status_code == 200
            assert [e["version"] for e in tampered.json()["events"] if e.get("missing")] == [deleted]

        page = new_page(browser)
        try:
            sign_in(page, console, "compliance_officer", next_path=f"/console/audit/customers/{customer_id}")
            expected = ["failed" if e["version"] in (victim["version"], flipped, deleted) else "verified"
                        for e in tampered.json()["events"]]
            assert badges(page) == expected
            assert page.locator(f"tr[data-event='{flipped}'] [data-damaged]").is_visible()
            assert page.locator(f"tr[data-event='{deleted}'] [data-missing]").is_visible()
            assert page.locator(f"tr[data-event='{victim['version']}'] [data-badge]").get_attribute(
                "data-badge") == "failed"
            screenshot(page, "compliance-timeline-tampered-zh-CN")
            page.goto(f"{console.base}/console/audit/log?verify=true")
            assert page.locator("[data-status]").get_attribute("data-status") == "damaged"
            assert page.locator("[data-first-problem]").get_attribute("data-first-problem") == "modified"
            screenshot(page, "compliance-log-tampered-zh-CN")
        finally:
            page.context.close()
