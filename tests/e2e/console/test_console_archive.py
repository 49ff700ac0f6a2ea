"""The archive pages in a real browser, on both backends: an archivist walks the service files, one
file's documents and versions and the retention-due list (each against what the API answers); a
two-person disposition in two browser contexts (the archivist proposes, a compliance officer signed
in separately approves, and the archivist can neither see nor post an approval); a legal hold placed
and released through the page; a sealed package exported and downloaded through the page that
``realty archive verify`` accepts. Screenshots of the four pages in both languages.

The module's store is the demo's (``realty run``): its archive holds sealed deal and customer files
and the predecessor system's customer files, due for disposition, one of them on hold.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli import realty
from tests.e2e.console.harness import Console, csrf_of, http_session, new_page, screenshot, sign_in


def api_files(console: Console) -> list[dict[str, Any]]:
    with console.api("archivist") as api:
        answer = api.get("/service-files", params={"limit": 500})
        assert answer.status_code == 200, answer.text
        return list(answer.json()["items"])


def api_due(console: Console) -> list[dict[str, Any]]:
    with console.api("compliance_officer") as api:
        answer = api.get("/retention/due")
        assert answer.status_code == 200, answer.text
        return list(answer.json())


def api_file(console: Console, file_id: str, role: str = "archivist") -> dict[str, Any]:
    with console.api(role) as api:
        answer = api.get(f"/service-files/{file_id}")
        assert answer.status_code == 200, answer.text
        return dict(answer.json())


def rows(page: Any, table: str) -> list[Any]:
    return page.locator(f"table[data-table={table}] tbody tr").all()


def kept_file(console: Console) -> dict[str, Any]:
    """A file that is not due and has never been held: a deal file if the demo has one."""
    due = {d["file_id"] for d in api_due(console)}
    files = [f for f in api_files(console) if f["status"] == "sealed" and not f["holds"] and f["file_id"] not in due]
    files.sort(key=lambda f: f["record_class"] != "deal_file")
    assert files, "the demo has no sealed file that is not due"
    return files[0]


def test_the_archivist_walks_the_files_a_file_and_the_retention_due_list(console: Console, page: Any) -> None:
    sign_in(page, console, "archivist", next_path="/console/archive/files")
    files = api_files(console)
    assert files, "the demo wrote service files"

    # The list: every file the API lists, in its order, with its status and counts.
    assert page.locator("[data-total]").get_attribute("data-total") == str(len(files))
    shown = rows(page, "files")
    assert [r.get_attribute("data-file") for r in shown] == [f["file_id"] for f in files]
    for row, f in zip(shown, files, strict=True):
        assert row.locator("[data-status]").get_attribute("data-status") == f["status"]
        assert row.locator("[data-documents]").get_attribute("data-documents") == str(f["documents"])
        assert row.locator("[data-holds]").get_attribute("data-holds") == str(len(f["holds"]))
    screenshot(page, "archive-files-zh-CN")

    # A filter narrows the list as the API does.
    page.select_option("[data-filter=record_class]", "customer_file")
    page.wait_for_url(re.compile(r".*record_class=customer_file.*"))
    customer_files = [f["file_id"] for f in files if f["record_class"] == "customer_file"]
    assert [r.get_attribute("data-file") for r in rows(page, "files")] == customer_files

    # One file: the one with the most versions (and holds). Its documents and versions are the API's.
    details = [api_file(console, f["file_id"]) for f in files[:30]]
    chosen = max(details, key=lambda d: (sum(len(doc["versions"]) for doc in d["documents"]), len(d["holds"])))
    page.goto(f"{console.base}/console/archive/files")
    page.click(f"tr[data-file='{chosen['id']}'] a[data-link=file]")
    page.wait_for_url(f"**/console/archive/files/{chosen['id']}")
    expected = {(d["document_id"], v["version"], str(v["size"]), v["sha256"], d["kind"], v["change_reason"] or "")
                for d in chosen["documents"] for v in d["versions"]}
    seen = set()
    for row in rows(page, "documents"):
        reason = row.locator("[data-reason]").inner_text().strip()
        version = int(row.get_attribute("data-version") or 0)
        seen.add((row.get_attribute("data-document"), version, row.get_attribute("data-size"),
                  row.get_attribute("data-sha256"), row.get_attribute("data-kind"), reason if version > 1 else ""))
    assert seen == expected
    assert page.locator("[data-document-count]").get_attribute("data-document-count") == str(len(chosen["documents"]))
    number = chosen["archive_number"]
    assert page.locator("h1 [data-archive-number]").inner_text() == number
    assert len(rows(page, "holds")) == len(chosen["holds"])
    screenshot(page, "archive-file-zh-CN")

    # Retention due: the rows are the API's; the held file shows its hold and offers no proposal.
    page.click("[data-nav=retention]")
    page.wait_for_url("**/console/archive/retention")
    due = api_due(console)
    assert len(due) >= 3, due  # the predecessor system's customers
    due_rows = rows(page, "retention")
    assert [r.get_attribute("data-file") for r in due_rows] == [d["file_id"] for d in due]
    for row, d in zip(due_rows, due, strict=True):
        assert row.get_attribute("data-holds") == str(len(d["holds"]))
        assert row.get_attribute("data-disposition") == (d["disposition"] or "none")
    held = [d for d in due if d["holds"]]
    assert len(held) == 1
    held_row = page.locator(f"tr[data-file='{held[0]['file_id']}']")
    assert held_row.locator("[data-blocked=hold]").is_visible()
    assert held_row.locator("[data-action=propose]").count() == 0
    screenshot(page, "archive-retention-zh-CN")

    held_row.locator("a[data-link=file]").click()
    page.wait_for_url(f"**/console/archive/files/{held[0]['file_id']}")
    assert page.locator("[data-disposition-note=held]").is_visible()
    assert page.locator("[data-action=propose]").count() == 0
    assert page.locator("tr[data-hold-state=active] [data-hold-reason]").inner_text().strip()

    # Posted anyway (the form a stale page would send), the API refuses it and the page says why.
    with http_session(console, "archivist") as client:
        form_page = client.get(f"/console/archive/files/{held[0]['file_id']}")
        refused = client.post(f"/console/archive/files/{held[0]['file_id']}/disposition/proposal",
                              data={"csrf": csrf_of(form_page.text), "form_key": "stale-page-0001"})
        assert refused.status_code == 303
        answer = client.get(refused.headers["location"])
        assert 'data-flash="problem"' in answer.text and "legal_hold_active" in answer.text
    assert api_file(console, held[0]["file_id"])["pending_disposition"] is None


def test_a_disposition_takes_two_people_in_two_browsers(console: Console, browser: Any) -> None:
    archivist = new_page(browser)
    compliance = new_page(browser)
    try:
        sign_in(archivist, console, "archivist", next_path="/console/archive/retention")
        row = archivist.locator("tr[data-holds='0'][data-disposition='none']").first
        file_id = row.get_attribute("data-file")
        assert file_id
        row.locator("[data-action=propose]").click()
        archivist.wait_for_url("**/console/archive/retention")
        assert archivist.locator("[data-flash='archive.done.proposed']").is_visible()
        assert archivist.locator(f"tr[data-file='{file_id}']").get_attribute("data-disposition") == "proposed"
        proposed = api_file(console, file_id)
        assert proposed["pending_disposition"]["proposed_by"] == console.staff_ids["archivist"]

        # The archivist's page never offers the approval; posting its form is refused, nothing recorded.
        archivist.goto(f"{console.base}/console/archive/files/{file_id}")
        assert archivist.locator("[data-section=proposal]").is_visible()
        assert archivist.locator("[data-action=approve]").count() == 0
        assert archivist.locator("[data-action=reject]").count() == 0
        with http_session(console, "archivist") as client:
            csrf = csrf_of(client.get(f"/console/archive/files/{file_id}").text)
            refused = client.post(f"/console/archive/files/{file_id}/disposition/approval",
                                  data={"csrf": csrf, "form_key": "archivist-approves-01"})
            assert refused.status_code == 403 and 'data-code="forbidden"' in refused.text
        after = api_file(console, file_id)
        assert after["version"] == proposed["version"] and after["pending_disposition"]["approved_by"] is None

        # The compliance officer, signed in separately, sees the proposal and approves it.
        sign_in(compliance, console, "compliance_officer", next_path="/console/archive/retention")
        assert compliance.locator(f"tr[data-file='{file_id}']").get_attribute("data-disposition") == "proposed"
        compliance.locator(f"tr[data-file='{file_id}'] [data-action=review]").click()
        compliance.wait_for_url(f"**/console/archive/files/{file_id}")
        compliance.on("dialog", lambda dialog: dialog.accept())  # "approve and destroy now?"
        compliance.click("[data-action=approve]")
        compliance.wait_for_selector("[data-flash='archive.done.approved']")
        certificate = api_file(console, file_id, "compliance_officer")["certificate"]
        assert certificate["approved_by"] == console.staff_ids["compliance_officer"]
        assert certificate["proposed_by"] == console.staff_ids["archivist"]
        assert compliance.locator("h1").get_attribute("data-status") == "disposed"
        shown = compliance.locator("[data-section=certificate] [data-destroyed-documents]")
        assert shown.get_attribute("data-destroyed-documents") == str(len(certificate["destroyed_documents"]))

        # The archivist sees it disposed, with the certificate; it has left the retention-due list.
        archivist.reload()
        assert archivist.locator("h1").get_attribute("data-status") == "disposed"
        assert archivist.locator("[data-section=certificate] [data-destroyed-keys]").get_attribute(
            "data-destroyed-keys") == str(len(certificate["destroyed_keys"]))
        assert file_id not in {d["file_id"] for d in api_due(console)}
    finally:
        archivist.context.close()
        compliance.context.close()


def test_a_compliance_officer_places_and_releases_a_hold_with_reasons(console: Console, page: Any) -> None:
    target = kept_file(console)
    file_id = target["file_id"]
    sign_in(page, console, "compliance_officer", next_path=f"/console/archive/files/{file_id}")
    assert page.locator("[data-action=check], [data-action=seal], [data-action=propose]").count() == 0
    page.fill("[data-field=hold-reason]", "法院调查令（2026）沪0115民初4711号")
    page.click("[data-action=place-hold]")
    page.wait_for_selector("[data-flash='archive.done.hold_placed']")
    active = page.locator("tr[data-hold-state=active]")
    assert active.locator("[data-hold-reason]").inner_text().strip() == "法院调查令（2026）沪0115民初4711号"
    held = api_file(console, file_id, "compliance_officer")
    (hold,) = [h for h in held["holds"] if h["released_at"] is None]
    assert hold["hold_reason"] == "法院调查令（2026）沪0115民初4711号"
    assert active.get_attribute("data-hold") == hold["hold_id"]

    active.locator("[data-field=release-reason]").fill("案件已结，调查令解除")
    active.locator("[data-action=release-hold]").click()
    page.wait_for_selector("[data-flash='archive.done.hold_released']")
    released = page.locator(f"tr[data-hold='{hold['hold_id']}']")
    assert released.get_attribute("data-hold-state") == "released"
    assert released.locator("[data-release-reason]").inner_text().strip() == "案件已结，调查令解除"
    after = api_file(console, file_id, "compliance_officer")
    assert after["active_holds"] == [] and after["version"] == held["version"] + 1


def _download_and_verify(page: Any, console: Console, tmp_path: Path, name: str) -> None:
    sha256 = page.locator("[data-field=sha256]").inner_text().strip()
    with page.expect_download() as info:
        page.click("[data-action=download]")
    download = info.value
    assert download.suggested_filename.endswith((".tar", ".zip"))
    saved = tmp_path / f"{name}-{download.suggested_filename}"
    download.save_as(saved)
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == sha256
    # As a third party would: the public keys handed over out of band, no store, another directory.
    keys = tmp_path / f"{name}-keys.txt"
    exported = realty("audit", "public-key", "--out", str(keys), database_url=console.database_url, cwd=console.home)
    assert exported.returncode == 0, exported.stdout + exported.stderr
    outsider = tmp_path / f"{name}-outsider"
    outsider.mkdir()
    verified = realty("archive", "verify", str(saved), "--public-key", str(keys), cwd=outsider)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "VERIFIED" in verified.stdout


def test_the_archivist_exports_a_package_the_browser_downloads_and_realty_verifies(
        console: Console, browser: Any, tmp_path: Path) -> None:
    target = kept_file(console)
    page = new_page(browser, accept_downloads=True)
    try:
        sign_in(page, console, "archivist", next_path="/console/archive/exports")
        field = "deal_id" if target["owner_kind"] == "deal" else "customer_id"
        page.fill(f"[data-field={field}]", target["owner_id"])
        page.check("[data-format=zip]")
        page.click("[data-action=export]")
        page.wait_for_selector("[data-flash='archive.done.exported']", timeout=120_000)
        with console.api("archivist") as api:
            owned = api.get("/service-files", params={"owner_id": target["owner_id"]}).json()["items"]
        versions = sum(len(d["versions"]) for f in owned if f["status"] != "disposed"
                       for d in api_file(console, f["file_id"])["documents"])
        assert int(page.locator("[data-field=documents]").inner_text()) == versions
        assert int(page.locator("[data-field=events]").inner_text()) > 0
        assert int(page.locator("[data-field=tree_size]").inner_text()) > 0
        screenshot(page, "archive-exports-zh-CN")
        _download_and_verify(page, console, tmp_path, "form")

        # One click on a file's page: its owner's package, shown and downloaded there.
        page.goto(f"{console.base}/console/archive/files/{target['file_id']}")
        page.click("[data-action=export]")
        page.wait_for_selector("[data-flash='archive.done.exported']", timeout=120_000)
        assert page.url.endswith(f"/console/archive/files/{target['file_id']}")
        _download_and_verify(page, console, tmp_path, "one-click")
    finally:
        page.context.close()


def test_the_download_is_an_attachment_in_its_media_type_never_cached(console: Console) -> None:
    target = kept_file(console)
    with console.api("compliance_officer") as api:
        made = api.post("/archive/exports", json={f"{target['owner_kind']}_id": target["owner_id"], "format": "zip"})
        assert made.status_code == 201, made.text
        export = made.json()
    with http_session(console, "compliance_officer") as client:
        got = client.get(f"/console/archive/exports/{export['export_id']}/download")
    assert got.status_code == 200
    assert got.headers["content-type"] == "application/zip"
    assert got.headers["content-disposition"].startswith("attachment;")
    assert export["file_name"] in got.headers["content-disposition"]
    assert got.headers["cache-control"] == "no-store" and got.headers["x-content-type-options"] == "nosniff"
    assert hashlib.sha256(got.content).hexdigest() == export["sha256"]


def test_the_download_route_refuses_other_roles_and_unknown_packages(console: Console) -> None:
    for role, status in (("sales_manager", 403), ("archivist", 404)):
        with http_session(console, role) as client:
            assert client.get("/console/archive/exports/" + "0" * 32 + "/download").status_code == status
            assert client.get("/console/archive/exports/not-an-export/download").status_code == status
            assert client.get("/console/archive/files").status_code == (403 if status == 403 else 200)


@pytest.mark.parametrize("path,name", [("/console/archive/files", "archive-files-en"),
                                       ("/console/archive/retention", "archive-retention-en"),
                                       ("/console/archive/exports", "archive-exports-en")])
def test_the_archive_pages_in_english(console: Console, english_page: Any, path: str, name: str) -> None:
    sign_in(english_page, console, "archivist", next_path=path)
    # The console's script tells the server the browser's zone once, and the page reloads in it.
    english_page.wait_for_function("document.documentElement.dataset.zone === 'Europe/Berlin'")
    assert english_page.locator("html").get_attribute("lang") == "en"
    assert english_page.locator("[data-nav=files]").inner_text() == "Service files"
    screenshot(english_page, name)
    if path.endswith("/files"):
        due = api_due(console)
        held = next(d for d in due if d["holds"])
        english_page.goto(f"{console.base}/console/archive/files/{held['file_id']}")
        assert english_page.locator("footer").inner_text().count("Europe/Berlin") == 1
        assert english_page.locator("[data-disposition-note=held]").is_visible()
        screenshot(english_page, "archive-file-en")
