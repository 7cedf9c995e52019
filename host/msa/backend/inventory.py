"""The tech desk's inventory of buttons, per judicial district: which state a
button may go to from which, and what to tell the officer when it may not.

    stock ──provision──► assigned ──revoke──► lost ──provision (the same person:
      ▲                     │                        a replacement board)──► assigned
      │                 decommission ──► stock or repair
      └── add / move ◄── repair, returned

A button enters with `msa inventory add` (stock), is assigned by `msa backend
provision`, marked lost by `msa backend revoke`, and moves between stock, repair
and returned with `msa inventory move`. It leaves `assigned` only by `msa
decommission` (wipe, prove blank, revoke, return): refused here, so that no button
leaves a victim's books while its key and token still work.
"""

from __future__ import annotations

from typing import get_args

from msa.backend.store.base import InventoryState as State
from msa.errors import UsageError

STATES: tuple[State, ...] = get_args(State)
MOVABLE: tuple[State, ...] = ("stock", "repair", "returned")  # `msa inventory move --to`
MAX_DISTRICT_NAME = 80
MAX_MIN_STOCK = 10_000


class InventoryError(UsageError):
    """A change the inventory refuses; the message says why and what to do."""


def check_district(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= MAX_DISTRICT_NAME:
        raise InventoryError(
            f"a judicial district's name has 1 to {MAX_DISTRICT_NAME} characters, not {len(name)}"
        )
    return name


def check_added(device: str, now: State | None) -> None:
    """A button added to stock (new, or back from repair or a return)."""
    if now in ("assigned", "lost"):
        raise InventoryError(
            f"device {device} is {now}: it cannot go back to stock"
            + (": msa decommission it first" if now == "assigned" else "")
        )


def check_moved(device: str, now: State | None, to: State) -> None:
    if now is None:
        raise InventoryError(f"device {device} is not in the inventory: msa inventory add it")
    if to not in MOVABLE:
        raise InventoryError(f"a button moves to {', '.join(MOVABLE)}; not to {to!r}")
    if now in ("assigned", "lost"):
        raise InventoryError(
            f"device {device} is {now}: "
            + (
                "it is a victim's alarm: msa decommission --port PORT --device-id "
                f"{device} wipes it, revokes it and returns it"
                if now == "assigned"
                else "a lost button stays lost"
            )
        )


def check_assigned(
    device: str, now: State | None, holder: int | None, person_id: int, holder_case: str | None
) -> None:
    """Provisioning assigns the button to a person: from stock, a return, or the same
    person again (re-provisioning; a replacement board of a lost one)."""
    if now in (None, "stock", "returned"):
        return
    if now in ("assigned", "lost") and holder == person_id:
        return
    if now == "assigned":
        raise InventoryError(
            f"device {device} is assigned to another person (case {holder_case}): "
            "take a button from stock"
        )
    raise InventoryError(f"device {device} is {now}: take a button from stock")


def shortage_mail(district: str, stock: int, minimum: int) -> tuple[str, str]:
    """The reference magistrate's mail when the district's stock falls under its level."""
    subject = f"Stalkingalarm {district}: {stock} button(s) in stock, under the level of {minimum}"
    body = "\n".join(
        [
            "To the reference magistrate,",
            "",
            f"The police tech desk of the judicial district {district} has {stock} mobile",
            f"stalking alarm button(s) in stock, under its reorder level of {minimum}.",
            "New cases may wait for a button until the stock is replenished.",
            "",
            "This mail is sent once per shortage; the next one only after the stock",
            "has been back at its level.",
            "",
            "-- msa, the mobile stalking alarm backend",
        ]
    )
    return subject, body + "\n"
