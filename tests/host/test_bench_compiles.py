"""`make bench` runs long and outside `make test`: at least every benchmark
module must compile on this Python (bench_day.py once used an f-string that
only Python 3.12 reads, and make bench failed after an hour of others)."""
from __future__ import annotations

from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize("path", sorted(BENCH.glob("*.py")), ids=lambda p: p.name)
def test_the_benchmark_module_compiles(path: Path) -> None:
    compile(path.read_text(), str(path), "exec")
