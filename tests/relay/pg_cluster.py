"""A throwaway PostgreSQL cluster for the relay's tests: initdb in a temp dir,
listening on loopback only, a free port, trust authentication for one test
user. PostgreSQL refuses to run as root, so as root the server runs as the
`postgres` system user (Debian's package creates it) or, without it, `nobody`.
`make test` installs PostgreSQL from Debian when it is missing."""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

USER = "kassa"


def binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    def __init__(self, durable: bool = False) -> None:
        """durable=False (the tests): no fsync, fast. durable=True (the
        benchmark): PostgreSQL's defaults, every commit flushed to disk."""
        bindir = binaries()
        if bindir is None:
            raise RuntimeError("PostgreSQL is not installed (no initdb); "
                               "`make test` installs it: apt-get install -y postgresql")
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="kassa-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        self.run_as: list[str] = []
        if os.geteuid() == 0:
            owner = "postgres" if _user_exists("postgres") else "nobody"
            self.run_as = ["runuser", "-u", owner, "--"]
            shutil.chown(self.dir, owner)
            os.chmod(self.dir, 0o700)
        self._run("initdb", "-D", str(self.data), "-U", USER, "-A", "trust", "--no-sync", "-E", "UTF8")
        opts = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.dir} "
                + ("" if durable else "-c fsync=off -c full_page_writes=off ") + "-c max_connections=200")
        self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.dir / "log"), "-w",
                  "-t", "60", "start")
        self.url = f"postgresql://{USER}@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        cmd = [*self.run_as, str(self.bindir / tool), *args]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.dir / "log"
            raise RuntimeError(f"{tool} failed: {done.stderr or done.stdout}"
                               + (log.read_text()[-2000:] if log.exists() else ""))

    def new_database(self) -> str:
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            time.sleep(0.1)
            shutil.rmtree(self.dir, ignore_errors=True)


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False
