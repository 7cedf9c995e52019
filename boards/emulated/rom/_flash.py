# The emulated board's flash: the board's folder on the host, with the room
# counted as littlefs (MicroPython's VfsLfs2, as the ESP32 port sets it up)
# counts it, so that it fills as a real board's flash does and a write that
# finds no room raises OSError 28 where littlefs would. _boot.py mounts it at
# /flash and makes it the working directory, as a real port does its flash.
#
# The model (docs/firmware.md, "The emulated board"):
#   - erase blocks of BLOCK bytes; statvfs() answers in blocks, as VfsLfs2 does;
#   - every directory is a metadata pair (2 blocks); its entries take metadata
#     bytes, and past PAIR_BYTES of them littlefs splits it into another pair
#     (lfs_dir_splittingcompact keeps a compacted pair under half a block);
#   - a file of at most INLINE_MAX bytes lives inline in its directory's
#     metadata (cache_size: 4 x the 32-byte prog size); a bigger one takes its
#     own blocks, a CTZ skip-list whose block n > 0 gives ctz(n) + 1 pointers;
#   - the root shares its pair with the superblock.
# Simplified: a pair is freed as soon as its entries fit in one less (littlefs
# drops only a pair left empty), and the metadata log is counted compacted.
#
# The bench can also make reads of chosen files fail (a worn block):
# MSA_FLASH_FAULTS="data/crashed" makes opening that file for reading raise EIO.
BLOCK = 4096
INLINE_MAX = 128
PAIR_BYTES = BLOCK // 2 - 40  # tail, global state, move and CRC take the rest
SUPERBLOCK_BYTES = 40  # "littlefs" and the superblock's inline struct
_NO_SPACE = 28
_IO_ERROR = 5


def entry_bytes(name, size, is_dir):
    # Name tag and name, struct tag and struct; a file also has MicroPython's
    # mtime attribute (tag and 8 bytes). A small file's data is its struct.
    if is_dir:
        return 4 + len(name) + 4 + 8
    return 4 + len(name) + 4 + (size if size <= INLINE_MAX else 8) + 12


def _pointers(n):
    # CTZ skip-list: block n > 0 points back to blocks n - 2^k, k = 0..ctz(n).
    if not n:
        return 0
    pointers = 1
    while not n & 1:
        n >>= 1
        pointers += 1
    return pointers


def data_blocks(size):
    if size <= INLINE_MAX:
        return 0
    blocks = 0
    while size > 0:
        size -= BLOCK - 4 * _pointers(blocks)
        blocks += 1
    return blocks


def capacity(blocks):
    """The most bytes a file of this many data blocks holds."""
    return sum(BLOCK - 4 * _pointers(n) for n in range(blocks))


def pair_blocks(meta_bytes):
    return 2 * max(1, -(-meta_bytes // PAIR_BYTES))


def used_blocks(meta, data):
    """Blocks in use for metadata bytes per directory ("" the root) and data blocks."""
    total = data
    for folder in meta:
        total += pair_blocks(meta[folder] + (SUPERBLOCK_BYTES if folder == "" else 0))
    return total


def _split(path):
    cut = path.rfind("/")
    return ("", path) if cut < 0 else (path[:cut], path[cut + 1 :])


class Flash:
    """A VFS over the board's folder that counts blocks as littlefs does."""

    def __init__(self, blocks, faults=()):
        import vfs

        # Paths relative to the process's directory, the folder (VfsPosix's root
        # argument is not applied to both of rename's paths).
        self.posix = vfs.VfsPosix()
        self.blocks = blocks
        self.faults = faults
        self.cwd = ""
        self.meta = {}
        self.data = 0
        self._walk("")

    def _walk(self, folder):
        self.meta[folder] = 0
        for entry in self.posix.ilistdir(folder or "."):
            name, is_dir = entry[0], entry[1] == 0x4000
            path = folder + "/" + name if folder else name
            size = 0 if is_dir else self.posix.stat(path)[6]
            self.meta[folder] += entry_bytes(name, size, is_dir)
            self.data += data_blocks(size)
            if is_dir:
                self._walk(path)

    def _path(self, path):
        if not self.cwd and path[:1] not in ("/", ".") and "/." not in path:
            return path  # the usual case (imports, the firmware): no garbage on its heap
        parts = [] if path.startswith("/") or not self.cwd else self.cwd.split("/")
        for part in path.split("/"):
            if part == "..":
                if parts:
                    parts.pop()
            elif part and part != ".":
                parts.append(part)
        return "/".join(parts)

    def _size(self, path):
        try:
            return self.posix.stat(path or ".")[6]
        except OSError:
            return None

    def change(self, folder, meta_delta, data_delta, check=True):
        """Take (or give back) room; OSError 28 when littlefs would find none."""
        meta = self.meta[folder] + meta_delta
        extra = data_delta
        if folder == "":
            extra += pair_blocks(meta + SUPERBLOCK_BYTES)
            extra -= pair_blocks(self.meta[folder] + SUPERBLOCK_BYTES)
        else:
            extra += pair_blocks(meta) - pair_blocks(self.meta[folder])
        if check and extra > 0 and used_blocks(self.meta, self.data) + extra > self.blocks:
            raise OSError(_NO_SPACE)
        self.meta[folder] = meta
        self.data += data_delta

    def _resize(self, path, old, new):
        folder, name = _split(path)
        old_bytes = 0 if old is None else entry_bytes(name, old, False)
        old_data = 0 if old is None else data_blocks(old)
        self.change(folder, entry_bytes(name, new, False) - old_bytes, data_blocks(new) - old_data)

    # -- the VFS protocol (MicroPython's os calls these) ---------------------------

    def mount(self, readonly, mkfs):
        pass

    def umount(self):
        pass

    def chdir(self, path):
        self.cwd = self._path(path)

    def getcwd(self):
        return "/" + self.cwd

    def statvfs(self, path):
        free = max(0, self.blocks - used_blocks(self.meta, self.data))
        return (BLOCK, BLOCK, self.blocks, free, free, 0, 0, 0, 0, 255)

    def stat(self, path):
        return self.posix.stat(self._path(path) or ".")

    def ilistdir(self, path):
        return self.posix.ilistdir(self._path(path) or ".")

    def open(self, path, mode):
        path = self._path(path)
        if "r" in mode and "+" not in mode:
            if path in self.faults:
                raise OSError(_IO_ERROR)
            return self.posix.open(path or ".", mode)
        old = self._size(path)
        start = old if "a" in mode and old is not None else 0
        self._resize(path, old, start)
        return _Writer(self, path, start, self.posix.open(path or ".", mode))

    def remove(self, path):
        path = self._path(path)
        size = self._size(path)
        self.posix.remove(path or ".")
        if size is not None:
            folder, name = _split(path)
            self.change(folder, -entry_bytes(name, size, False), -data_blocks(size), False)

    def rename(self, old, new):
        old, new = self._path(old), self._path(new)
        size, replaced = self._size(old), self._size(new)
        self.posix.rename(old or ".", new or ".")
        if old in self.meta:  # a folder: its own pairs go with it
            for folder in [f for f in self.meta if f == old or f.startswith(old + "/")]:
                self.meta[new + folder[len(old) :]] = self.meta.pop(folder)
            size = None
        (old_folder, old_name), (new_folder, new_name) = _split(old), _split(new)
        is_dir = size is None
        if replaced is not None:
            gone = entry_bytes(new_name, replaced, False)
            self.change(new_folder, -gone, -data_blocks(replaced), False)
        self.change(old_folder, -entry_bytes(old_name, size or 0, is_dir), 0, False)
        self.change(new_folder, entry_bytes(new_name, size or 0, is_dir), 0, False)

    def mkdir(self, path):
        path = self._path(path)
        folder, name = _split(path)
        if used_blocks(self.meta, self.data) + pair_blocks(0) > self.blocks:
            raise OSError(_NO_SPACE)
        self.change(folder, entry_bytes(name, 0, True), 0)
        self.posix.mkdir(path or ".")
        self.meta[path] = 0

    def rmdir(self, path):
        path = self._path(path)
        self.posix.rmdir(path or ".")
        folder, name = _split(path)
        self.meta.pop(path, None)
        self.change(folder, -entry_bytes(name, 0, True), 0, False)


class _Writer:
    # A file open for writing: each write takes its room first, as littlefs does.
    def __init__(self, flash, path, size, file):
        self.flash = flash
        self.path = path
        self.size = size
        self.file = file

    def write(self, data):
        new = self.size + len(data)
        self.flash._resize(self.path, self.size, new)
        self.size = new
        return self.file.write(data)

    def flush(self):
        self.file.flush()

    def close(self):
        self.file.close()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.file.close()


def mount(blocks, faults):
    import os

    os.mount(Flash(blocks, faults), "/flash")
    os.chdir("/flash")
