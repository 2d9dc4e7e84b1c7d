"""HO staff's web pages in a real browser: headless Chromium from Debian
(/usr/bin/chromium, driven through /usr/bin/chromedriver by selenium) against
a real relay process (uvicorn) on SQLite and on PostgreSQL, with journals
uploaded through the relay's API.

An admin signs in, reads every page with real data, resolves the quarantine
and checks receipts (genuine, wrong tag, unknown, garbage); a forged CSRF
token is refused; signed out, pages lead to the sign-in form; a viewer sees
no forms and is refused when posting one anyway.

With KASSA_WEB_SCREENSHOTS=DIR the SQLite run saves the main pages as PNGs
there (docs/img/ holds the ones docs/relay-web.md shows).
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

import web_data
from relay_proc import RelayProcess
from host_tools.relay import pictures, processing
from host_tools.relay.store import open_store
from till.pos.receipt import qr_payload

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-quic", "--window-size=1360,900")

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait
    _missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    _why = f"{', '.join(_missing)} missing (apt-get install chromium chromium-driver; make test does)"
except ImportError as exc:  # selenium is in the dev extra
    _missing, _why = ["selenium"], f"selenium is not installed ({exc}): make venv"

pytestmark = pytest.mark.skipif(bool(_missing), reason=f"Chromium UNAVAILABLE, browser tests NOT RUN: {_why}")


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    profile = tempfile.mkdtemp(prefix="kassa-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


class Staff:
    """One person at the browser."""

    def __init__(self, driver: WebDriver, base: str, shots: Path | None) -> None:
        self.d, self.base, self.shots = driver, base, shots

    def go(self, path: str) -> None:
        self.d.get(self.base + path)

    @property
    def path(self) -> str:
        return str(self.d.current_url).removeprefix(self.base)

    def text(self, css: str) -> str:
        return str(self.d.find_element(By.CSS_SELECTOR, css).text)

    def content(self, css: str) -> str:
        """The element's text as written, before CSS (text-transform) shows it."""
        return str(self.d.find_element(By.CSS_SELECTOR, css).get_attribute("textContent")).strip()

    def all(self, css: str) -> list[str]:
        return [str(e.text) for e in self.d.find_elements(By.CSS_SELECTOR, css)]

    def fill(self, css: str, value: str) -> None:
        field = self.d.find_element(By.CSS_SELECTOR, css)
        field.clear()
        field.send_keys(value)

    def click(self, css: str) -> None:
        """Click something that loads a page, and wait until the new one is there."""
        self.navigating(lambda: self.d.find_element(By.CSS_SELECTOR, css).click())

    def navigating(self, action: Callable[[], object]) -> None:
        old = self.d.find_element(By.TAG_NAME, "html")
        action()

        def gone(_: object) -> bool:
            # Chromium reports the old page's node as stale, or (mid-navigation)
            # as belonging to no document: both mean the new page replaced it.
            try:
                old.is_enabled()
                return False
            except WebDriverException:
                return True

        WebDriverWait(self.d, 10).until(gone)

    def click_box(self, css: str) -> None:
        """Tick a checkbox (no page load)."""
        self.d.find_element(By.CSS_SELECTOR, css).click()

    def sign_in(self, token: str) -> None:
        self.fill("#token", token)
        self.click("#signin")

    def shot(self, name: str) -> None:
        if self.shots is not None:
            height = int(self.d.execute_script("return document.documentElement.scrollHeight"))
            self.d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": 1360, "height": min(max(600, height), 1800), "deviceScaleFactor": 1, "mobile": False})
            self.d.save_screenshot(str(self.shots / f"{name}.png"))
            self.d.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


# The pages are the same on either database (the store under them is tested
# on both elsewhere), and a browser run costs 20-30 s: each of the two runs
# takes one, the staff's the demo's SQLite, the admin's PostgreSQL.
@pytest.fixture
def relay(tmp_path: Path) -> Iterator[tuple[RelayProcess, web_data.Chain]]:
    db_url = str(tmp_path / "relay.sqlite3")
    store = open_store(db_url)
    try:
        chain = web_data.provision(store)
        proc = RelayProcess(db_url, worker_interval_s=None, log=tmp_path / "relay.log").start()
        try:
            with httpx.Client(timeout=10) as client:
                web_data.upload(client, proc.url, chain, store.now())
            processing.process(store)
            yield proc, chain
        finally:
            assert proc.stop() in (0, -15)  # as in test_relay_process: uvicorn may end by the signal
    finally:
        store.close()


def test_ho_staff_work_in_a_browser(relay: tuple[RelayProcess, web_data.Chain],
                                    browser: WebDriver) -> None:
    proc, chain = relay
    shots_dir = os.environ.get("KASSA_WEB_SCREENSHOTS")
    shots = Path(shots_dir) if shots_dir else None
    me = Staff(browser, proc.url, shots)

    # Signed out, a page leads to the sign-in form, and back to it after.
    me.go("/ho/sales?site=S001")
    assert me.path == "/ho/signin?next=" + quote("/ho/sales?site=S001", safe="")
    me.shot("signin")
    me.sign_in("user.alice.not-the-secret")
    assert "not valid" in me.text("#error")
    me.sign_in(chain.site_tokens["S001"])
    assert "site's credential" in me.text("#error")
    me.sign_in(chain.admin)
    assert me.path == "/ho/sales?site=S001"
    assert me.text(".user .who") == "alice" and me.content(".user .role") == "admin"

    tills_page(me)
    received_page(me)
    sales_page(me, chain)
    receipt_checks(me, chain)
    quarantine_by_an_admin(me)

    copied = browser.get_cookie("kassa_ho")
    assert copied is not None
    me.click("#signout")
    assert me.path.startswith("/ho/signin")
    for page in ("/ho/tills", "/ho/received", "/ho/quarantine", "/ho/receipt"):
        me.go(page)
        assert me.path == "/ho/signin?next=" + quote(page, safe="")
    # The session ended at HO: the cookie as it was before signing out, put
    # back into the browser, opens nothing.
    browser.add_cookie({"name": "kassa_ho", "value": copied["value"], "path": "/ho"})
    me.go("/ho/tills")
    assert me.path == "/ho/signin?next=" + quote("/ho/tills", safe="")

    viewer_is_refused(me, chain)


def tills_page(me: Staff) -> None:
    me.go("/ho/tills")
    rows = {tr.get_attribute("data-till"): tr for tr in me.d.find_elements(By.CSS_SELECTOR, "#tills tbody tr")}
    assert set(rows) == set(web_data.TILLS)
    gap_till, gap_seq = web_data.GAP
    altered_till, altered_seq = web_data.ALTERED

    def cell(till: str, css: str) -> str:
        return str(rows[till].find_element(By.CSS_SELECTOR, css).text)

    assert cell("S001/till-1", ".processed") == str(web_data.TILLS["S001/till-1"])
    assert cell(gap_till, ".processed") == str(gap_seq - 1)
    assert cell(gap_till, ".gaps") == f"1 missing {gap_seq}"
    assert cell(gap_till, ".quarantined") == "1"
    assert cell(altered_till, ".chain") == "1"
    assert cell(altered_till, ".processed") == str(altered_seq - 1)
    # Its clock runs 600 s ahead: the offset seen is that, less the seconds the uploads took.
    offset = int(re.search(r"\+(\d+) s", rows[altered_till].text).group(1))  # type: ignore[union-attr]
    assert web_data.TILL_CLOCK_AHEAD_S - 30 < offset <= web_data.TILL_CLOCK_AHEAD_S
    # What the gateway last saw: firmware, HO data, printer, free flash, when.
    seen_till = web_data.SEEN[0]
    assert cell(seen_till, ".gateway-saw") == "0.1.0\n792 KB free, HO data v3\nprinter paper out\nseen 1 min ago"
    assert cell(gap_till, ".gateway-saw") == "never seen"
    assert me.text(".stat.bad .n") == "2"  # the rolled-back till and the broken chain
    assert "flagged" in cell(web_data.ROLLED_BACK[0], ".flag")
    assert me.d.find_elements(By.CSS_SELECTOR, "form.act")  # an admin may clear the flag
    me.shot("tills")


def received_page(me: Staff) -> None:
    me.go("/ho/received")
    first = me.all("#received tbody tr")
    assert len(first) == 50 and first[0].startswith("S001/till-1 1 PROCESSED")
    me.click("#next-page")
    second = me.all("#received tbody tr")
    assert second[0].startswith("S001/till-1 51 ")  # the page goes on where the first ended
    held = sum(web_data.TILLS.values()) - 1
    me.click("#next-page")
    third = me.all("#received tbody tr")
    assert len(first) + len(second) + len(third) == held
    assert not me.d.find_elements(By.CSS_SELECTOR, "#next-page")
    me.go("/ho/received")
    me.d.find_element(By.CSS_SELECTOR, "select[name=status] option[value=QUARANTINED]").click()
    me.click("#filter")
    rows = me.all("#received tbody tr")
    assert len(rows) == 2 and all("QUARANTINED" in r for r in rows)
    me.fill("input[name=till]", "S001/till-2")
    me.click("#filter")
    assert me.all("#received tbody tr") == [r for r in rows if r.startswith("S001/till-2")]
    me.go("/ho/received?status=QUARANTINED")
    me.shot("received")


def sales_page(me: Staff, chain: web_data.Chain) -> None:
    me.go("/ho/sales")
    bars = me.d.find_elements(By.CSS_SELECTOR, "svg.chart rect")
    assert bars, "the chart has no bars"
    rows = me.all("#sales tbody tr")
    assert {r.split()[0] for r in rows} == {"S001", "S002"}
    assert "S001" in me.text("figcaption") and "S002" in me.text("figcaption")
    me.shot("sales")
    me.go("/ho/sales?site=S002")
    assert {r.split()[0] for r in me.all("#sales tbody tr")} == {"S002"}
    me.go("/ho/sales?day_from=yesterday")
    assert "YYYY-MM-DD" in me.text(".error")


def receipt_checks(me: Staff, chain: web_data.Chain) -> None:
    till = "S001/till-1"
    seq = chain.first_sale(till)
    rec = chain.record(till, seq)
    code = qr_payload(till, seq, rec[6])
    me.go("/ho/receipt")
    me.fill("#qr", code)
    me.click("#check")
    assert me.d.find_element(By.ID, "verdict").get_attribute("data-outcome") == "match"
    paper = me.text("#paper")
    assert f"Receipt {seq}" in paper and code in paper
    me.shot("receipt-check")

    wrong = code[:-4] + ("0000" if not code.endswith("0000") else "1111")
    me.fill("#qr", wrong)
    me.click("#check")
    assert me.d.find_element(By.ID, "verdict").get_attribute("data-outcome") == "mismatch"
    assert "does not match" in me.text("#verdict") and f"Receipt {seq}" in me.text("#paper")

    me.fill("#qr", qr_payload(till, 999, rec[6]))
    me.click("#check")
    assert "has no receipt 999" in me.text("#verdict")
    me.fill("#qr", qr_payload("S009/till-1", seq, rec[6]))
    me.click("#check")
    assert "has no till S009/till-1" in me.text("#verdict")
    for garbage in ("hello", "KASSA1|S001/till-1|3", "KASSA1|../../etc|3|" + "0" * 32,
                    "KASSA1|S001/till-1|-3|" + "0" * 32, "KASSA1|S001/till-1|3|zz", "Ω" * 300):
        me.fill("#qr", garbage)
        me.click("#check")
        assert me.text("#verdict").startswith("This is not a Kassa receipt code"), garbage


def quarantine_by_an_admin(me: Staff) -> None:
    me.go("/ho/quarantine")
    # The record after the missing one waits in quarantine; the altered one itself.
    gap, altered = f"{web_data.GAP[0]}|{web_data.GAP[1] + 1}", "|".join(map(str, web_data.ALTERED))
    assert {tr.get_attribute("data-record") for tr in me.d.find_elements(By.CSS_SELECTOR, "#quarantine tbody tr")} \
        == {gap, altered}
    me.shot("quarantine")

    # Before deciding, the admin looks at HO's copy of the record.
    row = f"tr[data-record='{altered}']"
    me.click(f"{row} td.num a")
    assert "chain tag does not verify" in me.text(".facts") and "Receipt" in me.text("#paper")
    me.d.back()

    # A forged token: the form is refused and nothing changes.
    me.d.execute_script("document.querySelector(arguments[0]).value = 'forged'", f"{row} input[name=csrf]")
    me.fill(f"{row} input[name=note]", "total altered on the till")
    me.click(f"{row} button[value=reject]")
    assert "out of date" in me.text("#message")
    me.go("/ho/quarantine")
    assert len(me.all("#quarantine tbody tr")) == 2

    # A decision without a note is sent back; with one it is made.
    me.d.execute_script("document.querySelector(arguments[0]).removeAttribute('required')",
                        f"{row} input[name=note]")
    me.click(f"{row} button[value=reject]")
    assert "note" in me.text("#error")
    me.fill(f"{row} input[name=note]", "total altered on the till: evidence only")
    me.click(f"{row} button[value=reject]")
    assert "rejected" in me.text("#done")
    row = f"tr[data-record='{gap}']"
    me.fill(f"{row} input[name=note]", "record 9 lost with the old flash")
    me.click(f"{row} button[value=accept]")
    assert "accepted" in me.text("#done")
    assert not me.d.find_elements(By.CSS_SELECTOR, "#quarantine tbody tr")
    decisions = me.all("#decisions tbody tr")
    assert "alice accept S001/till-2 10" in decisions[0] and "alice reject S002/till-1 12" in decisions[1]


def viewer_is_refused(me: Staff, chain: web_data.Chain) -> None:
    me.go("/ho/signin")
    me.sign_in(chain.viewer)
    me.go("/ho/quarantine")
    assert me.content(".user .role") == "viewer"
    me.go("/ho/tills")
    assert not me.d.find_elements(By.CSS_SELECTOR, "form.act")
    # A form built by hand, with the viewer's own valid CSRF token: refused.
    me.navigating(lambda: me.d.execute_script(
        "const f = document.createElement('form'); f.method = 'post';"
        "f.action = '/ho/tills/S001/till-1/clear-flag';"
        "for (const [k, v] of [['csrf', document.querySelector('input[name=csrf]').value], ['note', 'x']]) {"
        "  const i = document.createElement('input'); i.name = k; i.value = v; f.appendChild(i); }"
        "document.body.appendChild(f); f.submit();"))
    assert "viewer" in me.text("#message") and "needs an admin" in me.text("#message")


@pytest.fixture
def publishing_relay(pg_url: str, tmp_path: Path) -> Iterator[tuple[RelayProcess, str]]:
    import publishing

    store = open_store(pg_url)
    try:
        publishing.register(store)
        token = store.add_user("alice", "admin")
        for name, site in (("front-shelf", "S001"), ("counter", "S002")):
            master = tmp_path / name
            master.mkdir()
            for n in range(3):
                (master / f"plu-{n}.jpg").write_bytes(f"{name} {n}".encode())
            pictures.add_pair(store, name, master, site)
        proc = RelayProcess(pg_url, worker_interval_s=None, log=tmp_path / "relay.log").start()
        try:
            yield proc, token
        finally:
            assert proc.stop() in (0, -15)
    finally:
        store.close()


def test_an_admin_publishes_in_a_browser(publishing_relay: tuple[RelayProcess, str], browser: WebDriver,
                                         tmp_path: Path) -> None:
    import publishing

    proc, token = publishing_relay
    shots_dir = os.environ.get("KASSA_WEB_SCREENSHOTS")
    me = Staff(browser, proc.url, Path(shots_dir) if shots_dir else None)
    me.go("/ho/sync")
    me.sign_in(token)
    assert me.path == "/ho/sync"
    for version, sites in ((1, ("S001", "S003")), (2, ())):
        me.go("/ho/sync")
        package = tmp_path / f"snap-{version}.pkg"
        package.write_bytes(publishing.full(tmp_path, version))
        me.d.find_element(By.ID, "file").send_keys(str(package))
        for site in sites:
            me.click_box(f"#site-{site}")
        me.click("#sync-selected" if sites else "#sync-all")
        assert me.path.startswith("/ho/sent?published=")
        assert f"Published as message {version}" in me.text("#done")
    rows = me.all("#sent tbody tr")
    assert len(rows) == 2 and "SUPERSEDED" in rows[1] and "S002" not in rows[1]
    me.shot("sent")
    me.go("/ho/sync")
    assert "version 2" in me.text("#latest")
    me.shot("sync")
    me.go("/ho/pictures")
    me.click("#run-all")
    assert "Ran counter, front-shelf" in me.text("#done")
    assert all(r.endswith("\n3 0 0 0 0 Run") for r in me.all("#pairs tbody tr"))  # copied 3, nothing else
    me.shot("pictures")
