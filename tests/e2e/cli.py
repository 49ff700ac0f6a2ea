"""Run the installed ``realty`` console script as a real process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

REALTY = Path(sys.executable).parent / "realty"


def realty(*args: str, database_url: str | None = None, timeout: float = 600, cwd: Path | None = None,
           extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REALTY_") or k == "REALTY_MASTER_KEYS"}
    env.update(extra_env or {})
    env["COLUMNS"] = "200"  # wide enough that rich does not wrap ids
    if database_url:
        env["REALTY_DATABASE_URL"] = database_url
    return subprocess.run(
        [str(REALTY), *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd, check=False
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
