"""Fixtures of the console's browser tests: a served demo per module and backend, and chromium."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import BACKENDS, require_postgres
from tests.e2e.console.harness import CHROMIUM_FLAGS, Console, chromium_path, new_page, served_console


@pytest.fixture(scope="module", params=BACKENDS)
def console(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """A demo store served by ``realty run``, shared by the tests of one module (they read it, or
    change only records they make or pick for themselves)."""
    if request.param == "postgres":
        require_postgres()
    home = tmp_path_factory.mktemp(f"console-{request.param}")
    with served_console(home, request.param) as served:
        yield served


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one module. Not for the session: Playwright's sync API keeps an event loop
    running in the thread while it is open, and other modules' tests run asyncio (anyio) there."""
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) in Chinese, Shanghai time."""
    opened = new_page(browser)
    yield opened
    opened.context.close()


@pytest.fixture
def english_page(browser: Any) -> Iterator[Any]:
    """A fresh browser context whose browser asks for English, in Berlin time."""
    opened = new_page(browser, locale="en-GB", timezone_id="Europe/Berlin")
    yield opened
    opened.context.close()

