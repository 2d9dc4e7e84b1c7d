# Memory reserved at boot for the till's long-lived buffers.
#
# main.py calls buffers() first, before it imports the rest of the firmware:
# after the imports and the journal's recovery the heap is fragmented into free
# blocks of a kilobyte or two (measured on the sim till: 53 KB free, the largest
# block 1.6 KB), and a buffer that grows with a long sale or receipt could no
# longer find room.
#
# The first buffer is shared, in turn: the journal encodes every record into it
# (cbor.dumps_into), and the receipt layout then builds that record's receipt
# in it. That is safe because the engine returns a print action only after the
# append has returned, and the printer copies the receipt out before the main
# loop hands the engine its next event. The printer keeps the receipt it is
# about to print in the second buffer (receipts behind it wait in its flash
# queue), so a printer that falls behind costs flash, never heap.
RECORD_BYTES = 8192  # the journal's largest record (journal._MAX_RECORD_BYTES)
JOB_BYTES = 2048  # the printer's job buffer: a usual receipt (~1 KB); a longer one queues on flash


def buffers():
    return bytearray(RECORD_BYTES), bytearray(JOB_BYTES)


# The gateway link's frames (till/link/wire.py carves them from this: four
# frames in flight, the wire and receive buffers, and the transport's reads).
LINK_BYTES = 3584


def link_buffer():
    return bytearray(LINK_BYTES)


# Room kept free for selling. Boot leaves the heap in small holes (imports,
# the journal's recovery, the snapshot's tables); a sale then needs blocks of
# a few hundred bytes at once (a dict of 20 keys is 368 bytes on a 64-bit
# port). hold() takes one block first thing, release() frees it when the till
# has booted: the objects that live for the whole run were placed elsewhere,
# and the sales that follow find one whole block.
ROOM_BYTES = 8192
_held = None


def hold(n=ROOM_BYTES):
    global _held
    try:
        _held = bytearray(n)
    except MemoryError:
        _held = None


def release():
    global _held
    _held = None


# A block kept whole for the rare step that builds many long-lived objects at
# once: installing HO's data decodes the new snapshot's meta (dicts whose
# tables need a few hundred bytes in one piece). After a day of sales the
# heap's free space is in holes smaller than that, however much of it there
# is (measured on the 64-bit port: 20 KB free, no 272-byte block). The block
# is given back for the install and taken again after it, and at each tick
# until there is room for it.
SPARE_BYTES = 4096
_spare = None


def keep_spare():
    """Take the spare block if it is not held; False when there is no room."""
    global _spare
    if _spare is None:
        try:
            _spare = bytearray(SPARE_BYTES)
        except MemoryError:
            return False
    return True


def use_spare():
    """Give the spare block back to the heap for the step about to run."""
    global _spare
    _spare = None


# Code the till needs only at boot: the identity, the printer provisioning,
# the profiles table. The heap is fixed and never compacted, so such a module
# is imported inside the function that uses it, never kept in another module's
# globals, and let go here once the till has booted (ROMFS: its bytecode never
# left the flash). Code needed later in the day stays loaded from the boot:
# loading it then needs blocks of a few hundred bytes that a day of sales has
# cut into smaller holes (measured: the journal's checkpoint reloaded at a
# segment roll failed after sale 69, and with it every sale after; the link
# and the snapshot installer loaded when a gateway connected found no room
# after 30 sales). CPython (a Pi) has memory to spare, and there a module
# loaded twice would make two sets of its classes.
BOOT_ONLY = ("till.formats.identity", "till.formats.provision", "till.drivers.profiles")


def unload(names):
    import sys

    if sys.implementation.name != "micropython":
        return
    for name in names:
        if sys.modules.pop(name, None) is None:
            continue
        package, _, leaf = name.rpartition(".")
        parent = sys.modules.get(package)
        if parent is not None and hasattr(parent, leaf):
            delattr(parent, leaf)
