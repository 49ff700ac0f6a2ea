"""Sign in, sign out, the home page and the language switch."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from service.application import RealtyLedger
from service.console.api_client import ApiError, ConsoleApi
from service.console.i18n import LANGUAGES
from service.console.render import local_path, page, redirect, secure
from service.console.sections import visible_sections
from service.console.session import (
    COOKIE_PATH,
    LANGUAGE_COOKIE,
    SESSION_COOKIE,
    SESSION_DAYS,
    SESSION_LABEL,
    SIGN_IN_COOKIE,
    FormDep,
    UserDep,
    ViewerDep,
    new_sign_in_nonce,
    same_origin,
)
from service.tokens import parse_token

router = APIRouter(prefix="/console", include_in_schema=False)


def _secure_cookies(request: Request) -> bool:
    configured = request.app.state.ledger.settings.console_secure_cookies
    return request.url.scheme == "https" if configured is None else configured


@router.get("/sign-in", name="console.sign_in_form")
def sign_in_form(request: Request, who: ViewerDep, next: str = "/console/") -> Response:
    return _sign_in_page(request, who, local_path(next))


def _sign_in_page(request: Request, who: ViewerDep, next_path: str, *, error: str | None = None,
                  status_code: int = 200) -> Response:
    nonce = new_sign_in_nonce()
    response = page(request, who, "sign_in.html", status_code=status_code, nonce=nonce, next=next_path,
                    error=error)
    response.set_cookie(SIGN_IN_COOKIE, nonce, max_age=1800, path=COOKIE_PATH, httponly=True, samesite="strict",
                        secure=_secure_cookies(request))
    return response


@router.post("/sign-in", name="console.sign_in")
async def sign_in(request: Request, who: ViewerDep, token: Annotated[str, Form(max_length=300)] = "",
                  nonce: Annotated[str, Form(max_length=100)] = "",
                  next: Annotated[str, Form(max_length=500)] = "/console/") -> Response:
    """Trade the pasted token for a session token of the user's own (see ``service.console.session``)."""
    expected = request.cookies.get(SIGN_IN_COOKIE, "")
    if not same_origin(request) or not expected or not hmac.compare_digest(nonce.encode(), expected.encode()):
        return _sign_in_page(request, who, local_path(next), error="sign_in.form_expired", status_code=403)
    ledger: RealtyLedger = request.app.state.ledger
    principal = await run_in_threadpool(ledger.authenticate, token.strip(), request.state.request_id)
    if principal is None:
        return _sign_in_page(request, who, local_path(next), error="sign_in.invalid_token", status_code=401)
    api = ConsoleApi(request.app, token.strip(), request.state.request_id)
    try:
        issued = await api.post(f"/staff/{principal.staff_id}/tokens",
                                {"label": SESSION_LABEL, "expires_in_days": SESSION_DAYS})
    except ApiError as e:  # a role with no tokens of its own (a service account): no console
        error = "sign_in.not_for_role" if e.status == 403 else "sign_in.failed"
        return _sign_in_page(request, who, local_path(next), error=error, status_code=e.status)
    response = redirect(local_path(next))
    response.set_cookie(SESSION_COOKIE, issued["token"], max_age=SESSION_DAYS * 86400, path=COOKIE_PATH,
                        httponly=True, samesite="strict", secure=_secure_cookies(request))
    response.delete_cookie(SIGN_IN_COOKIE, path=COOKIE_PATH)
    return response


@router.post("/sign-out", name="console.sign_out")
async def sign_out(user: UserDep, form: FormDep) -> Response:
    """Revoke the session token (it stops working at once, on every replica) and drop the cookie."""
    token_id = parse_token(user.token).token_id
    try:
        await user.api.post(f"/staff/{user.principal.staff_id}/tokens/{token_id}/revocation",
                            {"reason": "signed out of the console"})
    except ApiError as e:
        if e.status not in (401, 404, 409):  # already revoked or expired: signed out all the same
            raise
    response = redirect("/console/sign-in", flash=("done", "sign_in.signed_out", {}))
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return response


@router.get("/", name="console.home")
def home(request: Request, user: UserDep) -> Response:
    return page(request, user, "home.html", visible=visible_sections(user))


@router.get("/language/{language}", name="console.language")
def switch_language(language: str, back: str = "/console/") -> Response:
    """Remember the language chosen (a preference, not an act on any record: a link, not a form)."""
    response = secure(redirect(local_path(back)))
    if language in LANGUAGES:
        response.set_cookie(LANGUAGE_COOKIE, language, max_age=365 * 86400, path=COOKIE_PATH, samesite="strict",
                            httponly=True)
    return response
