# Making file changes durable on both kinds of storage the till runs on.
#
# littlefs (RP2040, ESP32): file data and size are committed together at
# flush()/close() (lfs_file_sync), and every rename/remove is atomic across power
# loss; os.sync() does nothing and there is no os.fsync.
# A Pi's ext4 on SD: data reaches the card only after fsync, and a created,
# renamed or removed directory entry only after an fsync of the directory.
import os


def sync_file(f):
    f.flush()
    if hasattr(os, "fsync"):
        os.fsync(f.fileno())


def sync_dir(path):
    if hasattr(os, "fsync") and hasattr(os, "O_RDONLY"):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def replace_file(directory, name, data):
    """Write `data` as directory/name so that a power cut leaves either the old
    file or the new one whole: write beside it, sync, rename over, sync the dir."""
    tmp = directory + "/" + name + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        sync_file(f)
    os.rename(tmp, directory + "/" + name)
    sync_dir(directory)


def free_bytes(path):
    st = os.statvfs(path)
    # f_bavail * f_frsize; littlefs reports bfree == bavail.
    return st[4] * st[1]


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def is_dir(path):
    return os.stat(path)[0] & 0x4000 != 0  # S_IFDIR: MicroPython has no os.path


def rmtree(path):
    for name in os.listdir(path):
        full = path + "/" + name
        if is_dir(full):
            rmtree(full)
        else:
            os.remove(full)
    os.rmdir(path)

