# MicroPython manifest: a board's MicroPython with Kassa frozen in. The till's
# modules then run in place from flash (no heap for their bytecode, as with
# ROMFS), and the micropython-lib packages the board file names (MIP_PACKAGES)
# come frozen too. From a MicroPython checkout (1.25 or later, with its
# lib/micropython-lib submodule), for the Pico W and the ESP32:
#
#   KASSA_BOARD=pico_w make -C ports/rp2 BOARD=RPI_PICO_W FROZEN_MANIFEST=/path/to/kassa/manifest.py
#   KASSA_BOARD=esp32 make -C ports/esp32 BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/kassa/manifest.py
#
# (docs/flashing.md, "A firmware with Kassa frozen in"). `kassa flash` then
# writes the board file, main.py and the till's provisioning as usual; firmware
# it copies to /till later shadows the frozen copy ('' comes before '.frozen'
# on sys.path), so a frozen till can still be updated over the cable.
#
# MicroPython's build runs this file with its directory as the current one.
import ast
import os

metadata(description="Kassa: point-of-sale till firmware", version="0.1.0")

# The port's own frozen modules (asyncio and the rest the port ships).
include("$(PORT_DIR)/boards/manifest.py")

# Every module of the till package, its sub-packages included.
package("till", base_path="firmware")


def _mip_packages(board):
    """MIP_PACKAGES of boards/<board>.py, read without importing the board file
    (it imports the till package, which is not importable here)."""
    path = os.path.join("boards", board + ".py")
    if not os.path.exists(path):
        names = sorted(n[:-3] for n in os.listdir("boards")
                       if n.endswith(".py") and not n.startswith("_"))
        raise ValueError("KASSA_BOARD=%s: no such board; boards: %s" % (board, ", ".join(names)))
    with open(path) as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "MIP_PACKAGES" for t in node.targets):
            return ast.literal_eval(node.value)
    return ()


for _name in _mip_packages(os.environ.get("KASSA_BOARD", "pico_w")):
    require(_name)
