"""HO staff's web pages over plain HTTP (TestClient), on SQLite and
PostgreSQL: sessions, CSRF, roles, and every error path a person can reach
by typing into a form or a URL (never a 500). The same pages in a real
browser: test_web_browser.py."""
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import web_data
from host_tools.relay import processing
from host_tools.relay.app import create_app
from host_tools.relay.config import RelayConfig
from host_tools.relay.store import Store
from host_tools.relay.web import chart, receipt_check
from till.pos.receipt import qr_payload

SESSION_S = 3600
PAGES = ("/ho/tills", "/ho/received", "/ho/sales", "/ho/quarantine", "/ho/receipt")


@pytest.fixture
def setup(store: Store) -> tuple[Store, web_data.Chain]:
    chain = web_data.provision(store)
    with TestClient(app_for(store)) as client:
        web_data.upload(client, "", chain, store.now())
    processing.process(store)
    return store, chain


def app_for(store: Store, key: bytes = b"k" * 32) -> Any:
    return create_app(RelayConfig("unused", worker_interval_s=None, session_key=key, session_s=SESSION_S), store)


@pytest.fixture
def client(setup: tuple[Store, web_data.Chain]) -> Iterator[TestClient]:
    with TestClient(app_for(setup[0]), follow_redirects=False) as c:
        yield c


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def sign_in(client: TestClient, token: str, next_path: str = "/ho/tills") -> Any:
    page = client.get("/ho/signin")
    return client.post("/ho/signin", data={"token": token, "csrf": csrf_of(page.text), "next": next_path})


def signed_in(client: TestClient, token: str) -> str:
    """Sign in; the session's CSRF token."""
    assert sign_in(client, token).status_code == 303
    return csrf_of(client.get("/ho/tills").text)


def quarantined(store: Store) -> set[tuple[str, int]]:
    return {(r["till"], r["seq"]) for r in store.quarantine()}


GAP_RECORD = (web_data.GAP[0], web_data.GAP[1] + 1)


def resolve_url(till_seq: tuple[str, int]) -> str:
    return f"/ho/quarantine/{till_seq[0]}/{till_seq[1]}"


# -- sessions ----------------------------------------------------------------

def test_signed_out_pages_lead_to_the_sign_in_form(client: TestClient) -> None:
    for page in PAGES:
        r = client.get(page + "?till=S001/till-1")
        assert r.status_code == 303
        assert r.headers["location"] == "/ho/signin?next=" + page.replace("/", "%2F") + "%3Ftill%3DS001%2Ftill-1"
    assert client.get("/ho/").headers["location"] == "/ho/tills"
    assert client.post(resolve_url(GAP_RECORD), data={"action": "accept", "note": "x"}).status_code == 303


def test_sign_in_sets_a_strict_http_only_cookie_without_the_token(client: TestClient,
                                                                  setup: tuple[Store, web_data.Chain]) -> None:
    chain = setup[1]
    r = sign_in(client, chain.admin, "/ho/sales?site=S001")
    assert r.status_code == 303 and r.headers["location"] == "/ho/sales?site=S001"
    cookie = r.headers["set-cookie"]
    for attribute in ("HttpOnly", "SameSite=strict", "Path=/ho", f"Max-Age={SESSION_S}"):
        assert attribute in cookie
    secret = chain.admin.split(".", 2)[2]
    assert secret not in cookie
    page = client.get("/ho/tills")
    assert page.status_code == 200 and "alice" in page.text
    assert client.get("/ho/signin?next=/ho/sales").headers["location"] == "/ho/sales"  # signed in already
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert "Secure" not in cookie  # plain HTTP here; over HTTPS the cookie is Secure:
    with TestClient(app_for(setup[0]), base_url="https://testserver", follow_redirects=False) as tls:
        assert "Secure" in sign_in(tls, chain.admin).headers["set-cookie"]


def test_a_wrong_token_is_refused_in_words(client: TestClient) -> None:
    for token in ("", "user.alice.wrong", "nonsense", "user.nobody.x", "user.\x00.x", "site", "user..x",
                  "user.alice.Ω"):
        r = sign_in(client, token)
        assert r.status_code == 401 and "not valid" in r.text, repr(token)
    assert client.get("/ho/tills").status_code == 303


def test_a_site_credential_does_not_open_the_pages(client: TestClient, setup: tuple[Store, web_data.Chain]) -> None:
    r = sign_in(client, setup[1].site_tokens["S001"])
    assert r.status_code == 403 and "credential, for its gateway" in r.text
    assert client.get("/ho/tills").status_code == 303


def test_sign_in_needs_the_forms_csrf_token(client: TestClient, setup: tuple[Store, web_data.Chain]) -> None:
    r = client.post("/ho/signin", data={"token": setup[1].admin, "csrf": "x"})
    assert r.status_code == 403 and "no session cookie" in r.text
    client.get("/ho/signin")
    r = client.post("/ho/signin", data={"token": setup[1].admin, "csrf": "forged"})
    assert r.status_code == 403 and "out of date" in r.text
    assert client.get("/ho/tills").status_code == 303


def test_a_form_that_is_not_one_of_ours_is_not_read(client: TestClient, setup: tuple[Store, web_data.Chain]) -> None:
    csrf = signed_in(client, setup[1].admin)
    big = {"csrf": csrf, "action": "accept", "note": "x" * 20_000}
    r = client.post(resolve_url(GAP_RECORD), data=big)
    assert r.status_code == 413 and "shorten the note" in r.text
    r = client.post("/ho/signin", data={"token": "x" * 20_000})
    assert r.status_code == 413

    def chunks() -> Iterator[bytes]:
        yield f"csrf={csrf}&action=accept&note=ok".encode()

    r = client.post(resolve_url(GAP_RECORD), content=chunks(),
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 411
    r = client.post(resolve_url(GAP_RECORD), data={"csrf": csrf}, files={"note": ("a.txt", b"x")})
    assert r.status_code == 400
    assert GAP_RECORD in quarantined(setup[0])


def test_sign_in_never_sends_you_to_another_site(client: TestClient, setup: tuple[Store, web_data.Chain]) -> None:
    for next_path in ("//evil.example/", "https://evil.example/", "/\\evil.example", "tills"):
        client.cookies.clear()
        assert sign_in(client, setup[1].viewer, next_path).headers["location"] == "/ho/tills", next_path
        client.cookies.clear()
        assert client.get("/ho/signin", params={"next": next_path}).status_code == 200


def test_a_session_expires(client: TestClient, setup: tuple[Store, web_data.Chain], clock: Any) -> None:
    # clock: conftest's settable clock, which the store (and so the session's expiry) reads
    signed_in(client, setup[1].viewer)
    clock.t += SESSION_S - 1
    assert client.get("/ho/tills").status_code == 200
    clock.t += 1
    assert client.get("/ho/tills").status_code == 303


def test_a_tampered_or_foreign_cookie_is_no_session(setup: tuple[Store, web_data.Chain]) -> None:
    store, chain = setup
    with TestClient(app_for(store, key=b"a" * 32), follow_redirects=False) as a, \
            TestClient(app_for(store, key=b"b" * 32), follow_redirects=False) as b:
        signed_in(a, chain.admin)
        value = a.cookies["kassa_ho"]
        b.cookies.set("kassa_ho", value, path="/ho")
        assert b.get("/ho/tills").status_code == 303  # signed with another relay's key
        with TestClient(app_for(store, key=b"a" * 32), follow_redirects=False) as a2:
            a2.cookies.set("kassa_ho", value, path="/ho")
            assert a2.get("/ho/tills").status_code == 200  # another relay with the same key file
        payload, signature = value.rsplit(".", 1)
        a.cookies.clear()
        a.cookies.set("kassa_ho", payload[:-2] + "xx." + signature, path="/ho")
        assert a.get("/ho/tills").status_code == 303


def test_a_session_ends_when_its_user_changes(client: TestClient, setup: tuple[Store, web_data.Chain]) -> None:
    store, chain = setup
    csrf = signed_in(client, chain.admin)
    with store.transaction() as tx:  # as if alice were demoted: the next request sees it
        tx.execute("UPDATE users SET role = 'viewer' WHERE name = 'alice'")
    r = client.post(resolve_url(GAP_RECORD), data={"csrf": csrf, "action": "accept", "note": "x"})
    assert r.status_code == 403 and "viewer" in r.text
    with store.transaction() as tx:  # as if alice's token were replaced
        tx.execute("UPDATE users SET secret_sha256 = 'another' WHERE name = 'alice'")
    assert client.get("/ho/tills").status_code == 303


def test_sign_out_ends_the_session(client: TestClient, setup: tuple[Store, web_data.Chain]) -> None:
    csrf = signed_in(client, setup[1].admin)
    assert client.post("/ho/signout", data={"csrf": "forged"}).status_code == 403
    r = client.post("/ho/signout", data={"csrf": csrf})
    assert r.status_code == 303 and r.headers["location"] == "/ho/signin"
    assert 'kassa_ho=""' in r.headers["set-cookie"] or "Max-Age=0" in r.headers["set-cookie"]
    for page in PAGES:
        assert client.get(page).status_code == 303


def test_a_cookie_copied_before_sign_out_no_longer_works(setup: tuple[Store, web_data.Chain]) -> None:
    """The session lives in the database: signing out ends it for every copy
    of the cookie, in any relay process with the same key."""
    store, chain = setup
    with TestClient(app_for(store), follow_redirects=False) as mine, \
            TestClient(app_for(store), follow_redirects=False) as thief:
        csrf = signed_in(mine, chain.admin)
        thief.cookies.set("kassa_ho", mine.cookies["kassa_ho"], path="/ho")
        assert thief.get("/ho/tills").status_code == 200  # the copy works while the session lives
        assert mine.post("/ho/signout", data={"csrf": csrf}).status_code == 303
        for page in PAGES:
            assert thief.get(page).status_code == 303, page
        assert thief.post("/ho/tills/S001/till-1/clear-flag", data={"csrf": csrf, "note": "x"}).status_code == 303
    with store.transaction(write=False) as tx:
        assert tx.one("SELECT COUNT(*) FROM web_sessions") == (0,)


def test_an_admin_signs_everyone_out_and_a_viewer_may_not(setup: tuple[Store, web_data.Chain]) -> None:
    store, chain = setup
    with TestClient(app_for(store), follow_redirects=False) as admin, \
            TestClient(app_for(store), follow_redirects=False) as viewer, \
            TestClient(app_for(store), follow_redirects=False) as admin_elsewhere:
        admin_csrf = signed_in(admin, chain.admin)
        viewer_csrf = signed_in(viewer, chain.viewer)
        signed_in(admin_elsewhere, chain.admin)
        assert 'id="signout-everywhere"' in admin.get("/ho/tills").text
        assert 'id="signout-everywhere"' not in viewer.get("/ho/tills").text
        r = viewer.post("/ho/signout-everywhere", data={"csrf": viewer_csrf})
        assert r.status_code == 403 and "needs an admin" in r.text
        assert admin.post("/ho/signout-everywhere", data={"csrf": "forged"}).status_code == 403
        assert admin_elsewhere.get("/ho/tills").status_code == 200  # nothing ended yet
        r = admin.post("/ho/signout-everywhere", data={"csrf": admin_csrf})
        assert r.status_code == 303 and r.headers["location"] == "/ho/signin"
        for client in (admin, viewer, admin_elsewhere):
            assert client.get("/ho/tills").status_code == 303
        signed_in(viewer, chain.viewer)  # signing in again works
    entry = store.ho_journal()[-1]
    assert (entry["actor"], entry["action"]) == ("alice", "sign-out-everywhere")
    assert "3 web session(s) of every HO user" in entry["note"]


def test_expired_sessions_end_and_are_cleared_at_the_next_sign_in(
        setup: tuple[Store, web_data.Chain], clock: Any) -> None:
    store, chain = setup
    with TestClient(app_for(store), follow_redirects=False) as old, \
            TestClient(app_for(store), follow_redirects=False) as new:
        signed_in(old, chain.viewer)
        clock.t += SESSION_S
        assert old.get("/ho/tills").status_code == 303
        signed_in(new, chain.admin)
    with store.transaction(write=False) as tx:
        assert tx.one("SELECT COUNT(*) FROM web_sessions") == (1,)  # only the new one is kept


# -- acting: CSRF and roles --------------------------------------------------

def test_a_post_without_the_sessions_csrf_token_changes_nothing(client: TestClient,
                                                                setup: tuple[Store, web_data.Chain]) -> None:
    store, chain = setup
    before = quarantined(store)
    with TestClient(app_for(store), follow_redirects=False) as other:
        others_csrf = signed_in(other, chain.admin)
    signed_in(client, chain.admin)
    for csrf in (None, "", "forged", "Ω" * 64, others_csrf):
        data = {"action": "accept", "note": "looks fine"} | ({} if csrf is None else {"csrf": csrf})
        r = client.post(resolve_url(GAP_RECORD), data=data)
        assert r.status_code == 403 and "reload the page" in r.text
        r = client.post("/ho/tills/S001/till-1/clear-flag", data={"note": "ok"} | ({"csrf": csrf} if csrf else {}))
        assert r.status_code == 403
    assert quarantined(store) == before
    assert any(t["flag"] for t in store.tills())


def test_a_viewer_reads_but_may_not_act(client: TestClient, setup: tuple[Store, web_data.Chain]) -> None:
    store, chain = setup
    csrf = signed_in(client, chain.viewer)
    for page in PAGES:
        r = client.get(page)
        assert r.status_code == 200 and 'class="act"' not in r.text
    r = client.get("/ho/quarantine?till=nope")
    assert r.status_code == 422 and "SITE/TILL" in r.text
    r = client.post(resolve_url(GAP_RECORD), data={"csrf": csrf, "action": "accept", "note": "fine"})
    assert r.status_code == 403 and "viewer" in r.text and "needs an admin" in r.text
    r = client.post("/ho/tills/S001/till-1/clear-flag", data={"csrf": csrf, "note": "fine"})
    assert r.status_code == 403
    assert GAP_RECORD in quarantined(store) and any(t["flag"] for t in store.tills())


def test_an_admin_resolves_quarantine_with_a_note(client: TestClient, setup: tuple[Store, web_data.Chain]) -> None:
    store, chain = setup
    csrf = signed_in(client, chain.admin)
    assert f'action="{resolve_url(GAP_RECORD)}"' in client.get("/ho/quarantine").text
    cases = [(resolve_url(GAP_RECORD), {"action": "accept", "note": "  "}, 422, "note"),
             (resolve_url(GAP_RECORD), {"action": "burn", "note": "x"}, 422, "Accept or Reject"),
             (resolve_url(GAP_RECORD), {"note": "x"}, 422, "Accept or Reject"),
             ("/ho/quarantine/S001/till-1/999", {"action": "accept", "note": "x"}, 409, "not quarantined"),
             ("/ho/quarantine/S001/till-1/5", {"action": "accept", "note": "x"}, 409, "it is PROCESSED"),
             ("/ho/quarantine/S001/till-9/5", {"action": "accept", "note": "x"}, 409, "no till"),
             ("/ho/quarantine/S0 1/till-1/5", {"action": "accept", "note": "x"}, 404, "not valid"),
             ("/ho/quarantine/S001/till-1/abc", {"action": "accept", "note": "x"}, 404, "no record"),
             ("/ho/quarantine/S001/till-1/" + "9" * 30, {"action": "accept", "note": "x"}, 404, "no record")]
    for url, data, status, words in cases:
        r = client.post(url, data={"csrf": csrf, **data})
        assert (r.status_code, words in r.text) == (status, True), (url, data, r.text[-500:])
    assert GAP_RECORD in quarantined(store)
    r = client.post(resolve_url(GAP_RECORD), data={"csrf": csrf, "action": "accept", "note": "record 9 lost"})
    assert r.status_code == 303
    page = client.get(r.headers["location"])
    assert f"Record {GAP_RECORD[1]} of {GAP_RECORD[0]} is accepted" in page.text
    assert "record 9 lost" in page.text  # the recent decisions
    altered = web_data.ALTERED
    r = client.post(resolve_url(altered), data={"csrf": csrf, "action": "reject", "note": "altered"})
    assert r.status_code == 303
    assert quarantined(store) == set()
    held = {(r["till"], r["seq"]): r["status"] for r in store.received(limit=1000)}
    assert held[GAP_RECORD] == "PROCESSED" and held[altered] == "REJECTED"
    assert [j["action"] for j in store.ho_journal()] == ["accept", "reject"]


def test_an_admin_clears_a_flag_with_a_note(client: TestClient, setup: tuple[Store, web_data.Chain]) -> None:
    store, chain = setup
    csrf = signed_in(client, chain.admin)
    till = web_data.ROLLED_BACK[0]
    assert client.post(f"/ho/tills/{till}/clear-flag", data={"csrf": csrf, "note": ""}).status_code == 422
    assert client.post("/ho/tills/S0%201/x/clear-flag", data={"csrf": csrf, "note": "x"}).status_code == 404
    r = client.post("/ho/tills/S001/till-2/clear-flag", data={"csrf": csrf, "note": "x"})
    assert r.status_code == 409 and "not flagged" in r.text
    r = client.post(f"/ho/tills/{till}/clear-flag", data={"csrf": csrf, "note": "flash replaced, checked"})
    assert r.status_code == 303
    assert f"The flag on {till} is cleared" in client.get(r.headers["location"]).text
    assert not any(t["flag"] for t in store.tills())


# -- reading: filters, paging, receipt check -----------------------------------

def test_tills_page_shows_each_tills_health(client: TestClient, setup: tuple[Store, web_data.Chain]) -> None:
    signed_in(client, setup[1].viewer)
    text = client.get("/ho/tills").text
    assert text.count('<tr class="level-') == len(web_data.TILLS)
    assert "1 missing" in text and "+600 s" in text and "rolled back" in text
    assert client.get("/ho/tills?cleared=<script>").status_code == 200


def test_received_pages_cover_every_record_once(client: TestClient, setup: tuple[Store, web_data.Chain]) -> None:
    store = setup[0]
    signed_in(client, setup[1].viewer)
    seen: list[tuple[str, int]] = []
    url: str | None = "/ho/received"
    while url:
        text = client.get(url).text
        seen += [(t, int(s)) for t, s in re.findall(r'<tr>\s*<td>([^<]+)</td><td class="num"><a [^>]+>(\d+)</a>', text)]
        found = re.search(r'href="([^"]+)" id="next-page"', text)
        url = found.group(1).replace("&amp;", "&") if found else None
    assert seen == [(r["till"], r["seq"]) for r in store.received(limit=10_000)]
    text = client.get("/ho/received?status=QUARANTINED&till=S001/till-2").text
    assert re.findall(r'<td class="num"><a [^>]+>(\d+)</a>', text) == [str(GAP_RECORD[1])]


def test_received_filters_refuse_nonsense_in_words(client: TestClient, setup: tuple[Store, web_data.Chain]) -> None:
    signed_in(client, setup[1].viewer)
    for query, words in [
            ("status=LOST", "is not one of"), ("till=S001", "SITE/TILL"), ("till=%00", "not valid"),
            ("after=S001/till-1:x", "page link is damaged"), ("after=nonsense", "page link is damaged"),
            ("after=S001/till-1:" + "9" * 40, "page link is damaged")]:
        r = client.get("/ho/received?" + query)
        assert r.status_code == 422 and words in r.text, query


def test_sales_page_filters_and_refuses_bad_dates(client: TestClient, setup: tuple[Store, web_data.Chain]) -> None:
    store = setup[0]
    signed_in(client, setup[1].viewer)
    text = client.get("/ho/sales?site=S002").text
    assert "<svg" in text and text.count("<rect x=") == len([r for r in store.sales("S002") if r["sales_total"] > 0])
    assert '<th class="num">Cash in</th><th class="num">Cash out</th>' in text
    day = store.sales()[0]["day"]
    text = client.get(f"/ho/sales?day_from={day}&day_to={day}").text
    assert len(re.findall(r"<td>\d{4}-\d\d-\d\d</td>", text)) == len(store.sales(None, day, day))
    for query in ("day_from=yesterday", "day_to=2026-13-01", "site=../x", "day_from=%00"):
        r = client.get("/ho/sales?" + query)
        assert r.status_code == 422 and 'class="notice bad error"' in r.text, query
    assert "No processed sales match" in client.get("/ho/sales?site=S777").text


def test_receipt_check_genuine_altered_and_unknown(client: TestClient, setup: tuple[Store, web_data.Chain]) -> None:
    chain = setup[1]
    signed_in(client, chain.viewer)
    till = "S001/till-1"
    seq = chain.first_sale(till)
    tag = chain.record(till, seq)[6]
    r = client.get("/ho/receipt", params={"qr": qr_payload(till, seq, tag)})
    assert r.status_code == 200 and 'data-outcome="match"' in r.text and f"Receipt {seq}" in r.text
    r = client.get("/ho/receipt", params={"qr": f" KASSA1|{till}|{seq}|{tag.hex().upper()}\n"})
    assert r.status_code == 200 and 'data-outcome="match"' in r.text  # a scanner's case and line end
    r = client.get("/ho/receipt", params={"qr": qr_payload(till, seq, bytes(16))})
    assert r.status_code == 409 and "does not match" in r.text and f"Receipt {seq}" in r.text
    r = client.get("/ho/receipt", params={"qr": qr_payload(till, 10_000, tag)})
    assert r.status_code == 404 and "has no receipt 10000" in r.text
    r = client.get("/ho/receipt", params={"qr": qr_payload("S001/till-7", seq, tag)})
    assert r.status_code == 404 and "has no till S001/till-7" in r.text
    # The altered record: HO's copy does not verify, but the paper's tag is HO's: it is what HO holds.
    altered_till, altered_seq = web_data.ALTERED
    r = client.get("/ho/receipt", params={"qr": qr_payload(altered_till, altered_seq,
                                                           chain.record(altered_till, altered_seq)[6])})
    assert r.status_code == 200 and "QUARANTINED" in r.text


def test_record_page_shows_hos_copy(client: TestClient, setup: tuple[Store, web_data.Chain]) -> None:
    chain = setup[1]
    signed_in(client, chain.viewer)
    till, seq = web_data.ALTERED
    r = client.get(f"/ho/record/{till}/{seq}")
    assert r.status_code == 200 and "QUARANTINED" in r.text and "chain tag does not verify" in r.text
    assert chain.record(till, seq)[6].hex() in r.text and "decide in Quarantine" in r.text
    sale = chain.first_sale("S001/till-1")
    r = client.get(f"/ho/record/S001/till-1/{sale}")
    assert r.status_code == 200 and f"Receipt {sale}" in r.text and "PROCESSED" in r.text
    for url in ("/ho/record/S001/till-1/999", "/ho/record/S001/till-1/x", "/ho/record/S001/till-1/" + "9" * 30,
                "/ho/record/S001/till-9/1", "/ho/record/S%00/till-1/1"):
        r = client.get(url)
        assert r.status_code == 404 and 'id="message"' in r.text, url


GARBAGE = ["", " ", "hello", "KASSA1", "KASSA1|", "KASSA1|||", "KASSA2|S001/till-1|1|" + "0" * 32,
           "KASSA1|S001/till-1|1|" + "0" * 32 + "|extra", "KASSA1|S001|1|" + "0" * 32,
           "KASSA1|S001/till-1|0|" + "0" * 32, "KASSA1|S001/till-1|-1|" + "0" * 32,
           "KASSA1|S001/till-1|" + "9" * 30 + "|" + "0" * 32, "KASSA1|S001/till-1|١٢|" + "0" * 32,
           "KASSA1|S001/till-1|1|" + "g" * 32, "KASSA1|S001/till-1|1|" + "0" * 31, "KASSA1|S001/\x00|1|00",
           "KASSA1|S001/till-1\x00|1|" + "0" * 32, "KASSA1|<script>/x|1|" + "0" * 32, "Ω" * 5000,
           "KASSA1|S001/till-1|1|" + "0" * 32 + "\n"]


def test_receipt_check_answers_any_text_in_words(client: TestClient, setup: tuple[Store, web_data.Chain]) -> None:
    signed_in(client, setup[1].viewer)
    for text in GARBAGE:
        r = client.get("/ho/receipt", params={"qr": text})
        assert r.status_code in (200, 404, 409, 422), repr(text)
        if text.strip():
            assert 'id="verdict"' in r.text, repr(text)
        assert "<script>" not in r.text


def test_receipt_code_parser() -> None:
    code = receipt_check.parse("  KASSA1|S001/till-1|42|" + "AB" * 16 + "\r\n")
    assert code == receipt_check.Code("S001/till-1", 42, "ab" * 16)
    assert receipt_check.parse(qr_payload("S1/t", 7, bytes(range(16)))).tag_hex == bytes(range(16)).hex()
    for text in GARBAGE:
        if text.strip() and not text.startswith("KASSA1|S001/till-1|1|" + "0" * 32 + "\n"):
            with pytest.raises(receipt_check.NotAReceiptCode):
                receipt_check.parse(text)


def test_the_pages_are_not_in_the_api_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert paths and not [p for p in paths if p.startswith("/ho")]


# -- the chart ---------------------------------------------------------------

def test_nice_axis_steps() -> None:
    assert [chart.nice_step(n) for n in (0, 1, 4, 5, 9, 40, 41, 180_000, 780_987)] == \
        [1, 1, 1, 2, 5, 10, 20, 50_000, 200_000]


def test_bars_stack_per_day_in_proportion() -> None:
    values = {("S1", "d1"): 300, ("S2", "d1"): 100, ("S1", "d2"): 200, ("S2", "d3"): -50}
    bars, step = chart.layout(["d1", "d2", "d3"], ["S1", "S2"], values)
    assert step == 100
    by = {(b.series, b.day): b for b in bars}
    assert set(by) == {("S1", "d1"), ("S2", "d1"), ("S1", "d2")}  # nothing drawn below zero
    assert by[("S1", "d1")].height == pytest.approx(3 * by[("S2", "d1")].height, abs=0.2)
    assert by[("S1", "d1")].height == pytest.approx(1.5 * by[("S1", "d2")].height, abs=0.2)
    assert by[("S2", "d1")].y + by[("S2", "d1")].height == pytest.approx(by[("S1", "d1")].y, abs=0.2)
    svg = chart.svg(["d1"], ["<b>"], {("<b>", "d1"): 5}, str, "t & t")
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "t &amp; t" in svg


def test_relays_behind_one_address_share_a_session_key_file(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    from host_tools.cli import build_parser, main
    from host_tools.cli.relay import config_from

    key = tmp_path / "session.key"
    key.write_bytes(bytes(range(32)))
    args = build_parser().parse_args(["relay", "serve", "--db", str(tmp_path / "r.db"),
                                      "--session-key-file", str(key)])
    assert config_from(args).session_key == bytes(range(32))
    key.write_bytes(b"short")
    assert main(["relay", "serve", "--db", str(tmp_path / "r.db"), "--session-key-file", str(key)]) == 2
    assert "holds 5 bytes; a session key needs at least 32" in capsys.readouterr().err
    assert main(["relay", "serve", "--db", str(tmp_path / "r.db"),
                 "--session-key-file", str(tmp_path / "missing")]) == 2
    assert "No such file" in capsys.readouterr().err


def test_the_tills_page_is_paged_by_till_id_and_filtered_by_site(setup: tuple[Store, web_data.Chain],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from host_tools.relay.web import tills as tills_module

    store, chain = setup
    every = [t["till"] for t in store.tills()]
    assert len(every) >= 3
    monkeypatch.setattr(tills_module, "PAGE_ROWS", 2)
    with TestClient(app_for(store), follow_redirects=False) as client:
        signed_in(client, chain.viewer)
        seen, url, pages = [], "/ho/tills", 0
        while url:
            page = client.get(url)
            assert page.status_code == 200
            shown = re.findall(r'<tr class="level-\w+" data-till="([^"]+)"', page.text)
            assert 1 <= len(shown) <= 2
            assert f'id="till-total">{len(every)}<' in page.text
            seen += shown
            pages += 1
            found = re.search(r'href="([^"]+)" id="next-page"', page.text)
            url = found.group(1).replace("&amp;", "&") if found else ""
            assert pages == 1 or 'id="first-page"' in page.text
        assert seen == every and pages == (len(every) + 1) // 2
        site = every[0].split("/")[0]
        page = client.get("/ho/tills", params={"site": site})
        assert set(re.findall(r'data-till="([^"]+)"', page.text)) <= {t for t in every if t.startswith(site + "/")}
        for bad in ({"site": "no such/site"}, {"after": "not a till"}):
            page = client.get("/ho/tills", params=bad)
            assert page.status_code == 422 and 'class="notice bad error"' in page.text


def test_the_api_pages_tills_too(setup: tuple[Store, web_data.Chain]) -> None:
    store, chain = setup
    every = [t["till"] for t in store.tills()]
    with TestClient(app_for(store)) as client:
        headers = {"Authorization": f"Bearer {chain.viewer}"}
        first = client.get("/v1/ho/tills", params={"limit": 2}, headers=headers).json()
        rest = client.get("/v1/ho/tills", params={"after": first[-1]["till"]}, headers=headers).json()
        assert [t["till"] for t in first + rest] == every
        assert client.get("/v1/ho/tills", params={"after": "x"}, headers=headers).status_code == 422


def test_the_tills_page_shows_records_declared_lost_until_they_arrive(client: TestClient,
                                                                       setup: tuple[Store, web_data.Chain]) -> None:
    from journals import batch

    store, chain = setup
    till, seq = web_data.GAP
    csrf = signed_in(client, chain.admin)
    r = client.post(resolve_url(GAP_RECORD), data={"csrf": csrf, "action": "accept", "note": "lost"})
    assert r.status_code == 303
    processing.process(store)

    def loss_text() -> str:
        row = re.search(rf'<tr class="level-\w+" data-till="{till}">(.*?)</tr>', client.get("/ho/tills").text, re.S)
        assert row
        found = re.search(r'<div class="small loss (\w+)">(.*?)</div>', row.group(1), re.S)
        assert found
        return found.group(1) + ": " + " ".join(re.sub(r"<[^>]+>", " ", found.group(2)).split())

    assert loss_text().startswith(f"open: {seq}–{seq} declared lost by alice") and "not arrived" in loss_text()
    site, name = till.split("/")
    raw = dict(chain.journals[till])[seq]
    r = client.post(f"/v1/sites/{site}/tills/{name}/records", content=batch([(seq, raw)]),
                    headers={"Authorization": f"Bearer {chain.site_tokens[site]}",
                             "Content-Type": "application/cbor-seq"})
    assert r.status_code == 200, r.text
    assert processing.process(store).processed == 1
    text = loss_text()
    assert text.startswith("resolved: ") and "arrived" in text and f"the chain joins record {seq + 1}" in text


def test_the_quarantine_page_is_paged_and_reads_only_the_newest_decisions(
        setup: tuple[Store, web_data.Chain], monkeypatch: pytest.MonkeyPatch, clock: Any) -> None:
    from host_tools.relay.web import quarantine as quarantine_module

    store, chain = setup
    every = sorted(quarantined(store))
    assert len(every) >= 2
    monkeypatch.setattr(quarantine_module, "PAGE_ROWS", 1)
    monkeypatch.setattr(quarantine_module, "RECENT_DECISIONS", 2)
    for n in range(4):  # decisions in HO's journal, a second apart
        clock.t += 1
        with store.transaction() as tx:
            store.log(tx, "alice", "clear-flag", "S001/till-1", None, f"decision {n}")
    with TestClient(app_for(store), follow_redirects=False) as client:
        signed_in(client, chain.viewer)
        seen, url = [], "/ho/quarantine"
        while url:
            page = client.get(url)
            assert page.status_code == 200
            seen += [(t, int(s)) for t, s in re.findall(r'data-record="([^"|]+)\|(\d+)"', page.text)]
            assert re.findall(r"decision (\d)", page.text) == ["3", "2"]  # the newest two, newest first
            found = re.search(r'href="([^"]+)" id="next-page"', page.text)
            url = found.group(1).replace("&amp;", "&") if found else ""
        assert seen == every
        assert client.get("/ho/quarantine", params={"after": "broken"}).status_code == 422
    assert [d["note"] for d in store.ho_journal(("clear-flag",), newest=3)] == [
        "decision 1", "decision 2", "decision 3"]
    assert len(store.ho_journal()) == 4
