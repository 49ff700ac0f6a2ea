"""How a command route answers: the record's id, its new version and any entity the command
created, with the version as the ``ETag`` (and ``Location`` for a new record).

Built as a finished ``JSONResponse`` rather than returned for FastAPI to validate against the
route's ``response_model`` (which stays declared, for the OpenAPI description): the answer's shape
is fixed by ``CommandResult`` and that re-validation cost about a sixth of a command's CPU.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse

from service.application import CommandResult


def answer(result: CommandResult, status: int = 200, *, location: str | None = None) -> JSONResponse:
    """``status`` must be the one the route declares (``tests/e2e/test_api_examples.py`` checks)."""
    headers = {"ETag": f'"{result.version}"'}
    if location is not None:
        headers["Location"] = location
    return JSONResponse(result.as_dict(), status_code=status, headers=headers)
