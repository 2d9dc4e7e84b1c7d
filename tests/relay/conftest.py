"""Fixtures of the relay's tests: every store test runs on SQLite and on
PostgreSQL (a throwaway cluster for the session, a new database per test)."""
from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from pg_cluster import Cluster  # noqa: E402

from host_tools.relay.store import Store, open_store  # noqa: E402

_cluster: Cluster | None = None
_cluster_error: str | None = None


def _pg() -> Cluster:
    global _cluster, _cluster_error
    if _cluster is None and _cluster_error is None:
        try:
            _cluster = Cluster()
        except Exception as exc:  # reported by the skip below, loudly
            _cluster_error = str(exc)
    if _cluster is None:
        pytest.skip(f"PostgreSQL UNAVAILABLE, relay tests on PostgreSQL NOT RUN: {_cluster_error}")
    return _cluster


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _cluster is not None:
        _cluster.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "relay.sqlite3")
    return _pg().new_database()


@pytest.fixture
def pg_url() -> str:
    return _pg().new_database()


class Clock:
    def __init__(self, t: float = 1795300000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(db_url: str, clock: Clock) -> Iterator[Store]:
    s = open_store(db_url, clock=clock)
    try:
        yield s
    finally:
        s.close()
