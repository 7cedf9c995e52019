"""The police tech desk's work on a button in hand, over its USB serial REPL:
`msa provision` (provision.py, provision_cli.py), `msa arm-test` (arm.py) and
`msa decommission` (wipe.py, cli.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from msa.errors import MsaError

if TYPE_CHECKING:
    from mpremote.transport_serial import SerialTransport

T = TypeVar("T")


class BoardError(MsaError):
    """The button on the port did not do what was asked, or is not the one named;
    the message says what happened and what to do."""


def on_repl(port: str, work: Callable[[SerialTransport], T], reboot: bool = False) -> T:
    """Stop the firmware, run `work` on the raw REPL (mpremote's transport), leave
    the REPL, and with `reboot` soft-reboot into the firmware (also when `work`
    raised); BoardError, saying to run the command again, if the board stops
    answering on the way."""
    from msa.firmware.deploy import connect, restart, transport_failures

    transport = connect(port)
    try:
        transport.enter_raw_repl(soft_reset=True)  # the firmware stops; a fresh heap
        try:
            return work(transport)
        finally:
            if reboot:
                restart(transport)
            else:
                transport.exit_raw_repl()
    except transport_failures() as error:
        raise BoardError(
            f"the board on {port} stopped answering: {str(error).strip() or error!r}; "
            "run the same command again (it goes on where it stopped)"
        ) from None
    finally:
        transport.close()
