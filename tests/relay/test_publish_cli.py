"""`kassa ho publish`, `kassa ho pictures ...` and `kassa ho sent` on both
databases (clear errors, never a traceback), and the nightly snapshot: its
schedule as a pure function of (now, at), its loop on a fake clock, and
Ctrl-C ending a real `kassa ho publish --nightly` with one line."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, time as daytime, timedelta, timezone
from pathlib import Path

import pytest
from PIL import Image

from publishing import DATA, register, snapshot
from host_tools.cli import main
from host_tools.relay import nightly, publish
from host_tools.relay.store import open_store

ROOT = Path(__file__).resolve().parents[2]


def kassa(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def registered(db_url: str) -> None:
    store = open_store(db_url)
    try:
        register(store)
    finally:
        store.close()


def test_publish_snapshots_and_logos_and_see_them_sent(db_url: str, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", db_url]
    registered(db_url)
    s1, s2 = snapshot(tmp_path, 1), snapshot(tmp_path, 2, changed=True)
    code, out, _ = kassa(capsys, "ho", "publish", "--snapshot", str(s1), "--site", "S001", "--site", "S002", *db)
    assert code == 0 and "published snapshot 1 as message 1" in out and "to S001, S002" in out
    code, out, _ = kassa(capsys, "ho", "publish", "--snapshot", str(s2), "--base", str(s1), "--site", "S001",
                         "--json", *db)
    assert code == 0 and json.loads(out)["kind"] == "delta"
    pkg = tmp_path / "s3.pkg"
    assert kassa(capsys, "snapshot", "package", str(snapshot(tmp_path, 3)), "--out", str(pkg))[0] == 0
    code, out, _ = kassa(capsys, "ho", "publish", "--snapshot", str(pkg), "--all", *db)
    assert code == 0 and "message 1 for S001 is SUPERSEDED" in out and "message 2 for S001 is SUPERSEDED" in out
    logo = tmp_path / "logo.png"
    Image.new("L", (300, 60), 0).save(logo)
    code, out, _ = kassa(capsys, "ho", "publish", "--logo", str(logo), "--width-dots", "384", "--site", "S003", *db)
    assert code == 0 and "logo logo.png (384 dots wide)" in out
    code, out, _ = kassa(capsys, "ho", "sent", "--json", *db)
    sent = json.loads(out)
    assert [m["kind"] for m in sent] == ["logo", "snapshot", "delta", "snapshot"]
    assert {d["site"]: d["status"] for d in sent[3]["sites"]} == {"S001": "SUPERSEDED", "S002": "SUPERSEDED"}
    assert [t["till"] for t in sent[1]["sites"][0]["tills"]] == ["till-1", "till-2"]
    code, out, _ = kassa(capsys, "ho", "sent", "--site", "S002", "--status", "UPLOADED", *db)
    assert code == 0 and "Sent data" in out and "snapshot 3" in out and "till-1 UPLOADED" in out
    assert "logo" not in out


def test_publish_mistakes_are_clear_errors_and_store_nothing(db_url: str, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    registered(db_url)
    s1 = str(snapshot(tmp_path, 1))
    bad = tmp_path / "bad.pkg"
    bad.write_bytes(b"\xa1\x65kassa\x01 and then nothing")
    cases = {
        "no sites": (["--snapshot", s1], "--site S001 --site S002, or give --all"),
        "both": (["--snapshot", s1, "--all", "--site", "S001"], "or give --all"),
        "bad package": (["--snapshot", str(bad), "--all"], "not a snapshot package"),
        "missing file": (["--snapshot", str(tmp_path / "nope.pkg"), "--all"], "cannot read"),
        "not a directory base": (["--snapshot", str(bad), "--base", str(bad), "--all"], "not a snapshot directory"),
        "bad logo": (["--logo", str(bad), "--all"], "the logo bad.pkg was refused"),
        "unknown site": (["--snapshot", s1, "--site", "S404"], "no site S404"),
        "nightly without source": (["--nightly"], "needs --source"),
        "bad time": (["--nightly", "--at", "25:00", "--source", str(DATA)], "not a time of day"),
    }
    for case, (args, words) in cases.items():
        code, out, err = kassa(capsys, "ho", "publish", *args, "--db", db_url)
        assert code == 2 and words in err and "Traceback" not in err, (case, err)
    store = open_store(db_url)
    try:
        assert publish.sent(store) == []
    finally:
        store.close()


def test_picture_pairs_from_the_command_line(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", db_url]
    registered(db_url)
    master = tmp_path / "master"
    master.mkdir()
    for n in range(3):
        (master / f"{n}.jpg").write_bytes(bytes([n]) * 50)
    code, out, _ = kassa(capsys, "ho", "pictures", "pair", "add", "shop1", "--master", str(master), "--site", "S001",
                         *db)
    assert code == 0 and "-> site S001, folder pictures" in out
    code, _, err = kassa(capsys, "ho", "pictures", "pair", "add", "shop 2", "--master", str(master), "--site",
                         "S001", *db)
    assert code == 2 and "not valid" in err
    code, _, err = kassa(capsys, "ho", "pictures", "status", *db)
    assert code == 0
    code, out, _ = kassa(capsys, "ho", "pictures", "run", *db)
    assert code == 0 and "shop1 -> S001: 3 copied, 0 updated, 0 deleted, 0 unchanged, 0 failed; message 1" in out
    (master / "0.jpg").unlink()
    code, out, _ = kassa(capsys, "ho", "publish", "--pictures", "shop1", "--json", *db)
    assert code == 0 and json.loads(out)[0]["deleted"] == 1 and json.loads(out)[0]["superseded"] == [1]
    code, out, _ = kassa(capsys, "ho", "pictures", "status", "--json", *db)
    [pair] = json.loads(out)
    assert pair["last_run"]["deleted"] == 1 and pair["last_run"]["unchanged"] == 0
    code, out, _ = kassa(capsys, "ho", "pictures", "status", *db)
    assert code == 0 and "shop1" in out and "never" not in out
    assert kassa(capsys, "ho", "pictures", "pair", "rename", "shop1", "corner", *db)[0] == 0
    code, out, _ = kassa(capsys, "ho", "pictures", "pair", "list", "--json", *db)
    assert [p["name"] for p in json.loads(out)] == ["corner"]
    code, out, _ = kassa(capsys, "ho", "sent", *db)
    assert "pictures shop1: +2 ~0 -1" in out and "site UPLOADED" in out
    assert kassa(capsys, "ho", "pictures", "pair", "remove", "corner", *db)[0] == 0
    code, _, err = kassa(capsys, "ho", "pictures", "run", "corner", *db)
    assert code == 2 and "no picture pair corner" in err


# -- the nightly snapshot ------------------------------------------------------------

def test_the_next_run_is_a_pure_function_of_now_and_at() -> None:
    at = daytime(2, 0)
    assert nightly.next_run(datetime(2026, 12, 6, 1, 59, 59), at) == datetime(2026, 12, 6, 2, 0)
    assert nightly.next_run(datetime(2026, 12, 6, 2, 0), at) == datetime(2026, 12, 7, 2, 0)  # just ran
    assert nightly.next_run(datetime(2026, 12, 6, 23, 0), at) == datetime(2026, 12, 7, 2, 0)
    assert nightly.next_run(datetime(2026, 12, 31, 3, 0), at) == datetime(2027, 1, 1, 2, 0)
    utc = datetime(2026, 12, 6, 1, 0, tzinfo=timezone.utc)
    assert nightly.next_run(utc, at) == datetime(2026, 12, 6, 2, 0, tzinfo=timezone.utc)
    assert nightly.parse_at("2:05") == daytime(2, 5) and nightly.parse_at("23:59") == daytime(23, 59)
    for bad in ("24:00", "2", "02:60", "two", "-1:00"):
        with pytest.raises(ValueError):
            nightly.parse_at(bad)


def test_the_nightly_loop_publishes_once_a_night_on_a_fake_clock(db_url: str, tmp_path: Path) -> None:
    registered(db_url)
    clock = [datetime(2026, 12, 6, 22, 30)]
    slept: list[float] = []
    said: list[str] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += timedelta(seconds=seconds)

    source = tmp_path / "catalog"
    source.mkdir()
    for name in ("items.csv", "store.json"):
        (source / name).write_bytes((DATA / name).read_bytes())
    nightly.run_nightly(lambda: open_store(db_url), source, tmp_path / "snaps", daytime(2, 0), "nightly",
                        said.append, now=lambda: clock[0], sleep=sleep, nights=1)
    (source / "items.csv").write_text("plu,name\n1,\n")  # a bad export that night: said, and the loop goes on
    nightly.run_nightly(lambda: open_store(db_url), source, tmp_path / "snaps", daytime(2, 0), "nightly",
                        said.append, now=lambda: clock[0], sleep=sleep, nights=1)
    (source / "items.csv").write_bytes((DATA / "items.csv").read_bytes())
    nightly.run_nightly(lambda: open_store(db_url), source, tmp_path / "snaps", daytime(2, 0), "nightly",
                        said.append, now=lambda: clock[0], sleep=sleep, nights=1)
    assert clock[0] == datetime(2026, 12, 9, 2, 0) and max(slept) <= nightly.STEP_S
    assert said[0] == "next nightly snapshot at 2026-12-07 02:00"
    assert said[1].startswith("published snapshot snap-1 (message 1,") and "to 3 sites" in said[1]
    assert said[3].startswith("nightly snapshot NOT published: the catalog source was refused")
    assert said[5].startswith("published snapshot snap-2 (message 2,")
    store = open_store(db_url)
    try:
        sent = publish.sent(store)
        assert [(m["kind"], m["info"]["version"]) for m in sent] == [("snapshot", 2), ("snapshot", 1)]
        assert {d["status"] for d in sent[1]["sites"]} == {"SUPERSEDED"}
    finally:
        store.close()


def test_ctrl_c_stops_the_nightly_publisher_with_one_line(tmp_path: Path) -> None:
    db = tmp_path / "relay.sqlite3"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "firmware")])}
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from host_tools.cli import main; sys.exit(main())",
                             "ho", "publish", "--nightly", "--at", "02:00", "--source", str(DATA), "--db", str(db)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.startswith("next nightly snapshot at ")
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert out == "kassa ho publish: nightly publishing stopped\n" and err == ""
