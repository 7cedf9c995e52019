"""`msa firmware check`: the firmware type-checked against MicroPython's ESP32 stubs.

What runs on the unix port (the emulated board) need not run on an ESP32: the
unix port has modules and functions a board lacks. So the board's image, as it
goes on the flash (`boards/image.py`), is checked with mypy against the stubs
of MicroPython 1.29's ESP32 port (PyPI `micropython-esp32-esp32-generic-stubs`)
and its reduced standard library (`micropython-stdlib-stubs`, given to mypy as
its typeshed): an import of a module the board lacks, a function or constant
that the board's `machine`, `bluetooth`, `time` or `micropython` do not have, a
call with arguments they do not take, is an error.

Firmware code has no annotations (MicroPython has no `typing`), so mypy checks
the bodies of unannotated functions (`check_untyped_defs`). The stubs themselves
are written for pyright and trip mypy in places; their errors are not ours and
are ignored.
"""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from boards import image
from msa.errors import NotAvailable
from msa.firmware.build import shown_name

STUBS = "micropython-esp32-esp32-generic-stubs"
STDLIB_STUBS = "micropython-stdlib-stubs"
STUBS_PIN = f"{STUBS}==1.29.0.post1"

# Findings known and reported, each kept to one module and one error code, so
# that anything else in that module still fails the check.
KNOWN = {
    # `self._due = 0`, later time.ticks_add(...): the stubs type ticks as an
    # opaque _TicksMs, not int. Fix: start _due at time.ticks_ms().
    "firmware.sender": "assignment",
    # Times that are None until a first edge, used only in states that set them:
    # mypy cannot follow the state machine without annotations.
    "firmware.gesture": "operator",
    # The checks build one dict of mixed values (ints, the key's text, None for
    # what is missing) and Settings gets its attributes from it with setattr;
    # this module also runs on CPython (the tech desk's validate()).
    "firmware.settings": "operator, str-format, attr-defined",
}
# Everywhere: firmware code has no annotations (MicroPython has no `typing`), so
# an empty list cannot say what it will hold.
DISABLED = "var-annotated"


@dataclass
class Finding:
    path: str  # in this repository
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def _distribution_root(name: str) -> tuple[Path, list[str]]:
    try:
        distribution = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        raise NotAvailable(
            f"the MicroPython stubs are not installed ({name}): run ./msa once, "
            f"or pip install {STUBS_PIN}"
        ) from None
    tops = sorted({f.parts[0] for f in distribution.files or [] if ".dist-info" not in f.parts[0]})
    return Path(str(distribution.locate_file(""))), tops


def stub_folders(scratch: Path) -> tuple[Path, Path]:
    """(typeshed, stub path): the stubs alone, linked into folders of their own
    (the site-packages they live in also hold CPython packages mypy must not see)."""
    root, tops = _distribution_root(STUBS)
    stdlib_root, stdlib_tops = _distribution_root(STDLIB_STUBS)
    typeshed, path = scratch / "typeshed", scratch / "stubs"
    typeshed.mkdir(parents=True)
    path.mkdir(parents=True)
    for name in ("stdlib", "stubs"):
        (typeshed / name).symlink_to(stdlib_root / name)
    for name in [t for t in tops if t.endswith(".pyi") or (root / t).is_dir()]:
        (path / name).symlink_to(root / name)
    for name in [t for t in stdlib_tops if t not in ("stdlib", "stubs")]:
        (path / name).symlink_to(stdlib_root / name)
    return typeshed, path


def _config(stub_path: Path) -> str:
    stub_modules = sorted({p.name.removesuffix(".pyi") for p in stub_path.iterdir()})
    lines = ["[mypy]", "check_untyped_defs = True", "warn_unused_configs = False"]
    lines += [f"disable_error_code = {DISABLED}", ""]
    lines += [f"[mypy-{','.join(m + ',' + m + '.*' for m in stub_modules)}]"]
    lines += ["ignore_errors = True", ""]
    for module, code in KNOWN.items():
        lines += [f"[mypy-{module}]", f"disable_error_code = {DISABLED}, {code}", ""]
    return "\n".join(lines)


def check(board: str, scratch: Path, extra: dict[str, Path] | None = None) -> list[Finding]:
    """Type-check `board`'s image (plus `extra` flash path -> source); the findings."""
    try:
        import mypy  # noqa: F401 (only: is it there)
    except ImportError:
        raise NotAvailable("mypy is not installed: run ./msa once, or pip install mypy") from None
    typeshed, stub_path = stub_folders(scratch)
    flash = scratch / "flash"
    sources = {**image.files(board), **(extra or {})}
    for target, source in sources.items():
        (flash / target).parent.mkdir(parents=True, exist_ok=True)
        (flash / target).write_bytes(source.read_bytes())
    config = scratch / "mypy.ini"
    config.write_text(_config(stub_path))
    command = [sys.executable, "-m", "mypy", "--config-file", str(config)]
    command += ["--custom-typeshed-dir", str(typeshed), "--cache-dir", str(scratch / "cache")]
    command += ["--no-error-summary", "--show-column-numbers", "--hide-error-context"]
    folders = sorted({str(PurePosixPath(t).parent) for t in sources if "/" in t})
    command += ["main.py", "board.py", *folders]
    env = {"MYPYPATH": f"{flash / 'lib'}:{flash}:{stub_path}", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(command, cwd=flash, env=env, capture_output=True, text=True)
    if result.returncode not in (0, 1) or result.stderr.strip():
        raise NotAvailable(f"mypy did not run: {(result.stderr or result.stdout).strip()}")
    shown = {target: shown_name(source) for target, source in sources.items()}
    findings = []
    for line in result.stdout.splitlines():
        match = re.match(r"(.+?):(\d+):(?:\d+:)? (error|note): (.*)", line)
        if match is None or match.group(3) != "error":
            continue
        where = match.group(1)
        findings.append(Finding(shown.get(where, where), int(match.group(2)), match.group(4)))
    return findings
