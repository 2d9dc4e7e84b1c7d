"""Receipt logos HO publishes: any image, converted on the way to the
printer's raster file by the same code as `kassa image convert`
(host_tools/hodata/raster.py)."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from host_tools.relay.publish import PublishError


def logo_raster(source: Path | bytes, width_dots: int, dither: bool = True) -> tuple[bytes, dict[str, Any]]:
    """The raster file of an image (a path, or the bytes of an upload), and
    what a logo message records of it; PublishError if it cannot be printed."""
    from PIL import Image

    from host_tools.hodata.raster import to_raster

    name = source.name if isinstance(source, Path) else "upload"
    try:
        image = Image.open(source if isinstance(source, Path) else io.BytesIO(source))
        raster = to_raster(image, width_dots, dither=dither)
    except Exception as exc:
        # Pillow raises many kinds on a damaged or hostile file (OSError,
        # SyntaxError, struct.error, DecompressionBombError, ...): each means
        # this is not a logo we can print, never a crash of the relay.
        raise PublishError(f"the logo {name} was refused, nothing published: {exc}") from None
    info = {"source": name, "width_dots": int.from_bytes(raster[4:6], "big") * 8,
            "rows": int.from_bytes(raster[6:8], "big")}
    return raster, info
