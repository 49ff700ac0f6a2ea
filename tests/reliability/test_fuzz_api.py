"""Fuzzing the HTTP API against its own OpenAPI description (issue 7): schemathesis generates
requests for every operation, valid ones and invalid ones, with every role's token, with no token
and with a garbage one, and each answer is judged against what ``/openapi.json`` promises: never a
5xx, a documented status, the documented content type, a body valid against the documented schema
and headers, and invalid input refused with a 4xx.

The app runs in-process (ASGI) on a real store seeded with linked records
(``tests.reliability.fuzz_records``); about half the cases of an operation with path parameters
take those records' ids, so commands reach the domain's rules instead of stopping at a 404.
Generation is derandomized (the same cases on every run) and writes no example database. Every
failing operation is reported, not only the first; the cases actually run are counted and the
count asserted, so the run cannot silently shrink: over 2,000 cases on each backend.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.api.app import create_app
from service.application import RealtyLedger
from service.settings import load_settings
from tests.reliability.fuzz_records import ROLE_FIELDS, seed

# Cases per operation and generation mode (valid, invalid): 105 operations x 2 modes x 12, less the
# few an operation without input cannot vary; and the least the run must make.
CASES_PER_OPERATION = 12
MIN_CASES = 2_000
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance, negative_data_rejection]
GARBAGE_TOKEN = "rlt_00000000-0000-0000-0000-000000000000_0000_not-a-secret"
IDENTITIES = (*ROLE_FIELDS, "no token", "garbage token")
# An event stream ends only when the client goes: the transport keeps what came before this deadline.
STREAM_SECONDS = 0.5
CALL_SECONDS = 60.0  # an export builds its package in a child process


@pytest.fixture
def ledger(own_database_url: str, tmp_path: Path) -> Iterator[RealtyLedger]:
    app = RealtyLedger(load_settings(database_url=own_database_url, signing_keys_dir=tmp_path / "keys",
                                     pool_size=2, pool_max_overflow=4))
    try:
        yield app
    finally:
        app.close()


def test_no_generated_request_gets_a_5xx_or_an_answer_its_description_does_not_promise(
    ledger: RealtyLedger,
) -> None:
    seeded = seed(ledger)
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(ledger=ledger))
    tokens = {**seeded.tokens, "garbage token": GARBAGE_TOKEN}
    counts: collections.Counter[str] = collections.Counter()
    failures: dict[str, str] = {}
    try:
        for result in schema.get_all_operations():
            operation = result.ok()
            for mode in MODES:
                failure = _fuzz(operation, mode, CASES_PER_OPERATION, seeded.path_ids, tokens, counts)
                if failure:
                    failures[f"{operation.label} ({mode.value})"] = failure
    finally:
        shutdown_lifespans()  # schemathesis keeps every app it served alive until told
    total = sum(counts[i] for i in IDENTITIES)
    report = "\n\n".join(f"== {label}\n{text}" for label, text in failures.items())
    assert not failures, f"{len(failures)} failing operation(s) in {total} cases:\n{report}"
    print(f"{total} cases, {counts['2xx']} of them 2xx, {counts['real ids']} on seeded records")
    assert total >= MIN_CASES, counts
    assert min(counts[i] for i in IDENTITIES) >= total // (2 * len(IDENTITIES)), counts  # each identity its turn
    assert counts["real ids"] >= total // 4, counts
    assert counts["2xx"] >= total // 20, counts  # not all refusals: real work got done too


def _fuzz(operation: Any, mode: schemathesis.GenerationMode, examples: int, path_ids: dict[str, str],
          tokens: dict[str, str], counts: collections.Counter[str]) -> str | None:
    """Run the operation's cases of one mode; the report of its first failure, or None."""
    names = [p.name for p in operation.path_parameters]
    strategies = [operation.as_strategy(generation_mode=mode)]
    if names and all(n in path_ids for n in names):
        strategies.append(operation.as_strategy(generation_mode=mode,
                                                path_parameters={n: path_ids[n] for n in names}))

    # No shrinking: a failure is reported as found (the report has its curl line), and the run stays bounded.
    @hypothesis.settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                         phases=[hypothesis.Phase.generate], suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(case=st.one_of(*strategies))
    def run(case: Any) -> None:
        # In turn rather than drawn: Hypothesis favours the first of a sampled list. An invalid case
        # the generator made by dropping Authorization keeps it dropped (else it would be valid).
        identity = IDENTITIES[counts["turn"] % len(IDENTITIES)]
        counts["turn"] += 1
        headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
        if len(headers) == len(case.headers or {}):
            identity = "no token"
        elif identity in tokens:
            headers["Authorization"] = f"Bearer {tokens[identity]}"
        case.headers = headers
        response = case.call(timeout=STREAM_SECONDS if operation.path == "/events/stream" else CALL_SECONDS)
        counts[identity] += 1
        counts["real ids"] += bool(names) and all(case.path_parameters.get(n) == path_ids.get(n) for n in names)
        counts["2xx"] += response.status_code < 300
        case.validate_response(response, checks=CHECKS)

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        return None  # nothing of this mode to generate (an operation without input cannot be made invalid)
    except (Exception, FailureGroup) as e:  # FailureGroup is a BaseExceptionGroup; all are reported at the end
        return f"{type(e).__name__}: {e}"[:3000]
    return None
