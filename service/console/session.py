"""Who is signed in to the console, and the checks every request and form goes through.

Signing in trades the token a person pastes for a **session token** of their own, issued through
the API (``staff.issue_token``, label ``console session``, one day) and kept only in an HttpOnly,
SameSite=Strict cookie scoped to ``/console``. Signing out revokes that token through the API, so
a copied cookie stops working at once on every replica, and both acts are events on the staff
record (who signed in and out, when). The pasted token is never stored.

CSRF: every form carries ``csrf``, an HMAC of a fixed label keyed with the session token. The
token never reaches a page or a script (HttpOnly), so no other site can compute it, and no server
secret or session table is needed (any replica checks it). The sign-in form, before any session,
uses a double-submit cookie. A form from another origin (``Origin``/``Sec-Fetch-Site``) is refused
before its fields are read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from service.api.permissions import allowed_scope
from service.application import Principal, RealtyLedger
from service.console import i18n
from service.console.api_client import ConsoleApi

SESSION_COOKIE = "realty_console"
SIGN_IN_COOKIE = "realty_console_sign_in"  # the sign-in form's double-submit value
LANGUAGE_COOKIE = "realty_console_lang"
TIME_ZONE_COOKIE = "realty_console_tz"
FLASH_COOKIE = "realty_console_flash"
COOKIE_PATH = "/console"
SESSION_DAYS = 1
SESSION_LABEL = "console session"
_CSRF_LABEL = b"realty-console-csrf-v1"


class SignInRequired(Exception):
    """No session, or one whose token the API no longer accepts: go to the sign-in page."""


class ConsoleForbidden(Exception):
    """The user's role may not use this page or press this button (the API's permission table)."""

    def __init__(self, route: str) -> None:
        super().__init__(route)
        self.route = route


class FormRefused(Exception):
    """A form without its CSRF token, with a wrong one, or posted from another origin."""


def csrf_for(token: str) -> str:
    digest = hmac.new(token.encode("utf-8"), _CSRF_LABEL, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def new_sign_in_nonce() -> str:
    return secrets.token_urlsafe(32)


@dataclass
class Viewer:
    """Language and time zone of whoever looks, signed in or not."""

    language: str
    zone: ZoneInfo

    def t(self, key: str, /, **values: Any) -> str:
        return i18n.translate(self.language, key, **values)


@dataclass
class ConsoleUser(Viewer):
    principal: Principal = field(repr=False)
    token: str = field(repr=False)
    api: ConsoleApi = field(repr=False)

    @property
    def csrf(self) -> str:
        return csrf_for(self.token)

    def can(self, route: str) -> bool:
        """Whether the API's permission table lets this user's role call ``route``."""
        return allowed_scope(route, self.principal) is not None

    def require(self, *routes: str) -> None:
        for route in routes:
            if not self.can(route):
                raise ConsoleForbidden(route)


def viewer(request: Request) -> Viewer:
    return Viewer(i18n.choose_language(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language")),
                  i18n.choose_time_zone(unquote(request.cookies.get(TIME_ZONE_COOKIE) or "")))


async def console_user(request: Request) -> ConsoleUser:
    """The signed-in user (their session token checked on a fresh read of their staff record)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 300:
        raise SignInRequired()
    ledger: RealtyLedger = request.app.state.ledger
    principal = await run_in_threadpool(ledger.authenticate, token, request.state.request_id)
    if principal is None:
        raise SignInRequired()
    request.state.actor_id = str(principal.staff_id)
    seen = viewer(request)
    return ConsoleUser(seen.language, seen.zone, principal, token,
                       ConsoleApi(request.app, token, request.state.request_id))


UserDep = Annotated[ConsoleUser, Depends(console_user)]
ViewerDep = Annotated[Viewer, Depends(viewer)]


def same_origin(request: Request) -> bool:
    """Whether a form comes from a page of ours: ``Sec-Fetch-Site`` where the browser sends it,
    else ``Origin`` against our own host (a browser sends one of them with every form)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None  # no Origin at all: not a browser's cross-site form
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


async def checked_form(request: Request, user: UserDep) -> dict[str, str]:
    """The posted fields, once the form has proved it is ours (else ``FormRefused``)."""
    if not same_origin(request):
        raise FormRefused()
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    if not hmac.compare_digest(fields.get("csrf", "").encode(), user.csrf.encode()):
        raise FormRefused()
    return fields


FormDep = Annotated[dict[str, str], Depends(checked_form)]
