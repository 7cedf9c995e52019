"""The evidence chainer: alarms are committed in one statement, for speed, without
their evidence entry; this task chains them (store/evidence.py), woken after each
alarm and every few seconds anyway, so an alarm committed just before a crash is
chained by the next backend to start. It never holds up an alarm's push."""

from __future__ import annotations

from msa.backend.background import WokenTask
from msa.backend.store import Store

CHAIN_EVERY_S = 5.0


class EvidenceChainer(WokenTask):
    name = "evidence chainer"
    retry_s = CHAIN_EVERY_S

    def __init__(self, store: Store) -> None:
        super().__init__()
        self._store = store

    async def round(self) -> float:
        await self._store.chain_evidence()
        return CHAIN_EVERY_S
