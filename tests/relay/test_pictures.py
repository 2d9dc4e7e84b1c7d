"""Product pictures in echo mode: the pure diff and the site-side apply()
(atomic per file, deletions, paths that would leave the folder refused), and
pairs run against both databases end to end: HO's master -> update ->
the gateway's apply() -> acknowledgement -> the next run sends only what
changed; nothing a site does changes the master."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from publishing import count, register, whole_blobs_only
from host_tools.relay import picture_update as pu
from host_tools.relay import pictures, publish
from host_tools.relay.store import Store, StoreError


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_diff_sends_new_and_changed_files_and_deletes_what_the_master_lost() -> None:
    master = {"a.jpg": "1" * 64, "b.jpg": "2" * 64, "d/c.jpg": "3" * 64}
    acked = {"a.jpg": "1" * 64, "b.jpg": "9" * 64, "old.jpg": "4" * 64}
    d = pu.diff(master, acked, maybe_present={"sent-but-unacked.jpg", "a.jpg"})
    assert d.put == {"b.jpg": "2" * 64, "d/c.jpg": "3" * 64}
    assert d.delete == ["old.jpg", "sent-but-unacked.jpg"]
    assert (d.copied, d.updated, d.unchanged) == (1, 1, 1)
    assert pu.diff(master, master) == pu.Diff({}, [], 0, 0, 3)


def _update(files: dict[str, bytes], delete: Sequence[str] = ()) -> tuple[pu.Update, dict[str, bytes]]:
    blobs = {sha(b): b for b in files.values()}
    put = {p: sha(b) for p, b in files.items()}
    return pu.Update("p", "pictures", put, put, list(delete)), blobs


def test_apply_writes_atomically_skips_what_is_there_and_deletes(tmp_path: Path) -> None:
    folder = tmp_path / "pictures"
    update, blobs = _update({"a.jpg": b"A" * 100, "sub/b.jpg": b"B", "sub/deep/c.png": b"C"})
    fetched: list[str] = []

    def blob(h: str) -> bytes:
        fetched.append(h)
        return blobs[h]
    done = pu.apply(pu.decode(update.encode()), folder, blob)
    assert sorted(done.written) == ["a.jpg", "sub/b.jpg", "sub/deep/c.png"] and len(fetched) == 3
    (folder / "mine.txt").write_text("the site's own file")  # echo: left alone
    again = pu.apply(update, folder, blob)
    assert again.written == [] and sorted(again.unchanged) == ["a.jpg", "sub/b.jpg", "sub/deep/c.png"]
    assert len(fetched) == 3  # nothing downloaded twice
    gone, _ = _update({"a.jpg": b"A2"}, delete=["sub/deep/c.png", "never-there.jpg"])
    done = pu.apply(gone, folder, lambda h: b"A2")
    assert done.deleted == ["sub/deep/c.png"] and not (folder / "sub" / "deep").exists()
    assert tree(folder) == {"a.jpg": b"A2", "mine.txt": b"the site's own file", "sub/b.jpg": b"B"}
    assert not list(folder.rglob("*.kassa-tmp"))


def test_apply_refuses_paths_out_of_the_folder_and_bad_downloads(tmp_path: Path) -> None:
    folder, outside = tmp_path / "pictures", tmp_path / "outside"
    folder.mkdir()
    outside.mkdir()
    (folder / "link").symlink_to(outside)
    for bad in ("../x.jpg", "/etc/x.jpg", "a/../../x.jpg", "a//b.jpg", "./a.jpg", "C:/x.jpg", "a\\..\\x.jpg",
                "link/x.jpg"):
        update, blobs = _update({"ok.jpg": b"fine", bad: b"evil"})
        with pytest.raises(pu.UpdateError):
            pu.apply(update, folder, blobs.__getitem__)
        assert tree(folder) == {} and tree(outside) == {}, bad  # refused before anything was written
    with pytest.raises(pu.UpdateError, match="leads out"):
        pu.apply(_update({}, delete=["link/x.jpg"])[0], folder, lambda h: b"")
    update, _ = _update({"a.jpg": b"right"})
    with pytest.raises(pu.UpdateError, match="does not match its SHA-256"):
        pu.apply(update, folder, lambda h: b"wrong")
    assert not (folder / "a.jpg").exists()
    for doc in (b"not json", b'{"format": 2}', json.dumps({"format": 1, "pair": "p", "folder": "f", "manifest": {},
                                                          "put": {"a": "zz"}, "delete": []}).encode()):
        with pytest.raises(pu.UpdateError):
            pu.decode(doc)


class Gateway:
    """What the store gateway will do for a site: take its pending pictures
    updates in order, apply them with picture_update.apply, acknowledge."""

    def __init__(self, store: Store, site: str, root: Path) -> None:
        self.store, self.site, self.root = store, site, root

    def sync(self) -> list[int]:
        applied = []
        for msg in publish.pending(self.store, self.site):
            if msg["kind"] != "pictures":
                continue
            update = pu.decode(publish.blob_bytes(self.store, msg["sha256"]))
            pu.apply(update, self.root / update.folder, lambda h: publish.blob_bytes(self.store, h))
            publish.acknowledge(self.store, self.site, msg["id"], None, True)
            applied.append(msg["id"])
        return applied


def test_a_pair_echoes_the_master_to_its_site_and_only_changes_travel(store: Store, tmp_path: Path) -> None:
    register(store)
    master, site_root = tmp_path / "master", tmp_path / "site-S001"
    (master / "drinks").mkdir(parents=True)
    for n in range(6):
        (master / "drinks" / f"{n}.jpg").write_bytes(bytes([n]) * (n + 1) * 1000)
    (master / "shared.jpg").write_bytes(b"same picture")
    pictures.add_pair(store, "shop1", master, "S001", "pics")
    pictures.add_pair(store, "shop2", master, "S002")
    with pytest.raises(StoreError, match="exists already"):
        pictures.add_pair(store, "shop1", master, "S003")
    with pytest.raises(StoreError, match="does not exist"):
        pictures.add_pair(store, "shop3", tmp_path / "nope", "S003")
    seen: list[tuple[str, int, int]] = []
    first = pictures.run(store, None, "anna", lambda p, done, total: seen.append((p, done, total)))
    assert [(s.pair, s.copied, s.updated, s.deleted, s.unchanged, s.failed) for s in first] == \
        [("shop1", 7, 0, 0, 0, 0), ("shop2", 7, 0, 0, 0, 0)]
    assert seen[-1][1:] == (7, 7)
    assert count(store, "blobs") == 7 + 2  # each picture once for both pairs, and the two updates
    [msg] = publish.pending(store, "S001")
    assert (msg["kind"], msg["scope"], msg["tills"]) == ("pictures", "site", [])
    master_before = tree(master)
    gateway = Gateway(store, "S001", site_root)
    assert gateway.sync() == [msg["id"]]
    assert tree(site_root / "pics") == master_before
    assert pictures.pair(store, "shop1")["acked_files"] == 7
    # the site changes its copy: nothing of it reaches the master
    (site_root / "pics" / "drinks" / "0.jpg").write_bytes(b"edited at the shop")
    (site_root / "pics" / "local.jpg").write_bytes(b"the shop's own")
    assert tree(master) == master_before
    [again] = pictures.run(store, "shop1", "anna")
    assert (again.copied, again.updated, again.deleted, again.unchanged, again.message) == (0, 0, 0, 7, None)
    # HO changes one picture, adds one and deletes one
    (master / "drinks" / "1.jpg").write_bytes(b"new label")
    (master / "drinks" / "new.jpg").write_bytes(b"new product")
    (master / "drinks" / "2.jpg").unlink()
    [run2] = pictures.run(store, "shop1", "anna")
    assert (run2.copied, run2.updated, run2.deleted, run2.unchanged) == (1, 1, 1, 5)
    # run again before the site applied it: the newer update supersedes the older
    (master / "drinks" / "3.jpg").unlink()
    [run3] = pictures.run(store, "shop1", "anna")
    assert (run3.copied, run3.updated, run3.deleted, run3.superseded) == (1, 1, 2, [run2.message])
    assert gateway.sync() == [run3.message]
    want = tree(master)
    want["drinks/0.jpg"] = b"edited at the shop"  # unchanged in the master, so not sent again
    want["local.jpg"] = b"the shop's own"
    assert tree(site_root / "pics") == want
    status = pictures.pair(store, "shop1")
    assert status["acked_message"] == run3.message and status["acked_files"] == 6
    assert status["last_run"]["deleted"] == 2 and status["last_run"]["message"] == run3.message
    whole_blobs_only(store)


def test_pairs_are_renamed_removed_and_unreadable_files_are_counted_failed(store: Store, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    register(store)
    master = tmp_path / "master"
    master.mkdir()
    (master / "a.jpg").write_bytes(b"a")
    (master / "secret.jpg").write_bytes(b"s")
    pictures.add_pair(store, "p1", master, "S003")
    pictures.rename_pair(store, "p1", "corner-shop")
    assert [p["name"] for p in pictures.pairs(store)] == ["corner-shop"]
    with pytest.raises(StoreError, match="no picture pair p1"):
        pictures.run(store, "p1", "anna")
    (master / "broken.jpg").symlink_to(master / "missing-target")
    real_read = Path.read_bytes

    def read(path: Path) -> bytes:
        if path.name == "secret.jpg":
            raise PermissionError(13, "Permission denied", str(path))
        return real_read(path)
    monkeypatch.setattr(Path, "read_bytes", read)
    [run] = pictures.run(store, None, "anna")
    assert (run.copied, run.failed) == (1, 2)
    assert any("secret.jpg: Permission denied" in f for f in run.failures)
    assert any("broken.jpg: not a regular file" in f for f in run.failures)
    assert pictures.pair(store, "corner-shop")["last_run"]["failed"] == 2
    pictures.remove_pair(store, "corner-shop")
    assert pictures.pairs(store) == []
    with pytest.raises(StoreError, match="no picture pairs yet"):
        pictures.run(store, None, "anna")
    # the update already published stays deliverable; acknowledging it after the pair is gone is fine
    [msg] = publish.pending(store, "S003")
    assert publish.acknowledge(store, "S003", msg["id"], None, True)["message_status"] == "PROCESSED"


def test_a_gateway_applies_a_pictures_update_over_http(store: Store, tmp_path: Path) -> None:
    """The gateway's whole round over the site API: list, download the update
    and its files, apply, acknowledge for the site (till null)."""
    from fastapi.testclient import TestClient

    from host_tools.relay.app import create_app
    from host_tools.relay.config import RelayConfig

    tokens = register(store)
    master = tmp_path / "master"
    master.mkdir()
    (master / "a.jpg").write_bytes(b"picture a")
    (master / "b.jpg").write_bytes(b"picture b")
    pictures.add_pair(store, "shop1", master, "S002")
    pictures.run(store, "shop1", "anna")
    site = {"Authorization": f"Bearer {tokens['S002']}"}
    with TestClient(create_app(RelayConfig("unused", worker_interval_s=None), store)) as c:
        [msg] = c.get("/v1/sites/S002/messages", headers=site).json()
        assert (msg["kind"], msg["scope"], msg["tills"], msg["info"]["copied"]) == ("pictures", "site", [], 2)

        def fetch(h: str) -> bytes:
            r = c.get(f"/v1/sites/S002/blobs/{h}", headers=site)
            assert r.status_code == 200, r.text
            return r.content
        update = pu.decode(fetch(msg["sha256"]))
        pu.apply(update, tmp_path / "site" / update.folder, fetch)
        url = f"/v1/sites/S002/messages/{msg['id']}/ack"
        r = c.post(url, json={"till": "till-1", "result": "applied"}, headers=site)
        assert r.status_code == 404 and "send no till" in r.json()["detail"]
        r = c.post(url, json={"till": None, "result": "applied"}, headers=site)
        assert r.json() == {"message": msg["id"], "till": None, "status": "PROCESSED", "outcome": "recorded",
                            "message_status": "PROCESSED"}
        # a picture is downloadable only by the site it was published to
        other = {"Authorization": f"Bearer {tokens['S001']}"}
        assert c.get(f"/v1/sites/S001/blobs/{sha(b'picture a')}", headers=other).status_code == 404
    assert tree(tmp_path / "site" / "pictures") == tree(master)
    assert pictures.pair(store, "shop1")["acked_files"] == 2
