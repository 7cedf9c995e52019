"""The magistrate's mail about a closed alarm: composed in the close's transaction,
sent by SMTP afterwards, retried until the mail server takes it.

The close writes the mail into the `notifications` outbox before the operator is
answered; `Notifier` sends what is due and, when the server is down or refuses,
tries again later (1 s, 5 s, 30 s, then every 60 s). Delivery is at least once: a
crash between the server's "250 OK" and the row being marked sent sends it again,
with the same Message-ID, so the receiving side can tell.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from msa.backend.background import WokenTask
from msa.errors import UsageError
from msa.timefmt import now_ms, to_iso

if TYPE_CHECKING:
    from msa.backend.store import Store
    from msa.backend.store.base import Notification
    from msa.backend.workflow import Close

log = logging.getLogger(__name__)

ACTOR = "system:mailer"
RETRY_S: tuple[float, ...] = (1.0, 5.0, 30.0, 60.0)
DEFAULT_SENDER = "msa-cic@localhost"
IDLE_CHECK_S = 60.0  # also look at the outbox this often (another process may have queued)
BATCH = 20  # mails claimed at a time
# A claimed mail is left to its node this long per mail of the batch (an SMTP exchange
# is bounded by SmtpConfig.timeout_s, 10 s): then any node may send it.
CLAIM_PER_MAIL_S = 15.0


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str
    port: int = 25
    sender: str = DEFAULT_SENDER
    timeout_s: float = 10.0
    retry_s: tuple[float, ...] = RETRY_S

    @classmethod
    def parse(cls, address: str, sender: str | None = None) -> SmtpConfig:
        """From `host:port` (or `host`, port 25), as `--smtp` and $MSA_SMTP give it."""
        host, _, port = address.rpartition(":") if ":" in address else (address, "", "25")
        try:
            number = int(port)
        except ValueError:
            number = -1
        if not host or not 0 < number < 65536:
            raise UsageError(f"SMTP server {address!r}: write HOST:PORT, e.g. mail.example:25")
        return cls(host, number, sender or DEFAULT_SENDER)


def compose(state: dict[str, Any], close: Close, extended_to: str | None) -> tuple[str, str]:
    """The mail's subject and text, from the alarm's row (store/workflow.py STATE).

    A confidential person is named by her national register number only.
    """
    who = (
        f"national register number {state['national_register_number']} (confidential)"
        if state["confidential"]
        else f"{state['full_name']} (national register number {state['national_register_number']})"
    )
    subject = (
        f"Stalkingalarm {state['reference']}: alarm {state['id']} closed, "
        f"outcome {close.outcome}, PV {close.pv_number or 'none'}"
    )
    lines = [
        "To the magistrate in charge,",
        "",
        f"The CIC closed a stalking alarm of case {state['reference']} "
        f"({state['judicial_district']}, managing zone {state['managing_zone']}).",
        "",
        f"Protected person: {who}",
        f"Alarm: {state['id']} (device {state['device_id']:08x}, frame {state['counter']})",
        f"Received: {to_iso(state['received_at'])}",
        f"Patrol: {state['patrol']} ({state['patrol_zone']})",
        f"Outcome: {close.outcome}",
        f"PV: {close.pv_number or 'none'}",
    ]
    if extended_to is not None:
        lines.append(f"Measure extended by 9 months: ends on {extended_to}.")
    lines += ["", "-- msa, the mobile stalking alarm backend (automatic message)"]
    return subject, "\n".join(lines) + "\n"


def message(notification: Notification, sender: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = notification.recipient
    mail["Subject"] = notification.subject
    mail["Message-ID"] = f"<msa-notification-{notification.id}@{sender.rpartition('@')[2]}>"
    mail.set_content(notification.body)
    return mail


def _send(config: SmtpConfig, mail: EmailMessage) -> None:
    with smtplib.SMTP(config.host, config.port, timeout=config.timeout_s) as smtp:
        smtp.send_message(mail)


class Notifier(WokenTask):
    """Sends the outbox's due mails; `wake()` after a close, and it tries at once.

    `on_sent(alarm_id)` runs after a mail is marked sent (the console shows it).
    """

    name = "magistrate notifier"

    def __init__(
        self,
        store: Store,
        config: SmtpConfig,
        on_sent: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__()
        self._store = store
        self._config = config
        self._on_sent = on_sent

    async def round(self) -> float:
        await self.send_due()
        due = await self._store.next_notification_at()
        wait_s = IDLE_CHECK_S if due is None else max(0.0, (due - now_ms()) / 1000)
        return min(wait_s, IDLE_CHECK_S)

    async def send_due(self) -> int:
        """Try every due mail once; the number sent."""
        sent = 0
        claim_ms = int(CLAIM_PER_MAIL_S * BATCH * 1000)
        for notification in await self._store.claim_notifications(now_ms(), claim_ms, BATCH):
            if await self._try(notification):
                sent += 1
        return sent

    async def _try(self, notification: Notification) -> bool:
        if notification.recipient is None:
            return await self._failed(
                notification, "the judicial district has no magistrate address: set one"
            )
        try:
            mail = message(notification, self._config.sender)
            await asyncio.to_thread(_send, self._config, mail)
        except (OSError, smtplib.SMTPException) as error:
            return await self._failed(notification, f"{type(error).__name__}: {error}")
        await self._store.notification_sent(notification.id, now_ms())
        if notification.alarm_id is None:
            log.info("mailed %s: %s", notification.recipient, notification.subject)
            return True
        log.info("magistrate notified of alarm %d", notification.alarm_id)
        if self._on_sent is not None:
            self._on_sent(notification.alarm_id)
        return True

    async def _failed(self, notification: Notification, error: str) -> bool:
        retry = _wait(self._config.retry_s, notification.attempts)
        log.warning(
            "mail for alarm %d not sent (attempt %d, next in %g s): %s",
            notification.alarm_id,
            notification.attempts + 1,
            retry,
            error,
        )
        await self._store.notification_failed(notification.id, error, now_ms() + int(retry * 1000))
        return False


def _wait(schedule: Sequence[float], attempts: int) -> float:
    return schedule[min(attempts, len(schedule) - 1)]
