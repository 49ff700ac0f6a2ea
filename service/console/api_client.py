"""The console's calls into the API, in the same process, as the signed-in user.

A page never reads the store or calls the ledger itself: it asks the API, with the user's session
token, through httpx's ASGI transport (no socket, no second server). So a page shows exactly what
the API answers that user — the same permission table, the same 404 for records outside their
scope, the same masking, the same personal-data access log, the same problem codes — and every
form runs the same command with the same checks as a front end calling the API would.
"""

from __future__ import annotations

from typing import Any

import httpx
from starlette.types import ASGIApp

# The host of the in-process requests: never resolved, only seen by the API as its own.
_BASE = "http://console.internal"


class ApiError(Exception):
    """A problem the API answered (RFC 9457): its status, stable code and detail."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status, self.code, self.detail = status, code, detail


class ConsoleApi:
    def __init__(self, app: ASGIApp, token: str | None, request_id: str | None = None) -> None:
        self._app, self._token, self._request_id = app, token, request_id

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"X-Request-ID": self._request_id} if self._request_id else {}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return {**headers, **(extra or {})}

    async def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                      json: Any = None, content: bytes | None = None,
                      headers: dict[str, str] | None = None) -> httpx.Response:
        transport = httpx.ASGITransport(app=self._app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url=_BASE, timeout=None) as client:
            clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
            return await client.request(method, path, params=clean or None, json=json, content=content,
                                        headers=self._headers(headers))

    async def get(self, path: str, **params: Any) -> Any:
        return _answer(await self.request("GET", path, params=params))

    async def post(self, path: str, body: Any = None, *, idempotency_key: str | None = None,
                   headers: dict[str, str] | None = None) -> Any:
        extra = dict(headers or {})
        if idempotency_key:
            extra["Idempotency-Key"] = idempotency_key
        return _answer(await self.request("POST", path, json=body if body is not None else {}, headers=extra))

    async def raw(self, method: str, path: str, **params: Any) -> httpx.Response:
        """The whole response (a download), a problem raised as ``ApiError``."""
        response = await self.request(method, path, params=params)
        _answer(response, parse=False)
        return response


def _answer(response: httpx.Response, *, parse: bool = True) -> Any:
    if response.status_code >= 400:
        try:
            problem = response.json()
        except ValueError:
            problem = {}
        raise ApiError(response.status_code, str(problem.get("code") or "error"),
                       str(problem.get("detail") or response.reason_phrase))
    if not parse or response.status_code == 204 or not response.content:
        return None
    return response.json()
