"""One gateway run: each till synced in its own thread, step by step, each
step's status kept in the outbox (Not started / In progress / Success /
Failed, with the reason), as the mustering app shows them per direction.

  up    hello, set the till's clock, read the records after what the outbox
        holds (first contact: everything the till has not had PROCESSED, a
        full sync; later: the delta), check them, commit them to the outbox,
        tell HO what the hello said (firmware, clock offset, free flash), then
        upload everything the relay has not acknowledged, in batches.
  acks  read HO's PROCESSED point from the relay and pass it to the till,
        which frees its flash; UPLOADED is never passed on (HO holds the
        record but has not processed it).
  down  what HO published for the till (snapshots, deltas, logos), oldest
        first, offered to the till and acknowledged to the relay only once
        the till has answered (downloads.till_down).

Beside the tills, the site's own `down` step (shown as till "(site)",
downloads.site_down) reads what is pending for the site, downloads the blobs
the tills of this run need and applies pictures updates to the site's folder.

A step that may succeed later (the relay or the link is down) is retried with
backoff within the run; what was not done stays in the outbox for the next
run. A till's failure, expected or not, ends only that till's steps.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from host_tools.gateway.backoff import retry
from host_tools.gateway.config import GatewayConfig, TillConfig
from host_tools.gateway import downloads
from host_tools.gateway.downloads import BlobCache
from host_tools.gateway.outbox import (ACKS, DOWN, FAILED, IN_PROGRESS, NOT_STARTED, SITE_ROW, SUCCESS, UP,
                                       Outbox, OutboxError, Outcome)
from host_tools.gateway.records import check_records
from host_tools.gateway.relay_client import Message, RelayClient, RelayRefused, RelayUnreachable
from host_tools.gateway.tillport import Hello, LinkError, TillPort
from host_tools.relay import ids

log = logging.getLogger("kassa.gateway")
T = TypeVar("T")
OpenTill = Callable[[str], TillPort]


class Events:
    """What a person sees while a run goes: the CLI shows it, tests record it."""

    def step(self, till: str, direction: str, status: str, reason: str) -> None:
        pass

    def progress(self, till: str, what: str, done: int, total: int) -> None:
        pass

    def note(self, till: str, text: str) -> None:
        pass


class Stopped(Exception):
    """The run was asked to stop (Ctrl-C): each till ends after its current call."""


STOPPED = "stopped (Ctrl-C) before this step finished; the next run carries on"


class Link:
    """One till's port: opened on first use, dropped when the link breaks and
    reopened by the next try; every call retried with backoff."""

    def __init__(self, gw: "Gateway", till: TillConfig) -> None:
        self.gw, self.till = gw, till
        self.port: TillPort | None = None

    def call(self, fn: Callable[[TillPort], T]) -> T:
        def once() -> T:
            self.gw.check_stop()
            if self.port is None:
                self.port = self.gw.open_till(self.till.url)
            try:
                return fn(self.port)
            except LinkError:
                self.close()
                raise
        return self.gw.retry(once, (LinkError,), self.till.name)

    def close(self) -> None:
        port, self.port = self.port, None
        if port is not None:
            try:
                port.close()
            except Exception:  # a port that broke may fail to close too; it is dropped either way
                log.debug("closing the port of %s failed", self.till.name, exc_info=True)


class Gateway:
    def __init__(self, config: GatewayConfig, outbox: Outbox, relay: RelayClient, open_till: OpenTill,
                 events: Events | None = None, sleep: Callable[[float], None] | None = None,
                 rnd: Callable[[], float] = random.random, clock: Callable[[], float] = time.time) -> None:
        self.config, self.outbox, self.relay, self.open_till = config, outbox, relay, open_till
        self.events = events or Events()
        self._stop = threading.Event()
        # A retry's wait ends early when the run is asked to stop.
        self.sleep: Callable[[float], object] = sleep if sleep is not None else self._stop.wait
        self.rnd, self.clock = rnd, clock
        self.blobs = BlobCache(config.outbox.parent / "downloads")

    def request_stop(self) -> None:
        """End the run soon: every till stops after its current call (from any thread)."""
        self._stop.set()

    def check_stop(self) -> None:
        if self._stop.is_set():
            raise Stopped(STOPPED)

    def retry(self, call: Callable[[], T], retryable: tuple[type[BaseException], ...], till: str) -> T:
        def said(attempt: int, exc: BaseException, wait_s: float) -> None:
            self.events.note(till, f"try {attempt} failed ({exc}); trying again in {wait_s:.0f} s")

        def once() -> T:
            self.check_stop()
            return call()

        def wait(seconds: float) -> None:
            self.sleep(seconds)
        return retry(once, self.config.retry, retryable, wait, self.rnd, said)

    # -- a run -----------------------------------------------------------------
    def sync(self, names: Sequence[str] | None = None) -> dict[str, dict[str, Outcome]]:
        """Sync the named tills (default: all), in parallel; their outcomes."""
        tills = [self.config.till(n) for n in names] if names else list(self.config.tills)
        self.outbox.close_interrupted()
        self._stop.clear()
        # The site's downloads run beside the tills' up and acks (a relay that
        # does not answer must not hold up reading the tills); a till's down
        # step waits for them.
        with ThreadPoolExecutor(max_workers=len(tills) + 1, thread_name_prefix="kassa-till") as pool:
            site = pool.submit(downloads.site_down, self, [t.name for t in tills])
            futures = {t.name: pool.submit(self.sync_till, t, lambda: site.result()[0]) for t in tills}
            try:
                out = {name: f.result() for name, f in futures.items()}
                return {**out, SITE_ROW: {DOWN: site.result()[1]}}
            except KeyboardInterrupt:
                self.request_stop()  # the tills end their steps as Failed, stopped; then Ctrl-C goes on
                raise

    def sync_till(self, till: TillConfig,
                  messages: Callable[[], list[Message] | str] = lambda: []) -> dict[str, Outcome]:
        """One till's steps. messages(): what the relay has pending for the
        site, or why it could not be read (waits for the site's step)."""
        link = Link(self, till)
        try:
            hello: Hello | None = None
            try:
                hello = link.call(lambda p: p.hello())
                problem = self._identity_problem(till, hello)
            except LinkError as exc:
                problem = f"the till did not answer at {till.url}: {exc}"
            except Stopped:
                problem = STOPPED
            except Exception as exc:  # one till's surprise must not end the others' run
                log.exception("till %s: unexpected error at hello", till.name)
                problem = f"unexpected error talking to the till ({type(exc).__name__}: {exc})"
            if problem is not None:
                hello = None
            out = {UP: self.step(till.name, UP, lambda: self._up(till, link, hello, problem))}
            if hello is None:
                out[ACKS] = self._skip(till.name, ACKS, problem or "")
                out[DOWN] = self._skip(till.name, DOWN, problem or "")
            else:
                out[ACKS] = self.step(till.name, ACKS, lambda: self._acks(till, link, hello))
                out[DOWN] = self.step(till.name, DOWN, lambda: downloads.till_down(self, till, link, messages(),
                                                                                   hello))
            return out
        finally:
            link.close()

    def _identity_problem(self, till: TillConfig, hello: Hello) -> str | None:
        want = ids.till_id(self.config.site, till.name)
        if hello.till_id != want:
            return (f"the till at {till.url} is {hello.till_id!r}, not {want}: check which till is "
                    f"on that port, or the till's name in {self.config.path.name}")
        return None

    def _skip(self, name: str, direction: str, reason: str) -> Outcome:
        self.outbox.skip_step(name, direction, reason)
        self.events.step(name, direction, NOT_STARTED, reason)
        return Outcome(NOT_STARTED, reason)

    def step(self, name: str, direction: str, body: Callable[[], Outcome]) -> Outcome:
        run_id = self.outbox.start_step(name, direction)
        self.events.step(name, direction, IN_PROGRESS, "")
        try:
            outcome = body()
        except Stopped:
            outcome = Outcome(FAILED, STOPPED)
        except Exception as exc:  # one till's surprise must not end the others' run
            log.exception("till %s, %s: unexpected error", name, direction)
            outcome = Outcome(FAILED, f"unexpected error ({type(exc).__name__}: {exc}); "
                                      "see the gateway's log")
        self.outbox.end_step(run_id, outcome.status, outcome.reason, outcome.detail)
        self.events.step(name, direction, outcome.status, outcome.reason)
        return outcome

    # -- up: till -> outbox -> relay ---------------------------------------------
    def _up(self, till: TillConfig, link: Link, hello: Hello | None, till_problem: str | None) -> Outcome:
        name = till.name
        problem, read, offset = till_problem, 0, None
        if hello is not None:
            try:
                found = link.call(lambda p: p.set_clock(int(self.clock())))
                # A till whose clock was never set has no offset worth reporting.
                offset = None if hello.clock_s is None else found
                self.events.note(name, "clock set; it had never been set" if offset is None
                                 else f"clock set; the till was {offset:+d} s off")
                self.outbox.note_contact(name, hello.till_id, hello.head_seq, hello.processed_seq,
                                         hello.firmware, hello.snapshot_version, hello.free_flash_bytes,
                                         hello.printer, offset)
                read, problem = self._read(till, link, hello)
            except LinkError as exc:
                problem = f"the link to the till broke: {exc}"
            except OutboxError as exc:
                problem = f"the till's records do not match the outbox: {exc}"
        status_problem, relay_down = self._report_status(name)
        sent, upload_problem = (0, None) if relay_down else self._upload(name)
        detail = f"{read} records read, {sent} uploaded, {self.outbox.count_pending(name)} waiting"
        if offset is not None:
            detail += f"; clock was {offset:+d} s off"
        reasons = [r for r in (problem, status_problem, upload_problem) if r]
        return Outcome(FAILED if reasons else SUCCESS, "; ".join(reasons), detail)

    def _read(self, till: TillConfig, link: Link, hello: Hello) -> tuple[int, str | None]:
        name = till.name
        state = self.outbox.till(name)
        held = state.held_seq if state else 0
        if hello.head_seq < held:
            return 0, (f"the till reports journal head {hello.head_seq}, below the {held} the gateway "
                       "already holds: its flash was replaced or rolled back; HO must look at it")
        expected = max(held, hello.processed_seq) + 1
        total = max(0, hello.head_seq - expected + 1)
        kind = "full sync" if held == 0 else "delta"
        self.events.note(name, f"{kind}: {total} records to read after {expected - 1}")
        read = 0
        while expected <= hello.head_seq:
            self.check_stop()
            after = expected - 1
            items = link.call(lambda p: p.records_after(after, self.config.upload.read_records))
            if not items:
                return read, (f"the till reports journal head {hello.head_seq} but sent nothing after "
                              f"record {after}")
            good, problem = check_records(items, expected)
            self.outbox.add_records(name, good)  # committed before anything goes up
            read += len(good)
            expected += len(good)
            self.events.progress(name, "reading records", read, total)
            if problem is not None:
                return read, f"records refused: {problem}"
        return read, None

    def _report_status(self, name: str) -> tuple[str | None, bool]:
        """Tell HO what the outbox knows of the till from its last hello (this
        run's, or an earlier one's when the till did not answer now), so HO
        knows its firmware and when it was last seen. (problem, the relay is
        unreachable: then the upload is not tried either)."""
        state = self.outbox.till(name)
        if state is None or state.last_contact is None or state.firmware is None:
            return None, False  # never seen: nothing to tell
        status = {"seen_at": state.last_contact, "firmware": state.firmware,
                  "clock_offset_s": state.clock_offset_s, "free_flash_bytes": state.free_flash_bytes,
                  "snapshot_version": state.snapshot_version, "printer": state.printer}
        try:
            self.retry(lambda: self.relay.till_status(name, status), (RelayUnreachable,), name)
        except RelayUnreachable as exc:
            return f"{exc}; the records stay in the outbox for the next run", True
        except RelayRefused as exc:
            return f"HO refused the till's status: {exc.detail}", False
        return None, False

    def _upload(self, name: str) -> tuple[int, str | None]:
        state = self.outbox.till(name)
        if state is None:
            return 0, None
        head = max(state.head_seq, state.held_seq)
        total, sent = self.outbox.count_pending(name), 0
        limits = self.config.upload
        while True:
            self.check_stop()
            batch = self.outbox.pending(name, limits.batch_records, limits.batch_bytes)
            if not batch:
                return sent, None
            try:
                result = self.retry(lambda: self.relay.upload(name, batch, head),
                                    (RelayUnreachable,), name)
            except RelayUnreachable as exc:
                return sent, f"{exc}; the records stay in the outbox for the next run"
            except RelayRefused as exc:
                return sent, str(exc)
            statuses = {a.seq: ("CONFLICT" if a.outcome == "conflict" else a.status) for a in result.acks}
            self.outbox.mark_uploaded(name, statuses)
            sent += len(statuses)
            self.events.progress(name, "uploading", sent, total)
            if result.flag is not None or result.conflicts:
                return sent, f"HO flagged this till: {result.flag or f'{result.conflicts} conflicting records'}"
            if not statuses:
                return sent, "the relay acknowledged none of the records sent"

    # -- acks: relay PROCESSED -> till -------------------------------------------
    def _acks(self, till: TillConfig, link: Link, hello: Hello) -> Outcome:
        name = till.name
        try:
            ack = self.retry(lambda: self.relay.till_ack(name), (RelayUnreachable,), name)
        except (RelayUnreachable, RelayRefused) as exc:
            return Outcome(FAILED, str(exc))
        target = min(ack.processed, max(hello.head_seq, hello.processed_seq))
        till_processed = hello.processed_seq
        if target > till_processed:
            try:
                till_processed = link.call(lambda p: p.mark_processed(target))
            except LinkError as exc:
                return Outcome(FAILED, f"the link to the till broke: {exc}")
        freed = self.outbox.note_processed(name, ack.processed, till_processed)
        detail = (f"HO has processed up to record {ack.processed} (holds {ack.held}); "
                  f"the till up to {till_processed}; {freed} records left the outbox")
        if ack.flag:
            return Outcome(FAILED, f"HO flagged this till: {ack.flag}", detail)
        return Outcome(SUCCESS, "", detail)
