"""The device CBOR codec against cbor2 6.x, on CPython and on MicroPython.

cbor2 is the real peer: head office decodes journals with it, so the till's
deterministic bytes must be exactly cbor2's canonical bytes, and each side must
read what the other writes. The MicroPython half drives one long-lived
`micropython -X heapsize=192K` process running the compiled firmware
(tests/host/mp_cbor_worker.py), one hypothesis example per request line.
"""
from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any, Iterator

import cbor2
import pytest
from conftest import ROOT, compiled_firmware, micropython_binary, micropython_env
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from till.formats import cbor

WORKER = Path(__file__).with_name("mp_cbor_worker.py")
MAX_DEPTH = 16
SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


class MicroPythonCodec:
    """Round-trips bytes through the device codec inside MicroPython."""

    def __init__(self) -> None:
        errors = compiled_firmware()
        if errors:
            pytest.fail("mpy-cross failed:\n" + "\n".join(errors))
        # stderr goes to a file, not a pipe: MicroPython warns there on every
        # dict lookup that compares bytes with str, and a pipe nobody reads
        # fills (64 KB) and blocks the worker for good, hanging the test.
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [micropython_binary(), "-X", "heapsize=192K", str(WORKER)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
            text=True, cwd=ROOT, env=micropython_env(), bufsize=1)
        self.banner = self._line()

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.stderr.seek(0)
            died = self.stderr.read()[-2000:].decode(errors="replace")
            raise RuntimeError("MicroPython worker died: " + died)
        # MicroPython warns on stderr when a dict lookup compares bytes with str;
        # only stdout carries answers.
        return line.rstrip("\n")

    def roundtrip(self, data: bytes) -> tuple[str, str]:
        """("OK", hex of dumps(loads(data))) or ("ERR"/"EXC", "Class message")."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(data.hex() + "\n")
        self.proc.stdin.flush()
        status, _, rest = self._line().partition(" ")
        return status, rest

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            assert self.proc.stdout is not None
            self.proc.stdout.close()
            self.stderr.close()


@pytest.fixture(scope="module")
def mp() -> Iterator[MicroPythonCodec]:
    codec = MicroPythonCodec()
    yield codec
    codec.close()


# ---- values the codec supports -------------------------------------------------

ints = st.integers(min_value=-(2 ** 64), max_value=2 ** 64 - 1)
texts = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=24)
keys = st.one_of(ints, texts, st.binary(max_size=12))
leaves = st.one_of(st.none(), st.booleans(), ints, st.binary(max_size=40), texts)


def _extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.lists(children, max_size=6),
                     st.lists(children, max_size=4).map(tuple),
                     st.dictionaries(keys, children, max_size=6))


def depth(v: Any) -> int:
    if isinstance(v, dict):
        return 1 + max((depth(x) for x in v.values()), default=0)
    if isinstance(v, (list, tuple)):
        return 1 + max((depth(x) for x in v), default=0)
    return 0


values = st.recursive(leaves, _extend, max_leaves=30).filter(lambda v: depth(v) <= MAX_DEPTH)


def plain(v: Any) -> Any:
    """What any decoder gives back: tuples become lists."""
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return v


def same(a: Any, b: Any) -> bool:
    # == alone would accept 1 == True and 0 == False inside containers.
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return bool(a == b)


# ---- round trips against cbor2 -------------------------------------------------

@SETTINGS
@given(values)
def test_cpython_matches_cbor2_canonical(value: Any) -> None:
    ours = cbor.dumps(value)
    canonical = cbor2.dumps(value, canonical=True)
    assert ours == canonical
    assert same(cbor2.loads(ours), plain(value))
    assert same(cbor.loads(canonical), plain(value))
    # cbor2's default mode keeps insertion order; decoding must not care.
    assert same(cbor.loads(cbor2.dumps(value)), plain(value))


@SETTINGS
@given(values)
def test_micropython_matches_cbor2_canonical(mp: MicroPythonCodec, value: Any) -> None:
    canonical = cbor2.dumps(value, canonical=True)
    assert mp.roundtrip(canonical) == ("OK", canonical.hex())
    # Insertion-ordered maps come back sorted: MicroPython's encoder did the sorting.
    assert mp.roundtrip(cbor2.dumps(value)) == ("OK", canonical.hex())


def test_worker_runs_the_compiled_module(mp: MicroPythonCodec) -> None:
    assert mp.banner.startswith("READY ") and mp.banner.endswith("cbor.mpy"), mp.banner
    assert mp.roundtrip(bytes.fromhex("a3614101181801200a")) == ("OK", "a3200a181801614101"), \
        "map keys must be re-sorted length-first, then bytewise"
    status, rest = mp.roundtrip(bytes.fromhex("8201"))
    assert status == "ERR" and rest.startswith("CBORTruncated "), rest


# ---- hostile input ---------------------------------------------------------------

@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """Valid encodings with bytes overwritten, inserted or cut, or plain noise."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=48))
    data = bytearray(cbor2.dumps(draw(values), canonical=True))
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(("set", "insert", "cut")))
        i = draw(st.integers(0, len(data)))
        if action == "set" and i < len(data):
            data[i] = draw(st.integers(0, 255))
        elif action == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=3))
        else:
            del data[i:]
    return bytes(data)


def cpython_outcome(data: bytes) -> tuple[str, str]:
    try:
        obj = cbor.loads(data)
    except cbor.CBORError as exc:
        return "ERR", type(exc).__name__
    # Anything we accept, cbor2 reads the same way, and re-encodes canonically.
    assert same(cbor2.loads(data), obj)
    return "OK", cbor.dumps(obj).hex()


@SETTINGS
@given(damaged())
def test_hostile_bytes_only_raise_cbor_errors_and_interpreters_agree(
        mp: MicroPythonCodec, data: bytes) -> None:
    expected = cpython_outcome(data)  # any other exception fails the test here
    event(expected[1] if expected[0] == "ERR" else "decoded")
    status, rest = mp.roundtrip(data)
    assert status != "EXC", rest
    got = (status, rest if status == "OK" else rest.split(" ", 1)[0])
    assert got == expected, (data.hex(), rest)
