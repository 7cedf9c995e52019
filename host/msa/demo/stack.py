"""The whole chain on one machine: backend, emulated board, phone, CIC console.

    press ─► firmware ─► BLE notify ─► phone (app link) ─► backend ─► console
    (board)   (MicroPython)  (Bumble)      (outbox, ack)     (HTTP)     (SSE)

`Stack` starts each part as its user has it: the backend as its own process
(`msa backend serve`), the button as the real firmware on the emulated board,
the phone as the app link on Bumble, a console as an SSE client. It records
when each hop saw each frame, which is what `msa demo --headless` prints and
what the latency benchmark measures. The bench's extra hand (settled, counts,
post_frame) is hwtest/harness.py's `Chain`.

Given a `board` (a real button: hwtest/serial_board.py) and a `link` (`bleak`,
`bumble:usb:0`), the stack seeds the backend with the board's own device id and
key, read from its device.json, instead of making an emulated board.

The stack's folder is its owner's alone (0700), and it makes the backend's
key-encryption key there (`kek`, 0600) unless one is there already.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from boards.emulated.emulator import EmulatedBoard
from boards.emulated.timed_air import TimedAir, air_named
from boards.interface import Board
from msa import children, cleanup, folders
from msa.app.forwarder import Forwarder
from msa.app.link import LinkParameters, open_link
from msa.app.location import GHENT, Location
from msa.app.outbox import Outbox
from msa.app.phone import Phone
from msa.app.reports import PhoneReports
from msa.backend.keys import kek_at
from msa.backend.process import BackendProcess, msa_command
from msa.demo.console_client import ConsoleClient
from msa.errors import MsaError
from msa.timefmt import parse_iso
from msa.waiting import cancelled, wait_until, within
from protocol import frame

log = logging.getLogger(__name__)

HOPS = ("press", "ble_notify", "app_receive", "backend_commit", "console_push")
STARTUP_TIMEOUT_S = 30.0
PRESS_GAP_S = 0.1


async def run_msa_json(*args: str) -> dict[str, Any]:
    """Run an `msa` sub-command with --json and return what it printed."""
    process = await asyncio.create_subprocess_exec(
        *msa_command(*args, "--json"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=children.preexec(),
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise MsaError(f"msa {' '.join(args)} failed: {err.decode().strip()}")
    return json.loads(out)


@dataclass
class Alarm:
    """One frame's way through the chain, for the timings."""

    device_id: int
    counter: int
    kind: str
    data: bytes  # the frame as the button sent it
    t: dict[str, float] = field(default_factory=dict)  # hop -> Unix seconds

    def report(self) -> dict[str, Any]:
        start = self.t["press"]
        return {
            "device_id": f"{self.device_id:08x}",
            "counter": self.counter,
            "kind": self.kind,
            "t": {hop: self.t[hop] for hop in HOPS if hop in self.t},
            "hops_ms": {
                hop: round((self.t[hop] - start) * 1000, 3) for hop in HOPS if hop in self.t
            },
            "latency_ms": round((self.t["console_push"] - start) * 1000, 3),
        }


class Stack:
    def __init__(
        self,
        directory: Path,
        database_url: str | None = None,
        settings: dict[str, Any] | None = None,
        board: Board | None = None,  # a real board (hwtest/serial_board.py); None: emulated
        link: str = "bumble:local",
        air: str = "instant",  # or "timed": connection events and advDelay (timed_air.py)
        parameters: LinkParameters | None = None,  # on the timed air; default: provisioned
        location: Location = GHENT,  # the victim's phone: standing, or GHENT.walking()
    ) -> None:
        self.directory = directory
        self.settings = settings or {}  # device.json beyond id and key (firmware/settings.py)
        self.database_url = database_url or f"sqlite:///{directory / 'backend.db'}"
        self.kek_file = directory / "kek"
        self.air = air_named(air)
        self.parameters = parameters or LinkParameters.of_board("emulated")
        self.backend = BackendProcess(self.database_url, directory / "backend.log", self.kek_file)
        self.board: Board | None = board
        self.link = link
        self.location = location
        self.phone: Phone | None = None
        self.console: ConsoleClient | None = None
        self.credentials: dict[str, Any] = {}
        self.frames: dict[tuple[int, int], Alarm] = {}
        self._presses: list[float] = []
        self._released = 0.0
        self._phone_task: asyncio.Task[None] | None = None

    @classmethod
    def fresh(
        cls,
        directory: Path,
        database_url: str | None = None,
        settings: dict[str, Any] | None = None,
        **given: Any,  # board, link: see __init__
    ) -> Self:
        """A stack in an emptied directory: new keys, new board, new database.

        Only a folder the demo made (or an empty one) is emptied; UsageError otherwise.
        """
        folders.fresh(directory, "msa demo").chmod(0o700)  # it holds the KEK
        return cls(directory, database_url, settings, **given)

    async def start(self) -> None:
        kek_at(self.kek_file)
        if self.board is None:
            self.credentials = await run_msa_json("backend", "seed-demo", *self._backend_options)
        else:
            await self._seed_with_the_boards_key()
        device_id = int(self.credentials["device_id"], 16)
        url = await self.backend.start()

        settings = {"device_id": device_id, "key": self.credentials["key"], **self.settings}
        if self.board is None:
            self.board = EmulatedBoard(self.directory / "board", self.air)
        board = self.board
        board.on_notify = self._on_notify
        await board.boot(settings)

        link = open_link(self.link, board.address, self.directory / "phone", local_link=self.air)
        if isinstance(self.air, TimedAir):
            link.parameters = self.parameters
        outbox = Outbox(self.directory / "phone" / "outbox.db")
        forwarder = Forwarder(outbox, url, self.credentials["phone_token"])
        reports = PhoneReports(forwarder, self.location)
        self.phone = Phone(link, outbox, forwarder, device_id, self.location, reports)
        self.phone.on_received = self._on_received
        await self.phone.pair()
        await self.phone_back()

        self.console = ConsoleClient(url, self.credentials["operator_token"])
        self.console.on_alarm = self._on_console
        await self.console.start()

    async def _seed_with_the_boards_key(self) -> None:
        """The demo case for the device id on the board, registered with its key."""
        assert self.board is not None
        provisioned = await self.board.read_provisioning()
        device_id = f"{provisioned['device_id']:08x}"
        self.credentials = await run_msa_json(
            "backend", "seed-demo", *self._backend_options,
            "--device-id", device_id, "--key", provisioned["key"],
        )  # fmt: skip

    @property
    def _backend_options(self) -> tuple[str, ...]:
        return ("--db", self.database_url, "--kek-file", str(self.kek_file))

    @property
    def hops(self) -> tuple[str, ...]:
        """The hops timed: a real board's notify is seen by the phone first."""
        if self.board is not None and "notify_seen" in self.board.capabilities:
            return HOPS
        return tuple(hop for hop in HOPS if hop != "ble_notify")

    @property
    def console_url(self) -> str:
        """The log-in link seed-demo made: it works once, for ten minutes."""
        return self.backend.url + self.credentials["console_login"]

    # -- hop timings -----------------------------------------------------------

    def _alarm(self, received: frame.Frame) -> Alarm:
        key = (received.device_id, received.counter)
        if key not in self.frames:
            self.frames[key] = Alarm(
                received.device_id, received.counter, received.name, received.to_bytes()
            )
        return self.frames[key]

    def _match_press(self, alarm: Alarm, received: frame.Frame) -> None:
        """The oldest unmatched press is this alarm's, at the first hop that sees it
        (the notify on the emulated board; the app on a real board, which has no hook)."""
        is_alarm = received.type in (frame.ALARM, frame.TEST_ALARM)
        if is_alarm and "press" not in alarm.t and self._presses:
            alarm.t["press"] = self._presses.pop(0)

    def _on_notify(self, data: bytes) -> None:
        with contextlib.suppress(frame.FrameError):
            received = frame.parse(data)
            alarm = self._alarm(received)
            alarm.t.setdefault("ble_notify", time.time())
            self._match_press(alarm, received)

    def _on_received(self, received: frame.Frame, at: float) -> None:
        alarm = self._alarm(received)
        alarm.t.setdefault("app_receive", at)
        self._match_press(alarm, received)

    def _on_console(self, event: dict[str, Any], at: float) -> None:
        alarm = self.frames.get((int(event["device_id"], 16), int(event["counter"])))
        if alarm is None:
            return
        alarm.t.setdefault("backend_commit", parse_iso(event["committed_at"]) / 1000)
        alarm.t.setdefault("console_push", at)

    # -- the phone's comings and goings -------------------------------------------

    async def phone_away(self) -> None:
        """The phone leaves (switched off, out of range): nothing is received."""
        if self._phone_task is not None:
            await cancelled(self._phone_task)
            self._phone_task = None
        if self.phone is not None:
            await self.phone.link.disconnect()

    async def phone_back(self) -> None:
        """The phone returns and links up again."""
        assert self.phone is not None
        if self._phone_task is None:
            self._phone_task = asyncio.create_task(self.phone.run(), name="phone")
        await within(self.phone.linked.wait(), STARTUP_TIMEOUT_S)

    async def arm_test_alarm(self, minutes: float = 15, until: float | None = None) -> None:
        """The tech desk arms the test alarm; a board that rebooted for it is linked
        to its phone again (which sets its clock: the arming counts) when this returns."""
        assert self.board is not None and self.phone is not None
        phone, links = self.phone, self.phone.links
        if await self.board.arm_test_alarm(minutes, until):
            await wait_until(
                lambda: phone.links > links and phone.linked.is_set(),
                STARTUP_TIMEOUT_S,
                "the phone linked again after the arming's reboot",
            )

    async def press(self, hold_ms: int = 150) -> Alarm:
        """Press the button and wait until the alarm is on the console."""
        assert self.board is not None
        return await self.gesture(self.board.press(hold_ms))

    async def gesture(self, action: Awaitable[None]) -> Alarm:
        """Do something with the button (`board.long_press(…)`, `board.presses(…)`,
        `board.test_gesture()`) and wait until its alarm is on the console."""
        assert self.board is not None and self.console is not None
        # A finger lifts before it presses again; closer presses are one press.
        await asyncio.sleep(max(0.0, self._released + PRESS_GAP_S - time.monotonic()))
        self._presses.append(time.time())
        seen = self.console.next_alarm()
        await action
        self._released = time.monotonic()
        event = await within(seen, STARTUP_TIMEOUT_S)
        return self.frames[(int(event["device_id"], 16), int(event["counter"]))]

    async def stop(self) -> None:
        """Release everything (each step runs whatever an earlier one raised)."""
        steps: list[cleanup.Step] = [self.phone_away]
        if self.console is not None:
            steps.append(self.console.stop)
        if self.phone is not None:
            phone = self.phone
            steps += [phone.link.close, phone.forwarder.close, phone.outbox.close]
        if self.board is not None:
            steps.append(self.board.close)
        steps.append(self.backend.stop)
        await cleanup.release(*steps)


def default_directory() -> Path:
    return Path(os.environ.get("MSA_DEMO_DIR", ".msa/demo"))
