"""The publishing pages (Data Sync, Sent Data, Pictures) over plain HTTP on
SQLite and PostgreSQL: an admin publishes a package or a logo to chosen
sites or to all, a bad file is refused with its reason and nothing stored,
a viewer and a forged form are refused; picture pairs run one or all."""
from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

import publishing
from host_tools.relay import pictures, publish
from host_tools.relay.app import create_app
from host_tools.relay.config import Limits, RelayConfig
from host_tools.relay.store import Store


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    publishing.register(store)
    app = create_app(RelayConfig("unused", worker_interval_s=None, session_key=b"k" * 32,
                                 limits=Limits(max_publish_bytes=2 * 1024 * 1024)), store)
    with TestClient(app, follow_redirects=False) as c:
        yield c


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def signed_in(client: TestClient, store: Store, role: str) -> str:
    token = store.add_user(role + "1", role)
    page = client.get("/ho/signin")
    assert client.post("/ho/signin", data={"token": token, "csrf": csrf_of(page.text)}).status_code == 303
    return csrf_of(client.get("/ho/sync").text)


def sync(client: TestClient, csrf: str, data: bytes, what: str = "package", scope: str = "selected",
         sites: tuple[str, ...] = ()) -> Any:
    fields: dict[str, Any] = {"csrf": csrf, "what": what, "scope": scope, "site": list(sites)}
    return client.post("/ho/sync", data=fields, files={"file": ("upload.bin", data)})


def messages(store: Store) -> int:
    return publishing.count(store, "messages")


def test_an_admin_syncs_selected_sites_then_all(client: TestClient, store: Store, tmp_path: Path) -> None:
    csrf = signed_in(client, store, "admin")
    r = sync(client, csrf, publishing.full(tmp_path, 1), sites=("S001", "S003"))
    assert r.status_code == 303 and r.headers["location"].startswith("/ho/sent?published=")
    page = client.get(r.headers["location"]).text
    assert "Published as message 1" in page and "S001" in page and "S003" in page and "S002</strong>" not in page
    r = sync(client, csrf, publishing.full(tmp_path, 2), scope="all")
    assert r.status_code == 303
    page = client.get("/ho/sent").text
    assert page.count('<tr data-message="') == 2 and "SUPERSEDED" in page
    assert client.get("/ho/sent?site=S002").text.count('<tr data-message="') == 1
    assert "version 2" in client.get("/ho/sync").text


def test_a_logo_is_converted_and_published(client: TestClient, store: Store) -> None:
    csrf = signed_in(client, store, "admin")
    png = io.BytesIO()
    Image.new("L", (300, 80), 255).save(png, "PNG")
    r = sync(client, csrf, png.getvalue(), what="logo", sites=("S002",))
    assert r.status_code == 303
    assert "logo" in client.get("/ho/sent").text


def test_a_bad_sync_is_refused_in_words_and_nothing_is_stored(client: TestClient, store: Store,
                                                              tmp_path: Path) -> None:
    csrf = signed_in(client, store, "admin")
    package = publishing.full(tmp_path, 1)
    cases = [(dict(data=b"not a package", sites=("S001",)), 422, "not a snapshot package"),
             (dict(data=package[:-10], sites=("S001",)), 422, "refused"),
             (dict(data=b"GIF89a nonsense", what="logo", sites=("S001",)), 422, "refused"),
             (dict(data=package, sites=("S009",)), 422, "no site S009"),
             (dict(data=package), 422, "Tick the sites"),
             (dict(data=package, what="poem", sites=("S001",)), 422, "Choose what"),
             (dict(data=b"", sites=("S001",)), 422, "Choose the file"),
             (dict(data=b"x" * (3 * 1024 * 1024), sites=("S001",)), 413, "at most")]
    for kw, status, words in cases:
        r = sync(client, csrf, **kw)  # type: ignore[arg-type]
        assert (r.status_code, words in r.text) == (status, True), (kw.get("what"), r.text[-400:])
    assert messages(store) == 0


def test_a_viewer_or_a_forged_form_cannot_publish(client: TestClient, store: Store, tmp_path: Path) -> None:
    package = publishing.full(tmp_path, 1)
    csrf = signed_in(client, store, "viewer")
    assert 'id="viewer-note"' in client.get("/ho/sync").text
    r = sync(client, csrf, package, scope="all")
    assert r.status_code == 403 and "needs an admin" in r.text
    client.cookies.clear()
    signed_in(client, store, "admin")
    r = sync(client, "forged", package, scope="all")
    assert r.status_code == 403 and "reload the page" in r.text
    assert messages(store) == 0


def test_sent_filters_refuse_nonsense(client: TestClient, store: Store) -> None:
    signed_in(client, store, "viewer")
    assert client.get("/ho/sent?status=LOST").status_code == 422
    assert client.get("/ho/sent?site=../x").status_code == 422
    assert "Nothing published" in client.get("/ho/sent").text


def test_picture_pairs_run_one_or_all(client: TestClient, store: Store, tmp_path: Path) -> None:
    for name, site in (("front", "S001"), ("back", "S002")):
        master = tmp_path / name
        master.mkdir()
        (master / "a.jpg").write_bytes(b"a" + name.encode())
        (master / "b.jpg").write_bytes(b"b" + name.encode())
        pictures.add_pair(store, name, master, site)
    csrf = signed_in(client, store, "admin")
    page = client.get("/ho/pictures").text
    assert page.count("never run") == 2
    r = client.post("/ho/pictures/run", data={"csrf": csrf, "pair": "front"})
    assert r.status_code == 303
    page = client.get(r.headers["location"]).text
    assert "Ran front" in page and page.count("never run") == 1
    assert pictures.pair(store, "front")["last_run"]["copied"] == 2
    (tmp_path / "front" / "a.jpg").unlink()
    r = client.post("/ho/pictures/run", data={"csrf": csrf})
    assert r.status_code == 303 and "never run" not in client.get("/ho/pictures").text
    assert pictures.pair(store, "front")["last_run"]["deleted"] + \
        pictures.pair(store, "front")["last_run"]["unchanged"] >= 1
    r = client.post("/ho/pictures/run", data={"csrf": csrf, "pair": "nope"})
    assert r.status_code == 409 and "no picture pair nope" in r.text
    client.cookies.clear()
    viewer_csrf = signed_in(client, store, "viewer")
    r = client.post("/ho/pictures/run", data={"csrf": viewer_csrf, "pair": "front"})
    assert r.status_code == 403


def test_sent_lists_a_bounded_number_of_sites_per_message_and_counts_the_rest(
        client: TestClient, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from host_tools.relay.web import sent as sent_page

    monkeypatch.setattr(sent_page, "SITES", 2)
    csrf = signed_in(client, store, "admin")
    assert sync(client, csrf, publishing.full(tmp_path, 1), scope="all").status_code == 303
    every = [m for m in publish.sent(store)][0]
    assert every["site_count"] == len(every["sites"]) >= 3
    page = client.get("/ho/sent").text
    shown = re.findall(r'<div class="delivery"><strong>(\w+)</strong>', page)
    assert shown == sorted(d["site"] for d in every["sites"])[:2]
    more = every["site_count"] - 2
    assert f"and {more} more sites ({every['site_count']} UPLOADED in all)" in " ".join(page.split())
    last = sorted(d["site"] for d in every["sites"])[-1]
    page = client.get("/ho/sent", params={"site": last}).text
    assert re.findall(r'<div class="delivery"><strong>(\w+)</strong>', page) == [last] and "more sites" not in page
