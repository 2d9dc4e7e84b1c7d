"""Golden regeneration can never pass: with KASSA_GOLDEN_REGEN set a golden
test writes the new .out file and then fails with the unified diff against
the old one, also when nothing changed (tests/device/test_engine_golden.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import test_engine_golden as golden

SHIFT = """# a short shift: sign-on, one sale, sign-off
keys 1 SIGN 1111 TOTAL
scan 4006381333931
keys CASH
keys SIGN
"""


def regen_failure(tmp_path: Path, **kw: Any) -> str:
    with pytest.raises(AssertionError) as info:
        golden.compare("short", str(tmp_path), **kw)
    return str(info.value)


def test_a_regeneration_writes_the_file_and_fails_with_the_diff(tmp_path: Path) -> None:
    (tmp_path / "short.shift").write_text(SHIFT)
    out = tmp_path / "short.out"
    # First regeneration: a new file, every line shown as added.
    text = regen_failure(tmp_path, regen=True)
    assert "A regeneration never passes" in text and str(out) in text
    assert "+> scan 4006381333931" in text and " sale flags=0 " in text
    assert out.read_text().startswith("> keys 1 SIGN 1111 TOTAL\n")
    # Without regeneration the written file is what the shift produces.
    golden.compare("short", str(tmp_path), regen=False)
    # An expectation edited by hand: the regeneration puts it back and shows
    # exactly that line, removed and added.
    right = out.read_text()
    wrong = right.replace("Brot 500 g", "Brot 750 g", 1)
    assert wrong != right
    out.write_text(wrong)
    text = regen_failure(tmp_path, regen=True)
    changed = [ln for ln in text.splitlines() if ln[:1] in "+-" and ln[:3] not in ("+++", "---")]
    assert len(changed) == 2 and "750" in changed[0] and "500" in changed[1], changed
    assert out.read_text() == right
    # Nothing to change: still a failure, saying so.
    assert "(no change: the file was already up to date)" in regen_failure(tmp_path, regen=True)


def test_the_environment_variable_asks_for_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "short.shift").write_text(SHIFT)
    monkeypatch.setenv("KASSA_GOLDEN_REGEN", "1")
    assert "A regeneration never passes" in regen_failure(tmp_path)
    monkeypatch.delenv("KASSA_GOLDEN_REGEN")
    golden.compare("short", str(tmp_path))


def test_a_shift_that_fails_midway_leaves_the_old_file(tmp_path: Path) -> None:
    (tmp_path / "short.shift").write_text(SHIFT + "no such line\n")
    (tmp_path / "short.out").write_text("old\n")
    with pytest.raises(ValueError, match="unknown script line"):
        golden.compare("short", str(tmp_path), regen=True)
    assert (tmp_path / "short.out").read_text() == "old\n"
