"""Each role sees and can do in the console exactly what the API's permission table allows it,
and a form without its CSRF token (or from another site) is refused with nothing recorded."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from domain.identity import STAFF_ROLES, Role
from service.api.app import create_app
from service.api.permissions import PERMISSIONS
from service.console.sections import FORMS, SECTIONS
from tests.e2e.console.harness import Console, csrf_of, http_session, log_head, screenshot, sign_in

# Every role a person holds (a service account cannot sign in: tested on its own below).
ROLES = sorted(role.value for role in STAFF_ROLES if role is not Role.SERVICE_ACCOUNT)
OPEN_TO_EVERY_ROLE = {"console.sign_in_form", "console.sign_in", "console.home", "console.language",
                      "console.sign_out"}


def allowed(role: str, route: str) -> bool:
    entry = PERMISSIONS.get(route)
    return entry == "public" or (isinstance(entry, dict) and Role(role) in entry)


def console_routes() -> list[APIRoute]:
    found: list[APIRoute] = []

    def walk(routes: Any) -> None:
        for route in routes:
            if isinstance(route, APIRoute):
                found.append(route)
            else:
                walk(getattr(getattr(route, "original_router", route), "routes", None) or ())

    walk(create_app().routes)
    return [r for r in found if r.name.startswith("console.")]


def test_every_console_form_names_the_api_route_it_calls_and_every_page_is_a_menu_entry() -> None:
    routes = console_routes()
    forms = {r.name for r in routes if "POST" in r.methods} - {"console.sign_in"}
    assert forms == set(FORMS), forms ^ set(FORMS)
    assert all(api in PERMISSIONS for api in FORMS.values())
    assert all(route in PERMISSIONS for s in SECTIONS for route in s.needs)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_sees_and_opens_only_the_pages_the_permission_table_allows(console: Console, role: str) -> None:
    with http_session(console, role) as client:
        home = client.get("/console/")
        assert home.status_code == 200
        menu = set(re.findall(r'data-nav="([a-z_]+)"', home.text))
        expected = {s.key for s in SECTIONS if all(allowed(role, r) for r in s.needs)}
        assert menu == expected
        for section in SECTIONS:
            answer = client.get(section.path)
            if section.key in expected:
                assert answer.status_code == 200, (role, section.path, answer.status_code, answer.text[-400:])
            else:
                assert answer.status_code == 403 and 'data-code="forbidden"' in answer.text, (role, section.path)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_may_press_only_the_buttons_the_permission_table_allows(console: Console, role: str) -> None:
    """Every form posted as every role, with a valid CSRF token and ids of nothing: a role the API's
    table does not name is refused (403) and nothing is recorded; a role it names gets past the
    console's check (the API then answers on the made-up ids)."""
    paths = {r.name: r.path for r in console_routes()}
    nothing = "00000000-0000-4000-8000-000000000000"
    with http_session(console, role) as client:
        csrf = csrf_of(client.get("/console/").text)
        for form, api_route in sorted(FORMS.items()):
            if form == "console.sign_out":
                continue  # pressed last, below
            path = re.sub(r"\{[a-z_]+\}", nothing, paths[form])
            head = log_head(console)
            answer = client.post(path, data={"csrf": csrf, "form_key": f"k{nothing[:12]}{len(path)}",
                                              "reason": "role test", "customer_id": nothing})
            if allowed(role, api_route):
                assert answer.status_code != 403 or 'data-code="forbidden"' not in answer.text, (role, form)
            else:
                assert answer.status_code == 403, (role, form, answer.status_code)
                assert log_head(console) == head, (role, form, "something was recorded")
        assert client.post("/console/sign-out", data={"csrf": csrf}).status_code == 303


def test_a_form_without_its_csrf_token_or_from_another_site_is_refused_and_records_nothing(console: Console) -> None:
    with http_session(console, "compliance_officer") as client:
        csrf = csrf_of(client.get("/console/").text)
        head = log_head(console)
        assert client.post("/console/sign-out", data={}).status_code == 403
        assert client.post("/console/sign-out", data={"csrf": "forged"}).status_code == 403
        assert client.post("/console/sign-out", data={"csrf": csrf},
                           headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
        assert client.post("/console/sign-out", data={"csrf": csrf},
                           headers={"Sec-Fetch-Site": "", "Origin": "http://evil.example"}).status_code == 403
        assert log_head(console) == head  # the session token was not revoked
        assert client.get("/console/").status_code == 200
        # The same form with its token signs out (and that is recorded: the revocation).
        assert client.post("/console/sign-out", data={"csrf": csrf}).status_code == 303
        assert log_head(console) > head
    # Another user's CSRF token is worth nothing in this session.
    with http_session(console, "archivist") as archivist, http_session(console, "sales_manager") as manager:
        foreign = csrf_of(manager.get("/console/").text)
        assert archivist.post("/console/sign-out", data={"csrf": foreign}).status_code == 403


def test_the_menu_in_the_browser_follows_the_role(console: Console, page: Any, browser: Any) -> None:
    for role in ("compliance_officer", "archivist", "sales_manager"):
        sign_in(page, console, role)
        shown = set(page.locator("[data-nav]").evaluate_all("els => els.map(e => e.dataset.nav)"))
        assert shown == {s.key for s in SECTIONS if all(allowed(role, r) for r in s.needs)}, role
        screenshot(page, f"home-{role}-zh-CN")
        page.click("[data-action=sign-out]")
        page.wait_for_url("**/console/sign-in")


def test_a_service_account_cannot_sign_in_to_the_console(console: Console) -> None:
    with httpx.Client(base_url=console.base, headers={"Sec-Fetch-Site": "same-origin"}) as client:
        nonce = re.search(r'name="nonce" value="([^"]+)"', client.get("/console/sign-in").text).group(1)  # type: ignore[union-attr]
        answer = client.post("/console/sign-in", data={"token": console.tokens["service_account"], "nonce": nonce})
        assert answer.status_code == 403 and 'data-error="sign_in.not_for_role"' in answer.text
        assert "realty_console" not in client.cookies
