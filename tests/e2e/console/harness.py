"""The console's end-to-end harness: a real ``realty run`` (demo data, demo tokens) on a port, on
its own SQLite file or scratch PostgreSQL database, and Debian's chromium driven by Playwright.

The browser is the system's (``/usr/bin/chromium``, or ``REALTY_CHROMIUM``), never one Playwright
downloads. Where it is missing the browser tests skip, except under ``REALTY_REQUIRE_BROWSER=1``
(``.ci/run``, which installs it first), where that is a failure.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import scratch_postgres_database
from tests.e2e.cli import REALTY, free_port

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DEMO_CUSTOMERS = 24
# Where the tests leave their screenshots (not committed: var/ is ignored).
SCREENSHOTS = Path(os.environ.get("REALTY_SCREENSHOTS_DIR") or Path(__file__).parents[3] / "var" / "console-screenshots")


def chromium_path() -> str:
    path = os.environ.get("REALTY_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        why = f"no chromium at {path} (Debian: apt-get install chromium; .ci/run installs it)"
        if os.environ.get("REALTY_REQUIRE_BROWSER") == "1":
            pytest.fail(f"REALTY_REQUIRE_BROWSER=1 but {why}", pytrace=False)
        pytest.skip(why)
    return path


@dataclass
class Console:
    """A served store with demo data: its address, the demo tokens by role, and its database URL."""

    base: str
    tokens: dict[str, str]
    staff_ids: dict[str, str]
    database_url: str
    home: Path
    showcase: dict[str, Any] = field(default_factory=dict)

    def api(self, role: str) -> httpx.Client:
        """The JSON API as a role (for arranging and checking what the browser did)."""
        return httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {self.tokens[role]}"},
                            timeout=60)

    def wait_for_views(self) -> None:
        """Until every view has caught up with the log (the demo was written just before serving)."""
        with self.api("compliance_officer") as api:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                status = api.get("/projections").json()
                if all(v["lag"] == 0 for v in status["views"].values()):
                    return
                time.sleep(0.2)
        raise AssertionError(f"the views did not catch up: {status}")


@contextlib.contextmanager
def served_console(home: Path, backend: str, customers: int = DEMO_CUSTOMERS) -> Iterator[Console]:
    """``realty run`` on a store of its own (SQLite file, or a scratch PostgreSQL database)."""
    with contextlib.ExitStack() as stack:
        if backend == "postgres":
            url = stack.enter_context(scratch_postgres_database())
        else:
            url = f"sqlite:///{home / 'var' / 'realty.sqlite3'}"
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("REALTY_") or k == "REALTY_MASTER_KEYS"}
        env["REALTY_DATABASE_URL"] = url
        output = stack.enter_context((home / "server-output.txt").open("w", encoding="utf-8"))
        process = subprocess.Popen([str(REALTY), "run", "--customers", str(customers), "--port", str(port)],
                                   cwd=home, env=env, stdout=output, stderr=subprocess.STDOUT, text=True)
        stack.callback(_stop, process)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"realty run exited: {(home / 'server-output.txt').read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        else:
            raise AssertionError("the console did not come up within 180 s")
        tokens, staff_ids = {}, {}
        for line in (home / "var" / "demo-tokens.txt").read_text(encoding="utf-8").splitlines():
            if not line.startswith("#"):
                role, _team, staff_id, token = line.split("\t")
                tokens[role], staff_ids[role] = token, staff_id
        import json

        showcase_file = home / "var" / "demo-showcase.json"
        showcase = json.loads(showcase_file.read_text(encoding="utf-8")) if showcase_file.exists() else {}
        console = Console(base, tokens, staff_ids, url, home, showcase)
        console.wait_for_views()
        yield console


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def new_page(browser: Any, *, locale: str = "zh-CN", timezone_id: str = "Asia/Shanghai",
             accept_downloads: bool = False) -> Any:
    context = browser.new_context(locale=locale, timezone_id=timezone_id, accept_downloads=accept_downloads,
                                  viewport={"width": 1366, "height": 900})
    context.set_default_timeout(30_000)
    return context.new_page()


def sign_in(page: Any, console: Console, role: str, *, next_path: str = "/console/") -> None:
    """Through the sign-in form, as a person would: paste the role's demo token, press the button."""
    page.goto(f"{console.base}/console/sign-in?next={next_path}")
    page.fill("input[name=token]", console.tokens[role])
    page.click("[data-action=sign-in]")
    page.wait_for_url(re.compile(re.escape(console.base + next_path) + r"(\?.*)?$"))


def screenshot(page: Any, name: str) -> Path:
    """A full-page screenshot under var/console-screenshots/ (looked at by people, not committed)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@contextlib.contextmanager
def http_session(console: Console, role: str) -> Iterator[httpx.Client]:
    """A client signed in to the console as ``role`` through the sign-in form (cookies kept), for
    walking many pages faster than a browser would; it sends what a browser sends with a form."""
    with httpx.Client(base_url=console.base, timeout=60, follow_redirects=False,
                      headers={"Sec-Fetch-Site": "same-origin"}) as client:
        form = client.get("/console/sign-in")
        nonce = re.search(r'name="nonce" value="([^"]+)"', form.text)
        assert nonce, form.text[:500]
        answer = client.post("/console/sign-in", data={"token": console.tokens[role], "nonce": nonce.group(1),
                                                       "next": "/console/"})
        assert answer.status_code == 303, (role, answer.status_code, answer.text[:300])
        yield client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no form with a CSRF token on this page"
    return found.group(1)


def log_head(console: Console) -> int:
    with console.api("compliance_officer") as api:
        return int(api.get("/projections").json()["head"]["position"])
