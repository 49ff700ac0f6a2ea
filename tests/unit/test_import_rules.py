"""The dependency rules of ARCHITECTURE.md, checked on every module's imports."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STDLIB = set(sys.stdlib_module_names) | {"__future__"}

# package -> top-level names (besides the standard library) it may import
ALLOWED: dict[str, set[str]] = {
    "domain": {"domain", "eventsourcing.domain"},
    "archive": {"archive", "domain", "eventsourcing", "cryptography", "psycopg", "bagit"},
    # psycopg_pool is psycopg's own connection pool (the psycopg-pool distribution, which the
    # library's PostgreSQL support already installs).
    "projections": {"projections", "domain", "eventsourcing", "psycopg", "psycopg_pool"},
}


def imports_of(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
    return found


def permitted(module: str, allowed: set[str]) -> bool:
    if module.split(".")[0] in STDLIB:
        return True
    return any(module == a or module.startswith(a + ".") for a in allowed)


def python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_package_imports_only_what_the_architecture_allows(package: str) -> None:
    bad = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in python_files(package)
        for module in imports_of(path)
        if not permitted(module, ALLOWED[package])
    ]
    assert not bad, "\n".join(bad)


def test_fastapi_is_imported_only_under_service() -> None:
    bad = [
        str(path.relative_to(ROOT))
        for package in ("domain", "archive", "projections")
        for path in python_files(package)
        if any(m.split(".")[0] in {"fastapi", "starlette"} for m in imports_of(path))
    ]
    assert not bad


def test_the_checker_notices_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import json\nfrom eventsourcing.domain import Aggregate\nfrom service import cli\n")
    modules = imports_of(sample)
    assert [m for m in modules if not permitted(m, ALLOWED["domain"])] == ["service"]
    assert python_files("domain"), "the domain package has modules to check"
