"""The down direction: what HO published for the site (docs/relay-publish.md)
on its way to the tills and the site's pictures folder.

site_down is the site's own step (till "(site)"): the messages pending for
the site, the blobs this run's tills need, pictures updates applied. till_down
is a till's step: its snapshots, deltas and logos offered oldest first, the
till's answer committed to the outbox, then acknowledged to the relay (applied
only once applied; failed, with the till's reason, after the third refusal).

Blobs (packages, logos, pictures updates and picture files) are downloaded
into a folder beside the outbox, each under its SHA-256, through a `.part`
file that a broken download resumes from (a Range request); a blob is kept
only once its bytes match its name. The cache holds only what a message
still pending at the relay needs (keep_only), so it does not grow.

Pictures are echo mode: picture_update (the relay's, one format in one place)
applies an update to the site's folder, atomically per file.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from host_tools.gateway.config import TillConfig
from host_tools.gateway.outbox import DOWN, FAILED, SITE_ROW, SUCCESS, Outcome
from host_tools.gateway.relay_client import Message, RelayClient, RelayRefused, RelayUnreachable
from host_tools.gateway.tillport import Hello, LinkError

if TYPE_CHECKING:  # sync imports this module to run the steps
    from host_tools.gateway.sync import Gateway, Link

SNAPSHOT, DELTA, LOGO, PICTURES = "snapshot", "delta", "logo", "pictures"  # the relay's message kinds
PACKAGE_KINDS = (SNAPSHOT, DELTA, LOGO)  # what goes to a till (TillPort.offer_package)
# A till's "no" may be for now (a sale in progress, no heap free: the link
# reports both as applied=False) or for good (an older snapshot, a bad base):
# the package is offered again at the next runs, and only the third refusal
# in a row is acknowledged to HO as failed, with the till's reason.
REFUSALS_BEFORE_FAILED = 3

Progress = Callable[[int, int], None]


class BlobCache:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def cached(self, sha256: str) -> bytes | None:
        path = self.folder / sha256
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        if hashlib.sha256(data).hexdigest() != sha256:  # damaged on disk: fetched again
            path.unlink()
            return None
        return data

    def get(self, relay: RelayClient, sha256: str, size: int | None = None,
            progress: Progress | None = None) -> bytes:
        """The blob's bytes, from the cache or downloaded (resuming a part)."""
        data = self.cached(sha256)
        if data is not None:
            return data
        part = self.folder / f"{sha256}.part"
        have = part.stat().st_size if part.exists() else 0
        if size is not None and have > size:
            part.unlink()
            have = 0
        done = [have]
        with part.open("ab") as f:
            def sink(chunk: bytes) -> None:
                f.write(chunk)
                done[0] += len(chunk)
                if progress is not None and size:
                    progress(done[0], size)
            if size is None or have < size:
                relay.download(sha256, have, sink)
            f.flush()
            os.fsync(f.fileno())
        data = part.read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            part.unlink()
            raise RelayUnreachable(f"the download of {sha256[:12]}… does not match its SHA-256; "
                                   "it is downloaded again at the next try")
        os.replace(part, self.folder / sha256)
        return data

    def keep_only(self, needed: set[str]) -> int:
        """Remove cached blobs (and parts) no pending message needs; how many."""
        removed = 0
        for path in self.folder.iterdir():
            if path.name.removesuffix(".part") not in needed:
                path.unlink()
                removed += 1
        return removed


def site_down(gw: Gateway, names: list[str]) -> tuple[list[Message] | str, Outcome]:
    """The site's step: pending messages, the blobs this run's tills need,
    pictures into the site's folder. The messages (or why there are none)
    and the step's outcome."""
    got: list[list[Message] | str] = ["the site's downloads did not run"]

    def body() -> Outcome:
        try:
            messages = gw.retry(gw.relay.messages, (RelayUnreachable,), SITE_ROW)
        except (RelayUnreachable, RelayRefused) as exc:
            got[0] = f"what HO published could not be read: {exc}"
            return Outcome(FAILED, str(exc))
        got[0] = messages
        wanted = [m for m in messages if m.kind in PACKAGE_KINDS and set(m.tills) & set(names)]
        problems = []
        for m in wanted:
            try:
                gw.retry(lambda: gw.blobs.get(gw.relay, m.sha256, m.size, _bar(gw, SITE_ROW, m)),
                           (RelayUnreachable,), SITE_ROW)
            except (RelayUnreachable, RelayRefused) as exc:
                problems.append(f"{m.kind} (message {m.id}) not downloaded: {exc}")
        applied = 0
        for m in messages:
            if m.kind == PICTURES and m.scope == "site":
                problem = _pictures(gw, m)
                if problem:
                    problems.append(problem)
                else:
                    applied += 1
        gw.blobs.keep_only({m.sha256 for m in messages})
        gw.outbox.prune_deliveries({(m.id, t) for m in messages for t in (m.tills or [SITE_ROW])})
        detail = (f"{len(messages)} messages pending for the site; {len(wanted)} packages for these tills "
                  f"downloaded; {applied} pictures updates applied")
        return Outcome(FAILED if problems else SUCCESS, "; ".join(problems), detail)

    outcome = gw.step(SITE_ROW, DOWN, body)
    return got[0], outcome

def _bar(gw: Gateway, name: str, m: Message) -> Callable[[int, int], None]:
    def progress(done: int, total: int) -> None:
        gw.events.progress(name, f"{m.kind} {m.id}", done, total)
    return progress

def _acknowledge(gw: Gateway, m: Message, till: str | None, applied: bool, reason: str) -> str | None:
    """Tell the relay; the problem, or None once it is told."""
    target = till or SITE_ROW
    try:
        why = None if applied else (reason.strip() or "refused without a reason")[:500]  # the relay's limit
        gw.retry(lambda: gw.relay.acknowledge(m.id, till, applied, why), (RelayUnreachable,), target)
    except (RelayUnreachable, RelayRefused) as exc:
        return f"{m.kind} (message {m.id}) applied but not yet acknowledged to HO: {exc}" if applied \
            else f"{m.kind} (message {m.id}) refused ({reason}); HO could not be told: {exc}"
    gw.outbox.delivery_acked(m.id, target)
    return None

def _pictures(gw: Gateway, m: Message) -> str | None:
    from host_tools.relay import ids, picture_update

    done = gw.outbox.delivery(m.id, SITE_ROW)
    if done is None:
        try:
            update = picture_update.decode(
                gw.retry(lambda: gw.blobs.get(gw.relay, m.sha256, m.size), (RelayUnreachable,), SITE_ROW))
            folder = gw.config.pictures / ids.check_name(update.folder, "pictures folder")
            result = gw.retry(lambda: picture_update.apply(
                update, folder, lambda sha: gw.blobs.get(gw.relay, sha)), (RelayUnreachable,), SITE_ROW)
            applied, why = True, (f"{len(result.written)} written, {len(result.deleted)} deleted, "
                                  f"{len(result.unchanged)} unchanged")
        except (picture_update.UpdateError, ids.BadId) as exc:  # the update itself is wrong: final
            applied, why = False, str(exc)
        except (RelayUnreachable, RelayRefused) as exc:
            return f"pictures (message {m.id}) not downloaded: {exc}"
        except OSError as exc:
            return f"pictures (message {m.id}) could not be written to {gw.config.pictures}: {exc}"
        done = gw.outbox.note_delivery(m.id, SITE_ROW, applied, why)
        gw.events.note(SITE_ROW, f"pictures (message {m.id}): {why}")
    problem = _acknowledge(gw, m, None, done.applied, done.reason)
    if problem is None and not done.applied:
        return f"pictures (message {m.id}) refused: {done.reason}"
    return problem


def till_down(gw: Gateway, till: TillConfig, link: Link, messages: list[Message] | str,
              hello: Hello | None = None) -> Outcome:
    name = till.name
    if isinstance(messages, str):
        return Outcome(FAILED, messages)
    mine = [m for m in messages if m.kind in PACKAGE_KINDS and name in m.tills]
    if hello is not None and hello.snapshot_version is None and not any(m.kind == SNAPSHOT for m in mine):
        # A freshly flashed till cannot sell without HO's data ("No HO data: sync the till").
        return Outcome(FAILED, "the till has no HO data, so it cannot sell, and HO has published no full "
                               f"snapshot for it: publish one (kassa ho publish --snapshot DIR --site "
                               f"{gw.config.site})", f"{len(mine)} published for this till")
    applied, problems, blocked = 0, [], False
    for m in mine:
        if blocked and m.kind == DELTA:
            continue  # a delta needs the snapshot or delta before it, which is not in force
        done = gw.outbox.delivery(m.id, name)
        if done is None or (not done.applied and done.tries < REFUSALS_BEFORE_FAILED):
            data = gw.blobs.cached(m.sha256)
            if data is None:
                problems.append(f"{m.kind} (message {m.id}) is not downloaded yet")
                blocked = blocked or m.kind in (SNAPSHOT, DELTA)
                continue
            try:
                result = link.call(lambda p: p.offer_package(m.kind, data, m.sha256, _bar(gw, name, m)))
            except LinkError as exc:
                problems.append(f"the link to the till broke while sending {m.kind} (message {m.id}): {exc}")
                break
            done = gw.outbox.note_delivery(m.id, name, result.applied, result.detail)
            gw.events.note(name, f"{m.kind} (message {m.id}): "
                                 + ("applied" if result.applied else f"not taken: {result.detail}"))
        if m.kind in (SNAPSHOT, DELTA):
            blocked = not done.applied if m.kind == SNAPSHOT else blocked or not done.applied
        if not done.applied and done.tries < REFUSALS_BEFORE_FAILED:
            problems.append(f"the till did not take {m.kind} (message {m.id}): {done.reason}; it is offered "
                            f"again at the next run ({done.tries} of {REFUSALS_BEFORE_FAILED})")
            continue
        problem = _acknowledge(gw, m, name, done.applied, done.reason)
        if problem is None and not done.applied:
            problem = f"the till refused {m.kind} (message {m.id}): {done.reason} (HO is told)"
        if problem:
            problems.append(problem)
        else:
            applied += 1
    detail = f"{len(mine)} published for this till, {applied} applied and acknowledged"
    return Outcome(FAILED if problems else SUCCESS, "; ".join(problems), detail)
