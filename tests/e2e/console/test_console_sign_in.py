"""Signing in and out of the console in a real browser, and the headers every page carries."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.console.harness import Console, screenshot, sign_in


def test_a_compliance_officer_signs_in_with_a_token_and_out_again(console: Console, page: Any) -> None:
    page.goto(f"{console.base}/console/")
    assert "/console/sign-in" in page.url  # no session: to the sign-in page
    sign_in(page, console, "compliance_officer")
    assert page.locator("[data-role=compliance_officer]").is_visible()
    cookie = next(c for c in page.context.cookies() if c["name"] == "realty_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"
    assert cookie["value"] != console.tokens["compliance_officer"]  # a session token of its own
    screenshot(page, "home-zh-CN")

    page.click("[data-action=sign-out]")
    page.wait_for_url("**/console/sign-in")
    assert page.locator("[data-flash='sign_in.signed_out']").is_visible()
    # The session token was revoked: the copied cookie no longer works, even sent by hand.
    answer = httpx.get(f"{console.base}/console/", cookies={"realty_console": cookie["value"]},
                       follow_redirects=False)
    assert answer.status_code == 303 and "/console/sign-in" in answer.headers["location"]
    assert httpx.get(f"{console.base}/customers/{console.staff_ids['compliance_officer']}",
                     headers={"Authorization": f"Bearer {cookie['value']}"}).status_code == 401


def test_a_wrong_token_is_refused_with_a_message_and_no_cookie(console: Console, page: Any) -> None:
    page.goto(f"{console.base}/console/sign-in")
    page.fill("input[name=token]", "rlt_not_a_token")
    page.click("[data-action=sign-in]")
    assert page.locator("[data-error='sign_in.invalid_token']").is_visible()
    assert not [c for c in page.context.cookies() if c["name"] == "realty_console"]


def test_every_console_answer_carries_a_strict_content_security_policy(console: Console) -> None:
    answer = httpx.get(f"{console.base}/console/sign-in")
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "default-src 'none'" in policy
    assert answer.headers["x-frame-options"] == "DENY" and answer.headers["cache-control"] == "no-store"
    assert "<script src=\"/console/static/console.js\"" in answer.text and "<script>" not in answer.text


def test_an_english_browser_in_berlin_gets_english_and_berlin_time(console: Console, english_page: Any) -> None:
    sign_in(english_page, console, "archivist")
    english_page.goto(f"{console.base}/console/")  # the script has told the server the zone by now
    assert english_page.locator("html").get_attribute("lang") == "en"
    assert english_page.locator("html").get_attribute("data-zone") == "Europe/Berlin"
    assert "Europe/Berlin" in english_page.locator("footer").inner_text()
    screenshot(english_page, "home-en")
    # Switched to Chinese by the link in the header, remembered for the next page.
    english_page.click("[data-lang=zh-CN]")
    english_page.wait_for_load_state()
    assert english_page.locator("html").get_attribute("lang") == "zh-CN"
    english_page.goto(f"{console.base}/console/")
    assert english_page.locator("html").get_attribute("lang") == "zh-CN"
