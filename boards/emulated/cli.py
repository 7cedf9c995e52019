"""`msa board`: run an emulated board and drive it like a bench.

    msa board run [--dir .msa/board]      # flash, power on, serve; Ctrl-C to stop
    msa board run --boards 2 --blank      # two boards on one air, MicroPython alone
    msa board press [--hold 150]          # from another terminal
    msa board battery 3300
    msa board power cycle                 # off | on | cycle
    msa board status --json               # radio events counted since `run`, RPA in use

`run` prints the board's serial port (for mpremote) and keeps a control socket in
the board's folder, which the other sub-commands use. With `--boards N` the boards
share one air (they hear and connect to each other, as two boards on a bench) and
live in DIR/board1 ... DIR/boardN: `--dir DIR/board2` drives the second.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import socket
from pathlib import Path
from typing import Any

from bumble.transport.common import Transport

from boards.emulated.controller import RadioController
from boards.emulated.emulator import EmulatedBoard
from boards.emulated.hci_server import serve_hci
from boards.emulated.timed_air import AIRS, air_named
from msa.errors import NotAvailable, UsageError
from msa.folders import FolderLock

DEFAULT_DIR = Path(".msa/board")
MAX_BOARDS = 8


def register(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    run_ = actions.add_parser("run", help="flash the firmware, power on, serve until Ctrl-C")
    run_.add_argument("--device-id", type=lambda t: int(t, 16), help="provision with this id (hex)")
    run_.add_argument("--key", help="provision with this 32-byte key (hex); default: random")
    run_.add_argument(
        "--boards", type=int, default=1, metavar="N", help="boards on one air, 1 to 8 (1)"
    )
    run_.add_argument(
        "--blank",
        action="store_true",
        help="MicroPython alone, no firmware: for your own programs (mpremote run)",
    )
    run_.add_argument(
        "--air",
        choices=AIRS,
        default="instant",
        help="timed: connection events and advertising delays as a radio's (instant)",
    )
    run_.add_argument(
        "--hci-port",
        type=int,
        metavar="PORT",
        help="let a phone in another process join the board's air over TCP HCI "
        "(0: any free port, printed)",
    )
    press = actions.add_parser("press", help="press the button")
    press.add_argument("--hold", type=int, default=150, metavar="MS", help="(%(default)s ms)")
    battery = actions.add_parser("battery", help="set the battery voltage")
    battery.add_argument("millivolts", type=int)
    power = actions.add_parser("power", help="cut or restore the power")
    power.add_argument("state", choices=("off", "on", "cycle"))
    status = actions.add_parser("status", help="what the board is doing")
    status.add_argument("--json", action="store_true")
    for sub in (run_, press, battery, power, status):
        sub.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="(%(default)s)")


def run(args: argparse.Namespace) -> int:
    if args.action == "run":
        if not 1 <= args.boards <= MAX_BOARDS:
            raise UsageError(f"--boards {args.boards}: from 1 to {MAX_BOARDS}")
        if args.blank and args.device_id is not None:
            raise UsageError("--blank boards have no firmware to provision: leave out --device-id")
        return asyncio.run(_serve(args))
    request: dict[str, Any] = {"action": args.action}
    if args.action == "press":
        request["hold_ms"] = args.hold
    elif args.action == "battery":
        if not 0 < args.millivolts < 10_000:
            raise UsageError("battery voltage in millivolts, e.g. 3300")
        request["millivolts"] = args.millivolts
    elif args.action == "power":
        request["state"] = args.state
    answer = asyncio.run(_ask(args.dir, request))
    if args.action == "status":
        print(
            json.dumps(answer) if args.json else "\n".join(f"{k:12} {v}" for k, v in answer.items())
        )
    return 0


async def _ask(directory: Path, request: dict[str, Any]) -> dict[str, Any]:
    path = directory / "control.sock"
    try:
        reader, writer = await asyncio.open_unix_connection(str(path))
    except OSError:
        raise NotAvailable(
            f"no board is running in {directory}: start one with `msa board run --dir {directory}`"
        ) from None
    writer.write(json.dumps(request).encode() + b"\n")
    answer = json.loads(await reader.readline())
    writer.close()
    if "error" in answer:
        raise UsageError(answer["error"])
    return answer


async def _serve(args: argparse.Namespace) -> int:
    with FolderLock(args.dir, "msa board run"):
        return await _run_board(args)


async def _run_board(args: argparse.Namespace) -> int:
    hci_port = None
    if args.hci_port is not None:  # first: a port it cannot have changes nothing
        transport, hci_port = await _hci_server(args.hci_port)
    air = air_named(args.air)
    folders = [args.dir]
    if args.boards > 1:
        folders = [args.dir / f"board{n + 1}" for n in range(args.boards)]
    boards = [EmulatedBoard(folder, air) for folder in folders]
    for n, board in enumerate(boards):
        if not args.blank:
            board.flash_firmware()
        if args.device_id is not None:
            key = args.key or secrets.token_bytes(32).hex()
            board.provision({"device_id": args.device_id + n, "key": key})
    if args.hci_port is not None:
        RadioController("phone", host_source=transport.source, host_sink=transport.sink, link=air)
    controls = []
    try:
        for board in boards:
            await board.power_on()
            controls.append(
                await asyncio.start_unix_server(
                    lambda r, w, board=board: _control(board, r, w),
                    path=str(board.directory / "control.sock"),
                )
            )
            _announce(board)
        if hci_port is not None:
            print(f"msa board: phone HCI    bumble:tcp-client:127.0.0.1:{hci_port}", flush=True)
        await asyncio.Event().wait()
    finally:
        for control in controls:
            control.close()
        for board in boards:
            with contextlib.suppress(FileNotFoundError):
                (board.directory / "control.sock").unlink()
            await board.close()
    return 0


def _announce(board: EmulatedBoard) -> None:
    print(f"msa board: serial port  {board.serial_port}   (mpremote connect {board.serial_port})")
    print(f"msa board: address      {board.address}")
    print(f"msa board: console log  {board.directory / 'console.log'}")
    print(
        f"msa board: control      msa board press|battery|power|status --dir {board.directory}",
        flush=True,
    )


async def _hci_server(port: int) -> tuple[Transport, int]:
    """The phone's HCI on a TCP port of this machine, bound here and kept: with
    port 0 the system picks a free one, and no other process can take it between
    a probe and the bind."""
    if not 0 <= port <= 65535:
        raise UsageError(f"--hci-port {port}: a TCP port is 0 to 65535; 0 for any free one")
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as error:
        sock.close()
        raise NotAvailable(
            f"--hci-port {port}: {error.strerror}; choose another port, or 0 for any free one"
        ) from None
    return await serve_hci(sock), sock.getsockname()[1]


async def _control(
    board: EmulatedBoard, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        request = json.loads(await reader.readline())
        answer = await _act(board, request)
    except (ValueError, KeyError) as error:
        answer = {"error": f"bad control request: {error}"}
    writer.write(json.dumps(answer).encode() + b"\n")
    await writer.drain()
    writer.close()


async def _act(board: EmulatedBoard, request: dict[str, Any]) -> dict[str, Any]:
    action = request["action"]
    if action == "press":
        await board.press(int(request["hold_ms"]))
    elif action == "battery":
        board.set_battery_mv(int(request["millivolts"]))
    elif action == "power":
        if request["state"] in ("off", "cycle"):
            await board.power_cut()
        if request["state"] in ("on", "cycle"):
            await board.power_on()
    elif action != "status":
        return {"error": f"unknown action {action!r}"}
    events = board.radio_events()
    return {
        "powered": board.powered,
        "address": board.address,
        "air_address": board.air_address,
        "serial_port": board.serial_port,
        "battery_mv": board.hardware.inputs.battery_mv,
        "notifications": events.get("notifications", 0),
        "connections": events.get("connections", 0),
        "advertising_events": events.get("advertising_events", 0),
        "connection_events": events.get("connection_events", 0),
        "rpa_rotations": events.get("rpa_rotations", 0),
    }
