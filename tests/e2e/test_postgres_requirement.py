"""When no PostgreSQL answers, its tests skip with a one-line reason, or fail under CI's flag."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UNREACHABLE = "postgresql://postgres@127.0.0.1:1/nothing"


def run_pytest(require: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REALTY_", "PYTEST_XDIST"))}
    env["REALTY_TEST_DATABASE_URL"] = UNREACHABLE
    if require:
        env["REALTY_REQUIRE_POSTGRES"] = "1"
    test = "tests/integration/test_history.py::test_a_stale_expected_version_is_a_conflict_that_stores_nothing"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs", "-p", "no:xdist", test],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )


def test_postgres_tests_skip_with_a_one_line_reason_when_no_server_answers() -> None:
    result = run_pytest(require=False)
    assert result.returncode == 0, result.stdout
    assert "1 passed, 1 skipped" in result.stdout  # SQLite ran, PostgreSQL skipped
    reason = next(line for line in result.stdout.splitlines() if line.startswith("SKIPPED"))
    assert "PostgreSQL at postgresql://postgres@127.0.0.1:1/nothing did not answer" in reason


def test_postgres_tests_fail_when_ci_requires_them_and_no_server_answers() -> None:
    result = run_pytest(require=True)
    assert result.returncode == 1, result.stdout
    assert "1 passed, 1 error" in result.stdout  # the fixture fails the PostgreSQL run
    assert "REALTY_REQUIRE_POSTGRES=1 but PostgreSQL at" in result.stdout
