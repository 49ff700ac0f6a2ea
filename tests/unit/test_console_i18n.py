"""The console speaks zh-CN first and en second: every message in both, every key the pages use
in the catalogue, the browser's language and the user's time zone honoured."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from domain.identity import Role
from service.api.permissions import PERMISSIONS
from service.console import i18n
from service.console.sections import AREAS, SECTIONS

CONSOLE = Path(i18n.__file__).parent
LITERAL_KEY = re.compile(r"""\bt\(\s*['"]([a-z_]+(?:\.[a-z0-9_]+)+)['"]""")
# A message key written as a string in Python code (flash messages, errors): area.what.
PY_KEY = re.compile(r"""['"]((?:%s)\.[a-z0-9_.]+)['"]""")


def test_every_message_has_both_languages_and_the_chinese_is_chinese() -> None:
    catalog = i18n.catalog()
    assert len(catalog) > 50
    for key, texts in catalog.items():
        assert set(texts) == set(i18n.LANGUAGES), key
        assert texts["zh-CN"].strip() and texts["en"].strip(), key
    # The Chinese texts are Chinese (not English copied over): most contain CJK characters.
    cjk = [k for k, texts in catalog.items() if re.search(r"[\u4e00-\u9fff]", texts["zh-CN"])]
    assert len(cjk) / len(catalog) > 0.9, sorted(set(catalog) - set(cjk))


def test_a_locale_file_with_a_message_in_one_language_only_is_refused(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "x.toml").write_text('[greeting]\nzh-CN = "你好"\n', encoding="utf-8")
    monkeypatch.setattr(i18n, "LOCALES", tmp_path)
    i18n.catalog.cache_clear()
    try:
        with pytest.raises(i18n.CatalogError, match="greeting has no en text"):
            i18n.catalog()
    finally:
        monkeypatch.undo()
        i18n.catalog.cache_clear()


def test_every_key_the_templates_and_pages_use_is_in_the_catalogue() -> None:
    used: dict[str, str] = {}
    for path in [*CONSOLE.rglob("*.html"), *CONSOLE.rglob("*.py")]:
        for key in LITERAL_KEY.findall(path.read_text(encoding="utf-8")):
            used[key] = path.name
    prefixes = "|".join(sorted({k.split(".")[0] for k in i18n.catalog()}))
    for path in CONSOLE.rglob("*.py"):
        for key in re.findall(PY_KEY.pattern % prefixes, path.read_text(encoding="utf-8")):
            # Not a message: a file name, or the name of an API route (the archive area's messages
            # share the prefix of the archive.* routes the pages call).
            if not key.endswith((".", ".html", ".toml")) and key not in PERMISSIONS:
                used[key] = path.name
    missing = sorted(f"{key} ({where})" for key, where in used.items() if not i18n.has_message(key))
    assert used and not missing


def test_every_menu_entry_area_and_role_has_its_words() -> None:
    needed = [f"nav.{s.key}" for s in SECTIONS] + [f"about.{s.key}" for s in SECTIONS]
    needed += [f"area.{a}" for a in AREAS] + [f"role.{r.value}" for r in Role]
    assert [k for k in needed if not i18n.has_message(k)] == []


@pytest.mark.parametrize(("cookie", "header", "expected"), [
    (None, None, "zh-CN"),
    (None, "en-GB,en;q=0.9", "en"),
    (None, "zh-TW,zh;q=0.9,en;q=0.8", "zh-CN"),
    (None, "fr-FR,fr;q=0.9,en;q=0.5", "en"),
    (None, "de,fr", "zh-CN"),
    (None, "en;q=0.2,zh;q=0.8", "zh-CN"),
    (None, "en;q=0,zh;q=0", "zh-CN"),
    (None, "en;q=abc", "zh-CN"),
    ("en", "zh-CN", "en"),
    ("xx", "en", "en"),
])
def test_the_language_is_the_switchers_choice_else_the_browsers_else_chinese(
        cookie: str | None, header: str | None, expected: str) -> None:
    assert i18n.choose_language(cookie, header) == expected


def test_times_are_shown_in_the_users_zone_in_their_language() -> None:
    moment = datetime(2026, 12, 6, 23, 30, tzinfo=UTC)
    assert i18n.format_instant(moment, "zh-CN", ZoneInfo("Asia/Shanghai")) == "2026年12月7日 07:30"
    assert i18n.format_instant("2026-12-06T23:30:00+00:00", "en", ZoneInfo("Europe/Berlin")) == "7 Dec 2026, 00:30"
    assert i18n.format_instant("2026-12-06T23:30:00", "en", ZoneInfo("UTC")) == "6 Dec 2026, 23:30"  # naive: UTC
    assert i18n.format_month("2026-03", "zh-CN") == "2026年3月" and i18n.format_month("2026-03", "en") == "Mar 2026"


@pytest.mark.parametrize("cookie", [None, "", "Mars/Olympus", "../../etc/passwd", "x" * 100])
def test_an_unknown_or_hostile_time_zone_falls_back_to_shanghai(cookie: str | None) -> None:
    assert i18n.choose_time_zone(cookie).key == "Asia/Shanghai"
