"""The tech desk's time: a full `msa provision` on the emulated board, then `msa decommission`.

The whole flow as the officer runs it, over the board's pseudo-terminal with the
real mpremote: the board checked, the key and token issued, device.json written
and read back with the test alarm armed, the firmware started, the victim's phone
bonded (the app link on Bumble, at once), the test gesture made (the gesture
itself lasts about 6 s: a rest, a 4 s hold, two taps) and confirmed by the CIC
through the console's API at once. People take longer than this; the figure is
what the tools add to them, against the goal of 2 minutes for the whole flow.

    msa bench provision --json [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._args import out_of_bounds
from hwtest.desk import tech_desk
from msa.waiting import cancelled

GOAL_S = 120.0
DEVICE = "0badf00d"
# Its six steps (msa/desk/provision.py), after the command's own start.
STEPS = ("board", "key", "write", "firmware", "bond", "test_alarm")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=int, default=3, help="buttons provisioned, one at a time")


def run(args: argparse.Namespace) -> dict[str, Any]:
    error = out_of_bounds(args, (("runs", 1, 20),))
    if error is not None:
        return error
    runs = []
    for n in range(args.runs):
        with tempfile.TemporaryDirectory(prefix=f"msa-provision-{n}-") as folder:
            runs.append(asyncio.run(_once(Path(folder))))
    total = [r["provision_s"] for r in runs]
    return {
        "runs": args.runs,
        "provision_s": round(statistics.median(total), 2),
        "provision_max_s": round(max(total), 2),
        "steps_s": {
            step: round(statistics.median(r["steps_s"][step] for r in runs), 2)
            for step in runs[0]["steps_s"]
        },
        "test_call_s": round(statistics.median(r["test_call_s"] for r in runs), 2),
        "decommission_s": round(statistics.median(r["decommission_s"] for r in runs), 2),
        "goal_s": GOAL_S,
        "ratio": round(max(total) / GOAL_S, 3),
    }


async def _once(folder: Path) -> dict[str, Any]:
    async with tech_desk(folder) as desk:
        start = time.monotonic()
        flow = await desk.provision(DEVICE)
        marks = {"start": start}
        for step, name in enumerate(STEPS[:4], 1):
            await flow.until(rf"\[{step}/6\]")
            marks[name] = time.monotonic()
            if name == "key":
                token = (await flow.until(r"phone token (\S+)")).group(1)
        await flow.until(r"\[5/6\]")
        marks["bond"] = time.monotonic()
        phone = desk.phone(DEVICE, token)
        await phone.pair()
        await flow.until(r"\[6/6\]")
        marks["test_alarm"] = time.monotonic()
        relay = asyncio.create_task(phone.run())
        try:
            call_start = time.monotonic()
            await desk.test_call(phone)  # the phone linked, the gesture, the CIC's two steps
            test_call_s = time.monotonic() - call_start
            await flow.finished()
            end = time.monotonic()
        finally:
            await cancelled(relay)
            await phone.link.close()
            await phone.forwarder.close()
        bounds = [*marks.values(), end]
        steps = {name: bounds[i + 1] - bounds[i] for i, name in enumerate(marks)}
        decommission_start = time.monotonic()
        await desk.decommission(DEVICE)
        decommission_s = time.monotonic() - decommission_start
    return {
        "provision_s": end - start,
        "steps_s": steps,
        "test_call_s": test_call_s,
        "decommission_s": decommission_s,
    }
