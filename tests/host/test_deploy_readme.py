"""The commands README.md, docs/flashing.md and docs/simulator.md tell a person
to type exist as written: every `kassa` command and sub-command, every option
it names (`--link-port`, `--key-file`...), every `make` target and every
`python -m MODULE`; a `kassa` line without placeholders must parse as a whole
(required options present, values of the right kind). The lines are taken from
the documents' code blocks and from `kassa ...` / `make ...` in backticks in
the prose, so a renamed option or command fails here, not for the reader. That
the commands also work is tested elsewhere (test_deploy_*.py, test_demo.py,
test_sim_*.py, test_flash*.py)."""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from host_tools.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = ("README.md", "docs/flashing.md", "docs/simulator.md")
_KASSA = re.compile(r"^(?:[^\s=]*/)?kassa\s")  # kassa, .venv/bin/kassa, ~/kassa/.venv/bin/kassa
_INLINE = re.compile(r"`((?:\S*/)?kassa [^`]+|make [^`]+)`")


def command_lines(text: str) -> list[tuple[str, bool]]:
    """The kassa, make and python -m lines of a Markdown text, each with
    whether it is a whole command: code blocks (indented or fenced) are, inline
    code in the prose may be a part of one (`kassa sim init --no-data`)."""
    lines: list[tuple[str, bool]] = []
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced or line.startswith("    "):
            code = line.strip()
            # A synopsis line describes itself after 3+ spaces; a comment after "#".
            code = re.split(r"\s{3,}|\s+#\s", code)[0].strip()
            if code:
                lines.append((code, True))
        else:
            lines += [(m.group(1), False) for m in _INLINE.finditer(line)]
    return [(c, whole) for c, whole in lines
            if _KASSA.match(c) or c.startswith("make ") or " -m " in c]


def _words(command: str) -> list[str]:
    # Optional parts ([--every 30m]) are checked as if given.
    return shlex.split(command.replace("[", " ").replace("]", " "))


def _sub(parser: argparse.ArgumentParser) -> argparse._SubParsersAction | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def kassa_problems(command: str, whole: bool = True) -> list[str]:
    """What in one `kassa ...` line the kassa command does not have (and, for
    a whole command line, what argparse refuses in it)."""
    words = _words(command)[1:]
    # "publish ... | sent | received": alternatives for the last command word.
    groups = [g.split() for g in " ".join(words).split(" | ")]
    problems: list[str] = []
    path: list[str] = []
    parser = build_parser()
    rest = groups[0]
    while rest and (sub := _sub(parser)) is not None and not rest[0].startswith("-"):
        word, rest = rest[0], rest[1:]
        alternatives = word.split("|") + ([g[0] for g in groups[1:] if g] if not rest or rest[0] == "..." else [])
        for alt in alternatives:
            if alt not in sub.choices:
                problems.append(f"kassa {' '.join(path + [alt])}: no such command "
                                f"(there are: {', '.join(sub.choices)})")
        if word.split("|")[0] not in sub.choices:
            return problems
        path.append(word.split("|")[0])
        parser = sub.choices[path[-1]]
    for word in rest:
        if word.startswith("--") and word.split("=")[0] not in parser._option_string_actions:
            problems.append(f"kassa {' '.join(path)}: no option {word.split('=')[0]}")
    if whole and not problems and "..." not in words and len(groups) == 1 and not any("|" in w for w in words):
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                build_parser().parse_args(words)
        except SystemExit as exc:
            if exc.code:
                problems.append(err.getvalue().strip().splitlines()[-1])
    return problems


def make_problems(command: str, makefile: str) -> list[str]:
    words = _words(command)[1:]
    if any(w.startswith("-") for w in words):  # make -C DIR: another project's make
        return []
    targets = [w for w in words if "=" not in w] or ["all"]
    return [f"make {t}: no such target in the Makefile" for t in targets
            if not re.search(rf"^{re.escape(t)}\s*:", makefile, re.M)]


def module_problems(command: str) -> list[str]:
    module = command.split(" -m ", 1)[1].split()[0]
    if module in ("venv", "pip", "pytest"):
        return []
    # As the reader runs it: from the repository's root (bench/ is found there).
    found = subprocess.run([sys.executable, "-c", "import importlib.util, sys; "
                            f"sys.exit(0 if importlib.util.find_spec({module!r}) else 1)"],
                           cwd=ROOT, capture_output=True).returncode == 0
    return [] if found else [f"python -m {module}: no such module"]


def problems(text: str, makefile: str) -> list[str]:
    found = []
    for command, whole in command_lines(text):
        if _KASSA.match(command):
            found += kassa_problems(command, whole)
        elif command.startswith("make "):
            found += make_problems(command, makefile)
        else:
            found += module_problems(command)
    return found


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_command_a_document_gives_exists(document: str) -> None:
    text = (ROOT / document).read_text()
    assert len(command_lines(text)) >= 5, "the commands were not found: has the layout changed?"
    assert problems(text, (ROOT / "Makefile").read_text()) == []


def test_the_check_finds_what_a_reader_would_trip_over() -> None:
    text = """
    kassa sim rnu /tmp/till
    .venv/bin/kassa flash --prot /dev/ttyACM0 --board pico_w
    kassa gateway sync gateway.toml [--evry 30m]   tills <-> HO's relay
    kassa snapshot build|pack   HO's CSV

    make flahs BOARD=pico_w
    .venv/bin/python -m bench.nosuch

Then `kassa sim run DIR --link-prot 7421` in the prose.

    kassa flash --board pico_w --till-id S001/till-1
"""
    found = problems(text, (ROOT / "Makefile").read_text())
    assert any("kassa sim rnu: no such command" in p for p in found), found
    assert any("kassa flash: no option --prot" in p for p in found), found
    assert any("kassa gateway sync: no option --evry" in p for p in found), found
    assert any("kassa snapshot pack: no such command" in p for p in found), found
    assert any("make flahs: no such target" in p for p in found), found
    assert any("python -m bench.nosuch: no such module" in p for p in found), found
    assert any("kassa sim run: no option --link-prot" in p for p in found), found
    assert any("one of the arguments --port --local is required" in p for p in found), found
    assert len(found) == 8, found
