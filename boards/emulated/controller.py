"""The controller of every radio on the emulated air: Bumble's virtual controller,
with what a real one does and Bumble's lacks."""

from __future__ import annotations

import asyncio
import secrets

from bumble import hci
from bumble.controller import Controller
from bumble.device import Device, DeviceConfiguration
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink


class RadioController(Controller):
    """Bumble's virtual controller, with a real controller's LE Create Connection
    Cancel (Core Vol 4 Part E 7.8.13): the pending connection ends, reported as an LE
    Connection Complete with Unknown Connection Identifier. Bumble's own keeps it
    pending for ever, so a phone that gave up on a button whose private address
    changed (a power cut, a rotation) could never connect again."""

    def on_hci_le_create_connection_cancel_command(
        self, command: hci.HCI_LE_Create_Connection_Cancel_Command
    ) -> hci.HCI_StatusReturnParameters:
        pending, self.pending_le_connection = self.pending_le_connection, None
        if pending is None:
            return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.COMMAND_DISALLOWED_ERROR)
        failed = hci.HCI_LE_Connection_Complete_Event(
            status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR,
            connection_handle=0,
            role=hci.Role.CENTRAL,
            peer_address_type=pending.peer_address.address_type,
            peer_address=pending.peer_address,
            connection_interval=0,
            peripheral_latency=0,
            supervision_timeout=0,
            central_clock_accuracy=0,
        )
        # After the Command Complete that the return value becomes.
        asyncio.get_running_loop().call_soon(self.send_hci_packet, failed)
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)


def device_on(air: LocalLink, name: str) -> Device:
    """A Bumble device with its own controller on `air`, under a new random static
    address: a phone, a scanner, any central a test needs beside the boards."""
    address = bytearray(secrets.token_bytes(6))
    address[0] |= 0xC0  # a random static address
    controller = RadioController(name, link=air)
    return Device(
        config=DeviceConfiguration(
            name=name,
            address=hci.Address(bytes(reversed(address)), hci.Address.RANDOM_DEVICE_ADDRESS),
        ),
        host=Host(controller, AsyncPipeSink(controller)),
    )
