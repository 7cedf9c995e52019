"""Forwards the phone's outbox to the backend, retrying until each frame is acknowledged.

The answers and what the phone does with each are in protocol/SPEC.md §7: a 200
(`committed` or `duplicate`) keeps the frame's receipt for the button (the phone
writes it, then deletes the frame: msa/app/phone.py), a definitive 4xx keeps it as
rejected, a 501 `unsupported_version` (a button newer than its backend) sets it
aside for a long back-off, never drops it, and anything else (5xx, 401, no answer)
is retried with back-off.

The phone knows one or more backend URLs (nodes of one backend, on one database):
a request that gets no answer or a 5xx moves the phone to the next node, and the
frame is tried there at once; only once every node failed does it back off. A
frame committed by a node that died before it answered is sent again to the next
one, which answers `duplicate` with the same receipt (ingest is idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from msa.app.outbox import Entry, Outbox
from msa.timefmt import to_iso
from msa.waiting import within
from protocol import frame

log = logging.getLogger(__name__)

FIRST_RETRY_S = 0.25
MAX_RETRY_S = 30.0
# A node whose machine went silently (no RST) must not hold an alarm long: the
# phone gives up on it after these and tries the next (ingest is idempotent).
REQUEST_TIMEOUT_S = 4.0
CONNECT_TIMEOUT_S = 2.0
DEFINITIVE = {400, 403, 404, 409, 422}  # the same request can never succeed
NOT_YET = 501  # unsupported_version: the backend will know it once it is updated
LATER_FIRST_S = 60.0
LATER_MAX_S = 3600.0
FRAMES = "/api/v1/frames"

Delivered = Callable[[Entry, dict[str, Any]], None]


class Forwarder:
    def __init__(
        self,
        outbox: Outbox,
        backend_url: str | Sequence[str],
        phone_token: str | Mapping[int, str],
        client: httpx.AsyncClient | None = None,
    ) -> None:
        """`backend_url`: the backend's URL, or its nodes' URLs, tried in turn.
        `phone_token`: the phone's token, or its tokens by key epoch (SPEC §4):
        a frame goes with the token of its counter's epoch, else with the one
        token given."""
        self.outbox = outbox
        urls = [backend_url] if isinstance(backend_url, str) else list(backend_url)
        if not urls:
            raise ValueError("the phone needs at least one backend URL")
        self.backend_urls = [url.rstrip("/") for url in urls]
        self._node = 0  # the node the phone talks to now
        timeout = httpx.Timeout(REQUEST_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
        self.client = client or httpx.AsyncClient(timeout=timeout)
        if isinstance(phone_token, str):
            self.tokens: dict[int, str] = {}
            self.default_token: str | None = phone_token
        else:
            self.tokens, self.default_token = dict(phone_token), None
        self.on_delivered: Delivered | None = None
        self._wake = asyncio.Event()
        self._retry_s = FIRST_RETRY_S
        self._tried = 0  # nodes that failed in a row

    @property
    def base_url(self) -> str:
        """The backend node the phone talks to now."""
        return self.backend_urls[self._node]

    def next_node(self) -> bool:
        """Move on to the next node; False once every node failed in a row (back
        off, then go on from there)."""
        self._node = (self._node + 1) % len(self.backend_urls)
        self._tried += 1
        if self._tried < len(self.backend_urls):
            return True
        self._tried = 0
        return False

    async def post_json(self, path: str, body: Any, token: str) -> httpx.Response:
        """POST to the node the phone talks to, and to the next while one gives no
        answer or a 5xx; once every node failed, the last answer (or its error)."""
        while True:
            try:
                response = await self.client.post(
                    self.base_url + path, json=body, headers={"Authorization": f"Bearer {token}"}
                )
            except httpx.HTTPError as error:
                if not self.next_node():
                    raise
                log.warning("no answer from a backend node (%r): trying %s", error, self.base_url)
                continue
            if response.status_code < 500 or response.status_code == NOT_YET:
                self._tried = 0
                return response
            if not self.next_node():
                return response
            log.warning("a node answered %d: trying %s", response.status_code, self.base_url)

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            entries = self.outbox.pending()
            if not entries:
                due = self.outbox.next_retry()
                wait = None if due is None else max(0.0, due - time.time())
                with contextlib.suppress(TimeoutError):
                    await within(self._wake.wait(), wait)
                continue
            if not await self._send_all(entries):
                # Back off, but a new frame (an alarm) is tried at once.
                try:
                    await within(self._wake.wait(), self._retry_s)
                except TimeoutError:
                    pass
                self._retry_s = min(self._retry_s * 2, MAX_RETRY_S)

    async def _send_all(self, entries: list[Entry]) -> bool:
        for entry in entries:
            if not await self.send(entry):
                return False
        self._retry_s = FIRST_RETRY_S
        return True

    def latest_token(self) -> str:
        """The token of the newest epoch: the phone's own reports go with it."""
        return self.token_for(max(self.tokens, default=0))

    def token_for(self, epoch: int) -> str:
        token = self.tokens.get(epoch, self.default_token)
        return "-" if token is None else token  # none: the backend answers 401, kept

    async def post(
        self, data: bytes, received_at: float, location: dict[str, Any] | None
    ) -> httpx.Response:
        """One frame's request of SPEC §7 (to the nodes in turn), as is: no bookkeeping."""
        received = to_iso(round(received_at * 1000))
        body = {"frame": data.hex(), "received_at": received, "location": location}
        epoch = int.from_bytes(data[6:10], "big") >> 24 if len(data) >= 10 else 0
        return await self.post_json(FRAMES, body, self.token_for(epoch))

    async def send(self, entry: Entry) -> bool:
        """Post one frame; True when it is settled (delivered or rejected for good)."""
        try:
            response = await self.post(entry.data, entry.received_at, entry.location)
        except httpx.HTTPError as error:
            self.outbox.failed(entry, f"no answer from the backend: {error!r}")
            return False
        return self._settle(entry, response)

    def _settle(self, entry: Entry, response: httpx.Response) -> bool:
        if response.status_code == 200:
            answer = response.json()
            log.info(
                "relayed frame %08x/%d: %s", entry.device_id, entry.counter, answer.get("status")
            )
            self.outbox.delivered(entry, _receipt(entry, answer))
            if self.on_delivered is not None:
                self.on_delivered(entry, answer)
            return True
        detail = _detail(response)
        if response.status_code == NOT_YET or _error(response) == "wrong_epoch":
            # Newer than the backend, or of an epoch whose token this phone lacks
            # (re-provisioned meanwhile): kept, never dropped, tried again later.
            delay = min(LATER_FIRST_S * 2 ** min(entry.attempts, 6), LATER_MAX_S)
            log.warning(
                "backend cannot read frame %d/%d yet (%s): kept, tried again in %.0f s",
                entry.device_id, entry.counter, detail, delay,
            )  # fmt: skip
            self.outbox.later(entry, detail, delay)
            return True
        if response.status_code in DEFINITIVE:
            log.error("backend refused frame %d/%d: %s", entry.device_id, entry.counter, detail)
            self.outbox.rejected(entry, detail)
            return True
        if response.status_code == 401:
            log.error(
                "the backend refuses this phone's token (%s): frame %08x/%d kept and tried "
                "again; the tech desk must re-provision the phone",
                detail, entry.device_id, entry.counter,
            )  # fmt: skip
        self.outbox.failed(entry, detail)
        return False

    async def close(self) -> None:
        await self.client.aclose()


def _receipt(entry: Entry, answer: Any) -> bytes | None:
    """The receipt of a 200, or None from a backend that gives none (said in the log)."""
    text = answer.get("receipt") if isinstance(answer, dict) else None
    try:
        receipt = bytes.fromhex(text) if isinstance(text, str) else b""
    except ValueError:
        receipt = b""
    if len(receipt) != frame.RECEIPT_SIZE:
        log.warning(
            "backend committed frame %d/%d without a receipt: the button keeps it",
            entry.device_id, entry.counter,
        )  # fmt: skip
        return None
    return receipt


def _error(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
        return f"{response.status_code} {body.get('error')}: {body.get('detail')}"
    except ValueError:
        return f"{response.status_code} {response.text[:200]}"
