# Test equipment: an emulated NOR flash chip for littlefs (os.VfsLfs2) under
# MicroPython, with the Pico's geometry (4096-byte erase blocks, 256-byte program
# pages), that can record every erase and program and rebuild the chip as it
# stood after the Nth one. That is a power cut after operation N: everything
# later never reached the chip.
#
# Programming ANDs bits into the cells (NOR flash can only clear bits), and an
# erase sets a block to 0xFF, so a torn or misdirected write looks as it would
# on the real chip.
import os

try:
    import vfs
except ImportError:  # older ports keep mount/umount in os
    vfs = os

BLOCK_BYTES = 4096
PROG_BYTES = 256
_ERASE = 0
_PROGRAM = 1


def available():
    return hasattr(vfs, "VfsLfs2")


class Flash:
    """Block device protocol of MicroPython's littlefs driver (extended form)."""

    def __init__(self, block_count, image=None, block_bytes=BLOCK_BYTES):
        self.block_bytes = block_bytes
        self.block_count = block_count
        if image is None:
            image = bytearray(b"\xff" * (block_count * block_bytes))
        self.data = image
        self.log = None  # a list while recording
        self.erases = 0
        self.programs = 0
        self.erase_per_block = [0] * block_count

    def record(self):
        self.log = []

    def readblocks(self, block, buf, offset=0):
        start = block * self.block_bytes + offset
        buf[:] = self.data[start:start + len(buf)]

    def writeblocks(self, block, buf, offset=None):
        if offset is None:  # basic interface: erase then program
            self._erase(block)
            offset = 0
        start = block * self.block_bytes + offset
        data = bytes(buf)
        if self.log is not None:
            self.log.append((_PROGRAM, start, data))
        self.programs += 1
        program(self.data, start, data)

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return self.block_count
        if op == 5:  # block size
            return self.block_bytes
        if op == 6:  # erase block `arg`
            self._erase(arg)
            return 0
        return 0

    def _erase(self, block):
        if self.log is not None:
            self.log.append((_ERASE, block * self.block_bytes, None))
        self.erases += 1
        self.erase_per_block[block] += 1
        erase(self.data, block * self.block_bytes, self.block_bytes)


def erase(image, start, length):
    image[start:start + length] = b"\xff" * length


def program(image, start, data):
    for i in range(len(data)):
        image[start + i] &= data[i]


def replay(image, op, block_bytes=BLOCK_BYTES, partial=None):
    """Apply one recorded operation to `image`; `partial` bytes of a program only."""
    kind, start, data = op
    if kind == _ERASE:
        erase(image, start, block_bytes)
    else:
        program(image, start, data if partial is None else data[:partial])


def is_program(op):
    return op[0] == _PROGRAM


def format_and_mount(flash, mount_point):
    vfs.VfsLfs2.mkfs(flash, progsize=PROG_BYTES)
    return mount(flash, mount_point)


def mount(flash, mount_point):
    fs = vfs.VfsLfs2(flash, progsize=PROG_BYTES)
    vfs.mount(fs, mount_point)
    return fs


def umount(mount_point):
    vfs.umount(mount_point)


def listdir_safe(path):
    try:
        return os.listdir(path)
    except OSError:
        return []
