"""The nightly snapshot (InnoPos's nightly copy for autonomous mode): every
night at a set time, build a full snapshot from HO's catalog source folder
(items.csv or items.json, and store.json) and publish it to every site.

When to run is a pure function of (now, at), tested without sleeping; the
loop only sleeps towards it in short steps, re-reading the clock each time,
so a clock set forward or a suspended machine still publishes once, on time.
"""
from __future__ import annotations

import re
import time as systime
from collections.abc import Callable
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from host_tools.hodata import snapshot_builder as sb
from host_tools.relay import packages, publish
from host_tools.relay.store import Store, StoreError

_AT = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
STEP_S = 30.0  # longest single sleep: the loop re-reads the clock at least this often


def parse_at(text: str) -> time:
    m = _AT.match(text.strip())
    if m is None:
        raise ValueError(f"--at {text!r} is not a time of day: write it as HH:MM, e.g. 02:00")
    return time(int(m.group(1)), int(m.group(2)))


def next_run(now: datetime, at: time) -> datetime:
    """The first moment at `at` o'clock after now (now itself excluded, so a
    run that ends within its minute is not repeated)."""
    today = datetime.combine(now.date(), at, tzinfo=now.tzinfo)
    return today if today > now else today + timedelta(days=1)


def _items_file(source: Path) -> Path:
    for name in ("items.csv", "items.json"):
        if (source / name).is_file():
            return source / name
    raise StoreError(f"the catalog source folder {source} has no items.csv or items.json")


def publish_snapshot(store: Store, source: Path, snapshots: Path, actor: str,
                     created: int | None = None) -> tuple[publish.Published, Path]:
    """Build the next snapshot version from the source folder into
    snapshots/snap-N (kept: the base of later deltas), check its package as a
    till would, and publish it to every site."""
    try:
        config = sb.load_config(source / "store.json")
        items = sb.load_items(_items_file(source), config)
    except sb.BuildError as err:
        raise StoreError("the catalog source was refused, nothing published:\n  " + "\n  ".join(err.problems)) \
            from None
    snapshots.mkdir(parents=True, exist_ok=True)
    held = [int(p.name[5:]) for p in snapshots.glob("snap-*") if p.name[5:].isdigit()]
    version = max([publish.latest_snapshot_version(store), *held]) + 1
    out = snapshots / f"snap-{version}"
    try:
        sb.build(items, config, version, out, created)
    except sb.BuildError as err:
        raise StoreError("the snapshot could not be built:\n  " + "\n  ".join(err.problems)) from None
    data = packages.full_package(out)
    info = packages.check(data)
    info["source"] = str(source)
    return publish.publish(store, publish.SNAPSHOT, data, info, None, actor, version=version), out


def run_nightly(open_store: Callable[[], Store], source: Path, snapshots: Path, at: time, actor: str,
                say: Callable[[str], Any], now: Callable[[], datetime] = datetime.now,
                sleep: Callable[[float], Any] = systime.sleep, nights: int | None = None) -> None:
    """Publish every night at `at` (local time) until interrupted (or for
    `nights` nights, for tests). A night that fails says why and the loop
    goes on to the next night."""
    done = 0
    while nights is None or done < nights:
        due = next_run(now(), at)
        say(f"next nightly snapshot at {due:%Y-%m-%d %H:%M}")
        while (left := (due - now()).total_seconds()) > 0:
            sleep(min(left, STEP_S))
        try:
            store = open_store()
            try:
                result, out = publish_snapshot(store, source, snapshots, actor)
            finally:
                store.close()
        except StoreError as exc:
            say(f"nightly snapshot NOT published: {exc}")
        else:
            skipped = "".join(f"; skipped {s}: {why}" for s, why in result.skipped.items())
            say(f"published snapshot {out.name} (message {result.message_id}, {result.size:,} bytes) "
                f"to {len(result.sites)} sites{skipped}")
        done += 1
