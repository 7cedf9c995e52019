"""The chain on the bench: `msa.demo.stack.Stack` with the hand a test or a
benchmark needs and the demo does not (wait until nothing is in flight, count
the backend's rows, post a frame of one's own)."""

from __future__ import annotations

import asyncio
import time

import httpx

from msa.app.location import GHENT
from msa.demo.stack import STARTUP_TIMEOUT_S, Stack


class Chain(Stack):
    async def settled(self, timeout: float = STARTUP_TIMEOUT_S) -> None:
        """Wait until nothing is in flight: the button's and the phone's outboxes are empty
        (the button forgets a frame on its receipt: every frame is committed then), and
        the console has been pushed every alarm the backend stored.

        A real board's outbox is not readable while its firmware runs: there, the
        button's queue is what it said it queued and the phone has not received."""
        assert self.board is not None and self.phone is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        outbox = self.phone.outbox
        # Delivered frames wait in the phone until their receipt is written to the button.
        while (button := self._button_queue()) or outbox.count("pending") + outbox.count(
            "delivered"
        ):
            if loop.time() > deadline:
                raise TimeoutError(
                    f"still in flight after {timeout:.0f} s: button {button}, phone "
                    f"{outbox.count('pending')} pending, {outbox.count('delivered')} delivered"
                )
            await asyncio.sleep(0.01)  # a condition poll, like Console.expect
        if self.console is not None:
            stored = (await self.counts())["alarms"]
            await self.console.until_shown(stored, max(deadline - loop.time(), 1.0))

    def _button_queue(self) -> int:
        assert self.phone is not None and self.board is not None
        return self.board.frames_held({counter for _, counter in self.frames})

    async def counts(self) -> dict[str, int]:
        """Rows per table in the backend's database."""
        from msa.backend.store import open_store

        store = await open_store(self.database_url)
        try:
            return await store.counts()
        finally:
            await store.close()

    async def post_frame(self, data: bytes) -> httpx.Response:
        """Send a frame to the backend as the phone does (for replay and forgery tests)."""
        assert self.phone is not None
        return await self.phone.forwarder.post(data, time.time(), GHENT.current())
