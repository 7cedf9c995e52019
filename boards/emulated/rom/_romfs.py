# The ROMFS partition, when the firmware is in one ($MSA_ROMFS, the emulator's
# romfs.img): mounted at /rom, ahead of the flash on sys.path, as a port built
# with MICROPY_VFS_ROM does. A board maps the partition's flash into its address
# space; here the image is read into the heap as one block that is never freed
# (the emulator gives the heap its size on top, msa bench heap counts it with
# these modules), and imports from it run their bytecode in place all the same.
import os
import sys


def mount():
    path = os.getenv("MSA_ROMFS")
    if not path:
        return
    import vfs

    with open(path, "rb") as image:
        vfs.mount(vfs.VfsRom(image.read()), "/rom")
    sys.path[0:0] = ["/rom", "/rom/lib"]
