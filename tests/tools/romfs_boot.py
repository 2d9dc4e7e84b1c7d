# Boots the till under the MicroPython unix port the way a board with a ROMFS
# partition does: the firmware image is mounted at /rom and imported in place,
# then /main.py runs from the till's root (the current directory).
#   micropython -X heapsize=<192K + image> romfs_boot.py IMAGE MAIN
# The image is read into the heap here because the unix port has no memory-mapped
# flash; the heap is grown by exactly its size, so what is left is what a board
# with the image in flash would have.
import sys
import vfs

with open(sys.argv[1], "rb") as f:
    _image = f.read()
vfs.mount(vfs.VfsRom(_image), "/rom")
sys.path.insert(0, "/rom")
_main = sys.argv[2]
del f
exec(open(_main).read(), {"__name__": "__main__"})
