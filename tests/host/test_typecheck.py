"""The host tools are fully type-annotated: mypy must find nothing."""
from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def test_host_tools_pass_mypy() -> None:
    proc = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
