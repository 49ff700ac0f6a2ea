"""The browser console under ``/console``: compliance, archive and management pages.

Server-rendered (Jinja2 templates), no front-end build, one small script of our own, charts as
SVG drawn on the server. Every page and form goes through the API in the same process as the
signed-in user (``api_client``), so the console follows the API's permission table exactly.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from service.console.api_client import ApiError
from service.console.render import page, redirect, secure
from service.console.session import (
    COOKIE_PATH,
    SESSION_COOKIE,
    ConsoleForbidden,
    FormRefused,
    SignInRequired,
    viewer,
)

STATIC = Path(__file__).parent / "static"


class _Static(StaticFiles):
    async def get_response(self, path: str, scope):  # type: ignore[no-untyped-def]
        response = await super().get_response(path, scope)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-cache"  # revalidated: a new release is seen at once
        return response


def install(app: FastAPI) -> None:
    from service.console.routes import archive, compliance, management, session

    for module in (session, compliance, archive, management):
        app.include_router(module.router)
    app.mount("/console/static", _Static(directory=STATIC), name="console.static")

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, _: SignInRequired) -> Response:
        # Back to the page after signing in (a form's target is no page: back to the home page).
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        response = redirect(f"/console/sign-in?{urlencode({'next': target if request.method == 'GET' else '/console/'})}")
        # Only a token that was sent and refused is dropped. A link followed from another site comes
        # without the SameSite=Strict cookie: dropping it then would sign the user out for nothing.
        if request.cookies.get(SESSION_COOKIE):
            response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
        return response

    @app.exception_handler(ConsoleForbidden)
    async def _forbidden(request: Request, error: ConsoleForbidden) -> Response:
        return await _error_page(request, 403, "forbidden", error.route)

    @app.exception_handler(FormRefused)
    async def _refused(request: Request, _: FormRefused) -> Response:
        return await _error_page(request, 403, "form_refused", "")

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError) -> Response:
        if error.status == 401:  # the session token was revoked or expired while the page was open
            return await _sign_in(request, SignInRequired())
        return await _error_page(request, error.status, error.code, error.detail)


async def _error_page(request: Request, status: int, code: str, detail: str) -> Response:
    """The problem in the user's language (the API's code and detail below it, for support)."""
    from service.console.session import console_user

    try:
        who = await console_user(request)
    except SignInRequired:
        who = viewer(request)
    return secure(page(request, who, "error.html", status_code=status, status=status, code=code, detail=detail))
