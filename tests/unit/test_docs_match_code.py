"""docs/domain.md names every event topic and every error code the code has."""

from __future__ import annotations

import inspect
from pathlib import Path

from domain import errors
from domain.personal_data import event_classes

DOC = (Path(__file__).resolve().parents[2] / "docs" / "domain.md").read_text(encoding="utf-8")


def test_every_event_topic_is_documented() -> None:
    missing = [cls.TOPIC for cls in event_classes() if f"`{cls.TOPIC}`" not in DOC]  # type: ignore[attr-defined]
    assert not missing


def test_every_error_code_is_documented() -> None:
    codes = {
        cls.code
        for cls in vars(errors).values()
        if inspect.isclass(cls) and issubclass(cls, errors.DomainError) and cls is not errors.DomainError
    }
    assert len(codes) > 20
    missing = sorted(code for code in codes if f"`{code}`" not in DOC)
    assert not missing
