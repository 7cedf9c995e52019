"""`msa firmware deploy`: copy a build to a board over its USB serial REPL, then verify.

mpremote's transport does the talking (raw REPL, raw paste); `on_device.py` is
sent once and answers, on the board, with the sha256 of every file. Only the
files whose hash differs are written (to a temporary name, then renamed), the
files the build no longer has are removed from its folders (an old `app.py`
would shadow a new `app.mpy`: MicroPython imports .py first), and then every
file is hashed again on the board: the deploy is done only if all match.
`device.json` and `data/` (the provisioning, the counter, the queue, the bonds)
are never touched.
"""

from __future__ import annotations

import os
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from msa.errors import MsaError, NotAvailable
from msa.firmware.build import Build, sha256_of

if TYPE_CHECKING:
    from mpremote.transport_serial import SerialTransport

ON_DEVICE = Path(__file__).with_name("on_device.py")
# The chip each board's build is for, as a port names it: "<board> with <MCU>".
MCU = {"esp32": "ESP32", "esp32c3": "ESP32C3", "nrf52840": "NRF52840"}
WRITE_CHUNK = 512
READ_TIMEOUT_S = 10.0  # mpremote's own waits for a board's answer


class DeployError(MsaError):
    """The board did not take the build, or did not answer."""


@dataclass
class DeployReport:
    port: str
    board: str
    device: str  # what the board says it is (sys.implementation._machine)
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    verified: int = 0
    rebooted: bool = False

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def summary(self) -> str:
        lines = [f"written  {p}" for p in self.written]
        lines += [f"removed  {p}" for p in self.removed]
        lines.append(
            f"{self.board} build on {self.port} ({self.device}): {len(self.written)} written, "
            f"{len(self.removed)} removed, {len(self.unchanged)} unchanged; "
            f"{self.verified} files verified by sha256 on the board"
            + ("; rebooted into it" if self.rebooted else "")
        )
        return "\n".join(lines)


def plan(build: Build, on_board: dict[str, str]) -> tuple[list[str], list[str], list[str]]:
    """(to write, to remove, unchanged) for a board whose flash holds `on_board`."""
    wanted = {f.path: f.sha256 for f in build.files}
    write = [p for p, digest in wanted.items() if on_board.get(p) != digest]
    unchanged = [p for p in wanted if p not in write]
    folders = _folders(build)
    remove = []
    for path in on_board:
        parent = str(PurePosixPath(path).parent)
        stale_in_folder = parent in folders and path not in wanted
        shadowing = parent == "." and path.endswith(".py") and path[:-3] + ".mpy" in wanted
        if stale_in_folder or shadowing:
            remove.append(path)
    return write, sorted(remove), unchanged


def wrong_board(board: str, machine: str) -> bool:
    """True if the board says it is another chip than the build is for (a build for
    the wrong board has the wrong button pin: the alarm would never go)."""
    if board == "emulated" or machine.startswith("linux"):  # the unix port
        return (board == "emulated") != machine.startswith("linux")
    _, with_, mcu = machine.rpartition(" with ")
    return bool(with_) and mcu.strip().upper() != MCU[board]


def _folders(build: Build) -> list[str]:
    """The folders the firmware owns on the flash (lib/firmware, lib/protocol)."""
    parents = {str(PurePosixPath(f.path).parent) for f in build.files}
    return sorted(p for p in parents if p != ".")


def _shadowed(build: Build) -> list[str]:
    return [f.path[:-4] + ".py" for f in build.files if f.path.endswith(".mpy")]


def connect(port: str) -> SerialTransport:
    """mpremote's transport to the board on `port`; NotAvailable says how to find it.
    A read waits at most READ_TIMEOUT_S for the board's next byte: one that stops
    answering fails the command (`transport_failures()`) instead of hanging it."""
    from mpremote.transport import TransportError
    from mpremote.transport_serial import SerialTransport

    hint = (
        "plug the board in with a data USB cable and find its port with `mpremote devs` "
        "(Linux: /dev/ttyUSB0 or /dev/ttyACM0; being in the dialout group gives access)"
    )
    if port.startswith("/dev/") and not os.path.exists(port):
        raise NotAvailable(f"no serial port {port}: {hint}")
    try:
        return SerialTransport(port, timeout=READ_TIMEOUT_S)
    except (TransportError, OSError) as error:
        raise NotAvailable(f"cannot open {port} ({error}): {hint}") from None


def transport_failures() -> tuple[type[Exception], ...]:
    """What mpremote raises when the board stops answering mid-command: its
    TransportError, or struct.error where it unpacks a reply that never came."""
    from mpremote.transport import TransportError

    return (TransportError, struct.error)


def deploy(
    port: str, build: Build, folder: Path, board: str | None = None, reboot: bool = True
) -> DeployReport:
    """Bring the board on `port` to exactly `build` (from `folder`) and verify it."""
    board = board or build.board
    if board != build.board:
        raise DeployError(
            f"the build in {folder} is for {build.board}, not {board}: "
            f"build it with msa firmware build --board {board}"
        )
    _check_folder(build, folder)
    transport = connect(port)
    try:
        transport.enter_raw_repl(soft_reset=True)  # the firmware stops; a fresh heap
        transport.exec(ON_DEVICE.read_bytes())
        paths = [f.path for f in build.files] + _shadowed(build)
        query = f"manifest({paths!r}, {_folders(build)!r})"
        machine = str(transport.eval("machine()"))
        if wrong_board(board, machine):
            restart(transport)  # refused: the board goes back to its firmware
            raise DeployError(
                f"the board on {port} says it is a {machine!r}, not an {board}: "
                "deploy the build for its board (--board); nothing was written, "
                "and the board runs its firmware again"
            )
        write, remove, unchanged = plan(build, transport.eval(query))
        report = DeployReport(port, board, machine)
        for path in write:
            _write(transport, path, (folder / path).read_bytes())
        for path in remove:
            transport.exec(f"os.remove({path!r})")
        after = transport.eval(query)
        _verify(build, after, port)
        report.written, report.removed, report.unchanged = write, remove, unchanged
        report.verified = len(build.files)
        if reboot:
            restart(transport)
            report.rebooted = True
        else:
            transport.exit_raw_repl()
        return report
    except transport_failures() as error:
        raise DeployError(
            f"the board on {port} failed during the deploy: {str(error).strip()}; "
            "run the deploy again (it writes only what differs); if it fails again, "
            "check the free flash with `mpremote connect PORT df`"
        ) from None
    finally:
        transport.close()


def restart(transport: SerialTransport) -> None:
    """Leave the raw REPL and soft-reboot: the board runs main.py (its firmware)."""
    transport.exit_raw_repl()
    transport.serial.write(b"\x04")  # Ctrl-D at the friendly REPL


def _check_folder(build: Build, folder: Path) -> None:
    """The build folder still holds what build.json says (nothing edited since)."""
    for f in build.files:
        path = folder / f.path
        if not path.is_file() or sha256_of(path) != f.sha256:
            raise DeployError(
                f"{path} is not the file msa firmware build made (missing or changed): "
                "build again with msa firmware build"
            )


def _write(transport: SerialTransport, path: str, data: bytes) -> None:
    parent = str(PurePosixPath(path).parent)
    if parent != ".":
        transport.exec(f"makedirs({parent!r})")
    temporary = path + ".tmp"
    transport.fs_writefile(temporary, data, chunk_size=WRITE_CHUNK)
    transport.exec(f"replace({temporary!r}, {path!r})")


def _verify(build: Build, on_board: dict[str, str], port: str) -> None:
    wrong, extra, _ = plan(build, on_board)
    if wrong or extra:
        raise DeployError(
            f"the flash of the board on {port} does not hold the build after the deploy "
            f"(differs: {', '.join(wrong) or 'none'}; left over: {', '.join(extra) or 'none'}); "
            "run the deploy again; if it fails again, check the free flash with "
            "`mpremote connect PORT df`"
        )
