"""The till's printer profile: what one receipt printer model can do, as small JSON.

The facts come from python-escpos's capability database (escpos-printer-db); the
till reads the JSON instead of the database, which is far too big for it.

Format (version 1); a value the database does not know is null:

    {"format": 1, "model": "TM-T88V", "vendor": "Epson", "name": "TM-T88V",
     "media_width_mm": 80, "paper_width_dots": 512, "dpi": 180,
     "columns": {"a": 42, "b": 56},
     "cut": {"full": true, "partial": true}, "qr_native": true,
     "barcode_functions": ["A", "B"], "raster_image": true, "drawer_pulse": true,
     "code_pages": {"CP437": 0, "CP858": 19, ...}, "cp858_index": 19,
     "text_code_page": {"name": "CP858", "index": 19}}

`text_code_page` is the page the till should select with ESC t: CP858 (euro sign
and accented Latin letters) where the printer has it, else CP437, else null --
the two pages firmware/till/formats/codepages.py can encode.
"""
from __future__ import annotations

import difflib
from typing import Any

from escpos.capabilities import CAPABILITIES

FORMAT_VERSION = 1
TILL_CODE_PAGES = ("CP858", "CP437")  # in order of preference


class UnknownModel(LookupError):
    def __init__(self, model: str, close: list[str]) -> None:
        self.model = model
        self.close = close
        hint = f"; close matches: {', '.join(close)}" if close else ""
        super().__init__(f"no printer profile for {model!r}{hint}. "
                         "`kassa printer models` lists every known model")


def models() -> list[str]:
    return sorted(CAPABILITIES["profiles"])


def _known(value: Any) -> Any:
    return None if value in (None, "Unknown", "") else value


def resolve(model: str) -> str:
    """The database's name for `model`, matched case-insensitively."""
    names = models()
    if model in names:
        return model
    by_lower = {n.lower(): n for n in names}
    if model.lower() in by_lower:
        return by_lower[model.lower()]
    close = difflib.get_close_matches(model.lower(), list(by_lower), n=5, cutoff=0.5)
    raise UnknownModel(model, [by_lower[c] for c in close])


def build_profile(model: str) -> dict[str, Any]:
    """The profile JSON object for `model` (see the module docstring)."""
    name = resolve(model)
    data = CAPABILITIES["profiles"][name]
    features = data.get("features", {})
    media = data.get("media", {})
    width = media.get("width", {})
    code_pages: dict[str, int] = {}
    for index, page in sorted(data.get("codePages", {}).items(), key=lambda kv: int(kv[0])):
        if _known(page) and page not in code_pages:
            code_pages[page] = int(index)
    fonts = data.get("fonts", {})
    columns = {"abcdefgh"[int(k)]: f.get("columns")
               for k, f in sorted(fonts.items()) if int(k) < 8}
    text_page = next(({"name": p, "index": code_pages[p]}
                      for p in TILL_CODE_PAGES if p in code_pages), None)
    return {
        "format": FORMAT_VERSION,
        "model": name,
        "vendor": _known(data.get("vendor")),
        "name": _known(data.get("name")),
        "media_width_mm": _known(width.get("mm")),
        "paper_width_dots": _known(width.get("pixels")),
        "dpi": _known(media.get("dpi")),
        "columns": columns,
        "cut": {"full": bool(features.get("paperFullCut")),
                "partial": bool(features.get("paperPartCut"))},
        "qr_native": bool(features.get("qrCode")),
        "barcode_functions": [f for f in ("A", "B") if features.get("barcode" + f)],
        "raster_image": bool(features.get("bitImageRaster")),
        "drawer_pulse": bool(features.get("pulseStandard")),
        "code_pages": code_pages,
        "cp858_index": code_pages.get("CP858"),
        "text_code_page": text_page,
    }
