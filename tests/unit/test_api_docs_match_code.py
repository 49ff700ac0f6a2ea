"""docs/api.md carries the permission table exactly as the code has it."""

from __future__ import annotations

from pathlib import Path

from service.api.app import create_app, route_names
from service.api.permission_docs import BEGIN, END, render

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def test_the_permission_table_in_the_docs_is_the_one_in_the_code() -> None:
    text = DOC.read_text(encoding="utf-8")
    documented = text[text.index(BEGIN): text.index(END) + len(END)]
    assert documented == render(route_names(create_app())), (
        "docs/api.md is out of date: run python -m service.api.permission_docs")
