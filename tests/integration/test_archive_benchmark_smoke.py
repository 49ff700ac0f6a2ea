"""``benchmarks/archive.py`` runs end to end at a tiny size: a ledger, a grown history, a sealed
customer file, every export and verification (each of which must verify), and the table of ratios.
The speed is not judged here (the machine is shared); only that the benchmark works and says it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "archive.py"


def test_the_archive_benchmark_runs_at_a_tiny_size_and_prints_its_ratios(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "200", "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, str(BENCHMARK), "--events", "200", "--docs-mb", "1", "--rounds", "1"],
                          capture_output=True, text=True, timeout=120, env=env, check=False)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out  # 1: a verification failed; the target's verdict is only printed
    assert "Traceback" not in out, out
    for line in ("raw SHA-256", "raw AES-256-GCM decrypt", "export dir", "verify dir", "export tar+encrypt",
                 "verify tar+encrypt"):
        assert line in out, out
    assert "ratio" in out and ("PASS" in out or "FAIL" in out), out
    assert not any(tmp_path.iterdir()), "the benchmark leaves no scratch files behind"
