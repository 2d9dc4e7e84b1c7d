"""The firmware as a mip package: package.json at the repository root, where mip
looks for a package (`mip.install("github:ORG/REPO", target="/")` reads
package.json at the top of the repository; any HTTP server of a checkout does as
well: `mip.install("http://HOST:PORT/package.json", target="/")`).

It names every module of the till (as source: the till compiles it at import),
every board file, boot.py and main.py, by URLs relative to package.json, so the same file
serves from any host. `deps` is empty: the micropython-lib packages a board
needs (its MIP_PACKAGES) come with `kassa flash` or `mip.install(NAME)`, so a
board that needs none never has to reach micropython.org.

package.json is generated, and committed so that mip can read it from the
repository: `python -m host_tools.provision.mip_package` rewrites it, and
tests/host/test_mip_package.py fails while it is stale.
"""
from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path
from typing import Any

from host_tools.provision.mpy_build import ROOT

PACKAGE_JSON = ROOT / "package.json"


def _version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return str(tomllib.load(f)["project"]["version"])


def package() -> dict[str, Any]:
    """package.json's content: [installed path, URL relative to package.json]."""
    firmware = ROOT / "firmware"
    urls = [[p.relative_to(firmware).as_posix(), p.relative_to(ROOT).as_posix()]
            for p in sorted((firmware / "till").rglob("*.py"))]
    urls += [[p.relative_to(ROOT).as_posix()] * 2 for p in sorted((ROOT / "boards").glob("*.py"))]
    urls += [[name, f"firmware/{name}"] for name in ("boot.py", "main.py")]
    return {"urls": urls, "deps": [], "version": _version()}


def render() -> str:
    """JSON with one file a line (a module added or removed is a one-line diff)."""
    pkg = package()
    urls = ",\n".join("  " + json.dumps(u) for u in pkg["urls"])
    return (f'{{\n "urls": [\n{urls}\n ],\n "deps": {json.dumps(pkg["deps"])},\n'
            f' "version": {json.dumps(pkg["version"])}\n}}\n')


def main() -> int:
    PACKAGE_JSON.write_text(render())
    print(f"wrote {PACKAGE_JSON} ({len(package()['urls'])} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
