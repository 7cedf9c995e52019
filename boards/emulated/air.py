"""The air between the emulated board and the phones: a Bumble `LocalLink` that
also loses links the way radios do.

Bumble's `LocalLink` delivers packets between controllers but has no link-layer
timers. On a real air a link whose peer vanished (a power cut) ends by the
supervision timeout, and a CONNECT_IND that no advertiser answers ends in
"connection failed to be established". Without those, a phone that connected
just as the button lost power would hold a link to nobody, forever. This class
gives the emulated air the same two endings, at once instead of after the timeout.

It also has a notion of range: `out_of_range(address)` carries a device out of
everyone's reach (its links end by the supervision timeout on both sides, and
nothing it sends is heard, nor does it hear anything) until `in_range(address)`.
Range follows the device's identity address (the one it was given, or claimed
with `claim()`, whatever private address it shows), so it outlasts a power cycle
of its radio and the rotation of its addresses.
"""

from __future__ import annotations

import asyncio

from bumble import hci, ll
from bumble.controller import Connection, Controller
from bumble.core import PhysicalTransport
from bumble.link import LocalLink

CONNECTION_TIMEOUT = hci.HCI_CONNECTION_TIMEOUT_ERROR  # the supervision timeout
FAILED_TO_BE_ESTABLISHED = hci.HCI_CONNECTION_FAILED_TO_BE_ESTABLISHED_ERROR


def _name(address: hci.Address | str) -> str:
    if isinstance(address, str):
        return address.upper()
    return address.to_string(False).upper()


class Air(LocalLink):
    def __init__(self) -> None:
        super().__init__()
        self.away: set[str] = set()  # identity addresses of the devices out of range
        self._identities: dict[Controller, str] = {}

    def claim(self, controller: Controller, identity: hci.Address | str) -> None:
        """`controller` is the device with this identity address, whatever it shows."""
        self._identities[controller] = _name(identity)

    def remove_controller(self, controller: Controller) -> None:
        super().remove_controller(controller)
        self._identities.pop(controller, None)
        self._end_links_with(controller)

    def _end_links_with(self, controller: Controller) -> None:
        gone = {controller.random_address, controller.public_address}
        gone |= {c.self_address for c in controller.le_connections.values()}
        for other in list(self.controllers):
            for peer, connection in list(other.le_connections.items()):
                if peer in gone:
                    self._lose(other, peer, connection)

    def _lose(self, controller: Controller, peer: hci.Address, connection: Connection) -> None:
        """`controller`'s link to `peer` lost its peer: it ends by the supervision
        timeout, here at once (the timed air waits for it)."""
        controller.on_le_disconnected(connection, CONNECTION_TIMEOUT)

    # -- range -------------------------------------------------------------------

    def out_of_range(self, address: str) -> None:
        """The device leaves everyone's range: each side of its links times out."""
        self.away.add(_name(address))
        for controller in [c for c in self.controllers if self._is_away(c)]:
            self._end_links_with(controller)
            for peer, connection in list(controller.le_connections.items()):
                self._lose(controller, peer, connection)

    def in_range(self, address: str) -> None:
        """The device is back: it hears and is heard again."""
        self.away.discard(_name(address))

    def _is_away(self, controller: Controller) -> bool:
        if not self.away:
            return False
        names = {_name(controller.random_address), _name(controller.public_address)}
        names.add(self._identities.get(controller, ""))
        return not names.isdisjoint(self.away)

    def send_acl_data(
        self,
        sender_controller: Controller,
        destination_address: hci.Address,
        transport: PhysicalTransport,
        data: bytes,
    ) -> None:
        if self.away:  # nobody away (the usual case): no look-ups on each packet
            receiver = self.find_le_controller(destination_address)
            if self._is_away(sender_controller) or (receiver and self._is_away(receiver)):
                return  # lost on the air
        super().send_acl_data(sender_controller, destination_address, transport, data)

    def send_ll_control_pdu(
        self, sender_address: hci.Address, receiver_address: hci.Address, packet: ll.ControlPdu
    ) -> None:
        if self.away:
            ends = (
                self.find_le_controller(sender_address),
                self.find_le_controller(receiver_address),
            )
            if any(end is not None and self._is_away(end) for end in ends):
                return
        super().send_ll_control_pdu(sender_address, receiver_address, packet)

    def send_advertising_pdu(self, sender: Controller, packet: ll.AdvertisingPdu) -> None:
        if self._is_away(sender):
            return  # nobody hears it
        loop = asyncio.get_running_loop()
        for controller in self.controllers:
            if controller is not sender and not self._is_away(controller):
                loop.call_soon(controller.on_ll_advertising_pdu, packet)
        if isinstance(packet, ll.ConnectInd):
            # Delivered with call_soon like the PDU itself, so it runs after it.
            loop.call_soon(self._check_established, sender, packet)

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
