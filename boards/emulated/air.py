"""The air between the emulated board and the phones: a Bumble `LocalLink` that
also loses links the way radios do.

Bumble's `LocalLink` delivers packets between controllers but has no link-layer
timers. On a real air a link whose peer vanished (a power cut) ends by the
supervision timeout, and a CONNECT_IND that no advertiser answers ends in
"connection failed to be established". Without those, a phone that connected
just as the button lost power would hold a link to nobody, forever. This class
gives the emulated air the same two endings, at once instead of after the timeout.
"""

from __future__ import annotations

import asyncio

from bumble import hci, ll
from bumble.controller import Controller
from bumble.link import LocalLink

CONNECTION_TIMEOUT = hci.HCI_CONNECTION_TIMEOUT_ERROR  # the supervision timeout
FAILED_TO_BE_ESTABLISHED = hci.HCI_CONNECTION_FAILED_TO_BE_ESTABLISHED_ERROR


class Air(LocalLink):
    def remove_controller(self, controller: Controller) -> None:
        super().remove_controller(controller)
        gone = {controller.random_address, controller.public_address}
        gone |= {c.self_address for c in controller.le_connections.values()}
        for other in list(self.controllers):
            for peer, connection in list(other.le_connections.items()):
                if peer in gone:
                    other.on_le_disconnected(connection, CONNECTION_TIMEOUT)

    def send_advertising_pdu(self, sender: Controller, packet: ll.AdvertisingPdu) -> None:
        super().send_advertising_pdu(sender, packet)
        if isinstance(packet, ll.ConnectInd):
            # Delivered with call_soon like the PDU itself, so it runs after it.
            asyncio.get_running_loop().call_soon(self._check_established, sender, packet)

    def _check_established(self, central: Controller, packet: ll.ConnectInd) -> None:
        connection = central.le_connections.get(packet.advertiser_address)
        if connection is None:
            return  # already ended
        answered = any(
            packet.initiator_address in c.le_connections
            for c in self.controllers
            if c is not central
        )
        if not answered:
            central.on_le_disconnected(connection, FAILED_TO_BE_ESTABLISHED)
