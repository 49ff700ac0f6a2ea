"""Reading a view's list over HTTP page by page, as a client would."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.test_api import auth


def ok(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def every_page(api: TestClient, token: str, path: str, key: str, **params: Any) -> list[str]:
    """Every row's key, following next_cursor with pages of 2; asserts no row comes twice and that
    the pages together are the whole list, in its order."""
    seen: list[str] = []
    cursor = None
    while True:
        query = {**params, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = ok(api.get(path, headers=auth(token), params=query))
        assert len(page["items"]) <= 2
        seen.extend(item[key] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)), "a row came twice"
    whole = ok(api.get(path, headers=auth(token), params={**params, "limit": 500}))
    assert seen == [item[key] for item in whole["items"]]
    return seen
