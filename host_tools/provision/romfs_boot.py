# Boots code under the MicroPython unix port the way a board with a ROMFS
# partition does: an image is mounted at /rom and its modules are imported in
# place (bytecode and constants are not copied into the heap).
#   micropython -X heapsize=<192K + image> romfs_boot.py IMAGE MAIN.py
#   micropython -X heapsize=<192K + image> romfs_boot.py IMAGE -m MODULE ARGS...
# The image is read into the heap here because the unix port has no memory-mapped
# flash; the caller grows the heap by exactly its size, so what is left is what a
# board with the image in flash would have.
import sys
import vfs

with open(sys.argv[1], "rb") as f:
    _image = f.read()
vfs.mount(vfs.VfsRom(_image), "/rom")
sys.path.insert(0, "/rom")
del f
if sys.argv[2] == "-m":
    _module = sys.argv[3]
    sys.argv[:] = sys.argv[3:]
    __import__(_module)
else:
    exec(open(sys.argv[2]).read(), {"__name__": "__main__"})
