"""Pages as HTML: the templates, the headers every console answer carries, and one-shot messages.

Every answer under ``/console`` is ``no-store`` (pages hold personal data and must not outlive
the session in a cache), may not be framed, and carries a Content-Security-Policy that lets the
page run only our own script file and load only our own style sheet: no inline script, no inline
style, no other origin. Charts are inline SVG drawn with presentation attributes, which the
policy does not govern.
"""

from __future__ import annotations

import base64
import functools
import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from service.console import i18n
from service.console.sections import AREAS, visible_sections
from service.console.session import COOKIE_PATH, FLASH_COOKIE, ConsoleUser, Viewer

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.globals.update(AREAS=AREAS, has_message=i18n.has_message,
                             new_form_key=lambda: uuid.uuid4().hex)

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def short_id(record_id: Any) -> str:
    """An id as the pages show it where space is short (the full id is in the link and its title)."""
    return str(record_id or "")[:8]


def secure(response: Response) -> Response:
    response.headers.update(_SECURITY_HEADERS)
    return response


def page(request: Request, who: Viewer, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page in the viewer's language and time zone, with the menu their role may see."""
    language, zone = who.language, who.zone
    flash = _read_flash(request)
    signed_in = isinstance(who, ConsoleUser)
    values = {
        "user": who if signed_in else None,
        "lang": language,
        "t": who.t,
        "when": functools.partial(i18n.format_instant, language=language, zone=zone),
        "day": functools.partial(i18n.format_day, language=language),
        "month": functools.partial(i18n.format_month, language=language),
        "zone": zone.key,
        "csrf": who.csrf if signed_in else "",
        "can": who.can if signed_in else (lambda route: False),
        "sections": visible_sections(who) if signed_in else [],
        "here": request.url.path,
        "here_with_query": _local(str(request.url.path) + (f"?{request.url.query}" if request.url.query else "")),
        "flash": flash,
        **context,
    }
    response = TEMPLATES.TemplateResponse(request, template, values, status_code=status_code)
    if flash is not None:
        response.delete_cookie(FLASH_COOKIE, path=COOKIE_PATH)
    return secure(response)  # type: ignore[return-value]


def redirect(path: str, *, flash: tuple[str, str, dict[str, Any]] | None = None) -> Response:
    """303 to a console page (a form's answer: Post/Redirect/Get), with a message shown there once:
    ``flash=(kind, message key, values)``; values are ids and codes, never personal data."""
    response = RedirectResponse(_local(path), status_code=303)
    if flash is not None:
        kind, key, values = flash
        packed = base64.urlsafe_b64encode(json.dumps([kind, key, values], ensure_ascii=True).encode()).decode()
        response.set_cookie(FLASH_COOKIE, packed, max_age=60, path=COOKIE_PATH, httponly=True, samesite="strict")
    return secure(response)


def _read_flash(request: Request) -> dict[str, Any] | None:
    packed = request.cookies.get(FLASH_COOKIE)
    if not packed or len(packed) > 4000:
        return None
    try:
        kind, key, values = json.loads(base64.urlsafe_b64decode(packed.encode()))
    except (ValueError, TypeError):
        return None
    if kind not in ("done", "error") or not isinstance(key, str) or not isinstance(values, dict):
        return None
    return {"kind": kind, "key": key, "values": {str(k): str(v) for k, v in values.items()}}


def _local(path: str) -> str:
    """Only a path of the console itself: never an open redirect to another site."""
    parts = urlsplit(path)
    if parts.scheme or parts.netloc or not parts.path.startswith("/console") or "\\" in path:
        return "/console/"
    return path


local_path = _local
