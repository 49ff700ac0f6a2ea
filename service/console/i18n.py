"""The console's two languages (zh-CN first, en second) and the user's time zone.

Messages live in ``locales/*.toml``, one file per area of the console, each key giving both
languages side by side (``[nav.audit]`` with ``zh-CN = "…"`` and ``en = "…"``), so a message can
never exist in one language only: loading refuses a file where it does (and a key defined twice).
We keep our own small catalogue rather than gettext: two languages, no translators' toolchain, no
compile step (the issue forbids a build step), and a missing translation is a start-up error, not
a silently English page.

The language is the ``lang`` cookie (the switcher's choice), else the best of the browser's
``Accept-Language``, else Chinese. The time zone is the ``tz`` cookie the console's script sets
from the browser (``Intl.DateTimeFormat``), else Asia/Shanghai, where the brokerage works.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"
DEFAULT_TIME_ZONE = "Asia/Shanghai"
LOCALES = Path(__file__).parent / "locales"


class CatalogError(ValueError):
    """A locale file that cannot be used: the message names the file and key."""


@functools.cache
def catalog() -> Mapping[str, Mapping[str, str]]:
    """key -> {language -> text}, from every locale file."""
    messages: dict[str, dict[str, str]] = {}
    for path in sorted(LOCALES.glob("*.toml")):
        with path.open("rb") as f:
            _flatten(tomllib.load(f), "", path.name, messages)
    return messages


def _flatten(table: dict[str, Any], prefix: str, source: str, into: dict[str, dict[str, str]]) -> None:
    texts = {k: v for k, v in table.items() if k in LANGUAGES}
    if texts:
        missing = [lang for lang in LANGUAGES if not isinstance(texts.get(lang), str)]
        if missing:
            raise CatalogError(f"{source}: {prefix} has no {', '.join(missing)} text")
        if prefix in into:
            raise CatalogError(f"{source}: {prefix} is defined twice")
        into[prefix] = texts
    for key, value in table.items():
        if key in LANGUAGES:
            continue
        if not isinstance(value, dict):
            raise CatalogError(f"{source}: {prefix}.{key} is neither a message nor a table")
        _flatten(value, f"{prefix}.{key}" if prefix else key, source, into)


def translate(language: str, key: str, /, **values: Any) -> str:
    """The message in this language, with ``{name}`` fields filled in; an unknown key shows itself
    (the unit tests find every key the templates use in the catalogue)."""
    texts = catalog().get(key)
    if texts is None:
        return key
    text = texts[language]
    return text.format(**values) if values else text


def has_message(key: str) -> bool:
    return key in catalog()


def choose_language(cookie: str | None, accept_language: str | None) -> str:
    """The switcher's choice, else the browser's first language we speak, else Chinese."""
    if cookie in LANGUAGES:
        return cookie
    for tag, _ in _ranked(accept_language or ""):
        if tag == "*":
            break
        primary = tag.split("-")[0]
        if primary == "zh":
            return "zh-CN"  # zh, zh-CN, zh-Hans, zh-TW: the console has one Chinese
        if primary == "en":
            return "en"
    return DEFAULT_LANGUAGE


def _ranked(header: str) -> list[tuple[str, float]]:
    """RFC 9110 §12.5.4: language ranges by quality, highest first (stable for equal ones)."""
    ranked = []
    for part in header.split(",")[:20]:  # a header of thousands of ranges is nobody's browser
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and quality > 0:
            ranked.append((tag.strip().lower(), quality))
    return sorted(ranked, key=lambda item: -item[1])


def choose_time_zone(cookie: str | None) -> ZoneInfo:
    if cookie and len(cookie) <= 64 and ".." not in cookie:
        try:
            return ZoneInfo(cookie)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo(DEFAULT_TIME_ZONE)


def parse_instant(value: Any) -> datetime | None:
    """A datetime from the API's ISO 8601 text (naive means UTC, as the store records)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def format_instant(value: Any, language: str, zone: ZoneInfo, *, seconds: bool = False) -> str:
    """A moment in the user's time zone: 2026年12月7日 11:33 / 7 Dec 2026, 11:33."""
    moment = parse_instant(value)
    if moment is None:
        return "" if value in (None, "") else str(value)
    local = moment.astimezone(zone)
    clock = local.strftime("%H:%M:%S" if seconds else "%H:%M")
    if language == "zh-CN":
        return f"{local.year}年{local.month}月{local.day}日 {clock}"
    return f"{local.day} {local.strftime('%b')} {local.year}, {clock}"


def format_day(value: date | str, language: str) -> str:
    day = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    if language == "zh-CN":
        return f"{day.year}年{day.month}月{day.day}日"
    return f"{day.day} {day.strftime('%b')} {day.year}"


def format_month(value: str, language: str) -> str:
    """``2026-03`` as 2026年3月 / Mar 2026."""
    year, _, month = str(value).partition("-")
    if not (year.isdigit() and month.isdigit()):
        return str(value)
    if language == "zh-CN":
        return f"{int(year)}年{int(month)}月"
    return f"{date(int(year), int(month), 1).strftime('%b')} {year}"
