"""`kassa relay serve`: run head office's relay (docs/relay.md)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from host_tools.cli import command_group
from host_tools.relay.config import Limits, RelayConfig


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", default="relay.sqlite3", metavar="URL",
                        help="a SQLite file (default ./relay.sqlite3) or postgresql://user@host/db")


def register(sub: argparse._SubParsersAction) -> None:
    rsub = command_group(sub, "relay", "head office's relay service")
    s = rsub.add_parser("serve", help="serve the relay's HTTP API (and process records)")
    add_db_argument(s)
    s.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=8470, help="listen port (default 8470)")
    s.add_argument("--worker-interval", type=float, default=1.0, metavar="S",
                   help="seconds between processing rounds (default 1)")
    s.add_argument("--no-worker", action="store_true",
                   help="do not process here (another relay or `kassa ho process` does)")
    s.add_argument("--max-batch-bytes", type=int, default=Limits.max_batch_bytes)
    s.add_argument("--max-batch-records", type=int, default=Limits.max_batch_records)
    s.add_argument("--max-record-bytes", type=int, default=Limits.max_record_bytes)
    s.add_argument("--pool-size", type=int, default=8, help="PostgreSQL connections (default 8)")
    s.add_argument("--ssl-certfile", help="serve HTTPS with this certificate (PEM)")
    s.add_argument("--ssl-keyfile", help="... and this private key (PEM)")
    s.add_argument("--session-key-file", type=Path, metavar="FILE",
                   help="the key that signs HO staff's web sessions (at least 32 bytes, e.g. "
                        "`head -c 32 /dev/urandom > FILE`); the same file for every relay process "
                        "behind one address (default: a new key per process)")
    s.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    s.set_defaults(func=serve)


def config_from(args: argparse.Namespace) -> RelayConfig:
    limits = Limits(max_batch_bytes=args.max_batch_bytes, max_batch_records=args.max_batch_records,
                    max_record_bytes=args.max_record_bytes)
    key = None
    if getattr(args, "session_key_file", None) is not None:
        key = args.session_key_file.read_bytes()
        if len(key) < 32:
            raise ValueError(f"{args.session_key_file} holds {len(key)} bytes; a session key needs at least 32")
    return RelayConfig(database_url=args.db, host=args.host, port=args.port, limits=limits,
                       worker_interval_s=None if args.no_worker else args.worker_interval,
                       pool_size=args.pool_size, session_key=key)


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from host_tools.relay.app import create_app
    from host_tools.relay.store import StoreError, open_store

    try:
        config = config_from(args)
    except (OSError, ValueError) as exc:
        print(f"kassa relay serve: {exc}", file=sys.stderr)
        return 2
    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        print("kassa relay serve: give both --ssl-certfile and --ssl-keyfile, or neither", file=sys.stderr)
        return 2
    try:
        store = open_store(config.database_url, pool_size=config.pool_size)
    except StoreError as exc:
        print(f"kassa relay serve: {exc}", file=sys.stderr)
        return 2
    try:
        app = create_app(config, store)
        uvicorn.run(app, host=config.host, port=config.port, log_level=args.log_level,
                    ssl_certfile=args.ssl_certfile, ssl_keyfile=args.ssl_keyfile)
    finally:
        store.close()
    return 0
