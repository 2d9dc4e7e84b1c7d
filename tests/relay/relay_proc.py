"""Real relay processes for the tests: `kassa relay serve` under uvicorn in a
subprocess, and gateway-like uploaders that retry until acknowledged."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from journals import batch



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RelayProcess:
    def __init__(self, db_url: str, worker_interval_s: float | None = 0.02, log: Path | None = None) -> None:
        self.db_url, self.worker_interval_s = db_url, worker_interval_s
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True) -> "RelayProcess":
        args = [sys.executable, "-m", "host_tools.relay", "serve", "--db", self.db_url, "--port", str(self.port),
                "--log-level", "warning", "--pool-size", "4"]
        args += ["--no-worker"] if self.worker_interval_s is None else \
            ["--worker-interval", str(self.worker_interval_s)]
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL
        self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"the relay exited with {self.proc.returncode}"
                                   + (f": {self.log.read_text()[-3000:]}" if self.log else ""))
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.02)
        raise RuntimeError("the relay did not answer in time")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        return self.proc.returncode


def post_once(client: httpx.Client, url: str, **request: Any) -> httpx.Response | None:
    """One POST to a relay that may be dead or restarting: its answer, or
    None (after a short pause) when there was none or it said "retry later"."""
    try:
        r = client.post(url, **request)
    except httpx.HTTPError:
        time.sleep(0.01)
        return None
    return None if r.status_code == 503 else r


class Uploader(threading.Thread):
    """One till's gateway: uploads its records in batches, each batch again
    until an answer arrives (the relay may be dead meanwhile), sometimes
    resending what was already acknowledged; keeps every acknowledgement."""

    def __init__(self, urls: list[str], token: str, till_id: str, records: list[tuple[int, bytes]],
                 batch_size: int = 20, seed: int = 0) -> None:
        super().__init__(daemon=True)
        self.urls, self.till_id, self.records = urls, till_id, records
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/cbor-seq"}
        self.batch_size, self.seed = batch_size, seed
        self.acked: dict[int, str] = {}
        self.errors: list[str] = []
        self.stop_flag = threading.Event()

    def run(self) -> None:
        import hashlib
        import random

        rnd = random.Random(self.seed)
        site, name = self.till_id.split("/")
        head = self.records[-1][0]
        sent = 0
        with httpx.Client(timeout=10) as client:
            while sent < len(self.records) and not self.stop_flag.is_set():
                start = max(0, sent - rnd.randint(0, 5)) if rnd.random() < 0.2 else sent
                chunk = self.records[start:start + rnd.randint(1, self.batch_size)]
                url = f"{rnd.choice(self.urls)}/v1/sites/{site}/tills/{name}/records"
                r = post_once(client, url, content=batch(chunk), params={"head": head}, headers=self.headers)
                if r is None:
                    continue
                if r.status_code != 200:
                    self.errors.append(f"{r.status_code} {r.text}")
                    return
                for ack in r.json()["acks"]:
                    seq = ack["seq"]
                    raw = dict(chunk)[seq]
                    if ack["sha256"] != hashlib.sha256(raw).hexdigest() or ack["outcome"] == "conflict":
                        self.errors.append(f"record {seq}: acknowledged as {ack}")
                    self.acked[seq] = ack["sha256"]
                sent = max(sent, start + len(chunk))
