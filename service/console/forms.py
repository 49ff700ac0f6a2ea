"""What a console form does once its CSRF token has been checked: one API command, then back.

The form's ``form_key`` (a fresh one in every form the page renders) is the command's
Idempotency-Key, so a form sent twice (a double click, a reload of the answer) is recorded once.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.responses import Response

from service.console.api_client import ApiError
from service.console.render import redirect
from service.console.session import SignInRequired

_FORM_KEY = re.compile(r"[A-Za-z0-9-]{8,64}")


def idempotency_key(form: dict[str, str]) -> str | None:
    key = form.get("form_key", "")
    return f"console-{key}" if _FORM_KEY.fullmatch(key) else None


async def run_form(back: str, command: Callable[[], Awaitable[Any]], done: str,
                   values: Callable[[Any], dict[str, Any]] | None = None) -> Response:
    """Run the command; back to ``back`` saying it was done (message ``done``), or why not."""
    try:
        answer = await command()
    except ApiError as e:
        if e.status == 401:  # the session ended meanwhile (revoked, expired)
            raise SignInRequired() from None
        return redirect(back, flash=("error", "problem", {"code": e.code, "detail": e.detail}))
    return redirect(back, flash=("done", done, values(answer) if values else {}))
