"""Who is asking: phones and scripts by bearer token, operators' browsers by session.

Tokens and session ids are random; only their SHA-256 is stored. An operator is
either a script with `Authorization: Bearer <operator token>`, or a browser with
the session cookie a single-use log-in link opened (login.py). A session ends
after `idle_ms` without a request (an open console stream counts: login.py keeps
it alive), at `shift_ms` after the log-in whatever happens, or at log-out.

A browser's state-changing request must come from the console's own origin
(`Origin`, else `Referer`); a bearer request is no browser's and is not checked.
Failed log-ins (unknown bearer tokens here, bad links in login.py) are counted
per source: past a few, the source gets 429 before its credential is looked at.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from starlette.requests import Request

from msa.backend.errors import ApiError
from msa.backend.roles import CIC_OPERATOR
from msa.backend.services import services
from msa.backend.store.base import Operator
from msa.backend.store.sessions import Session, SessionStore, session_store
from msa.backend.throttle import FailureThrottle
from msa.timefmt import now_ms

log = logging.getLogger(__name__)

SESSION_COOKIE = "msa_console"
MINUTE_MS = 60_000
IDLE_MS = 30 * MINUTE_MS
SHIFT_MS = 12 * 60 * MINUTE_MS
TOUCH_EVERY_MS = MINUTE_MS  # a session's last activity is written at most this often
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOG_IN_FIRST = (
    "Log in first: open the log-in link the tech desk gave you "
    "(msa backend login-link NAME), or send 'Authorization: Bearer <operator token>'."
)

Origin = tuple[str, str, int]  # scheme, host, port


def new_token() -> str:
    """A fresh random token (256 bits, URL-safe), never beginning with "-": the tech
    desk passes it on a command line (`--phone-token TOKEN`), where argparse would
    take one beginning with "-" for an option (1 token in 64 did)."""
    while (token := secrets.token_urlsafe(32)).startswith("-"):
        pass
    return token


def hash_token(token: str) -> str:
    """What the database keeps of a token: its SHA-256, in hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer …` header, or None."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def phone_token(request: Request) -> str:
    """The phone's bearer token; ApiError 401 without one."""
    token = bearer_token(request)
    if token is None:
        raise ApiError(401, "unauthorized", "Send the phone's token: 'Authorization: Bearer …'.")
    return token


def unknown_phone() -> ApiError:
    return ApiError(401, "unauthorized", "This phone token is not known; re-provision the phone.")


def parse_origin(url: str) -> Origin | None:
    """(scheme, host, port) of an http(s) URL or Origin header; None for anything else."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)


@dataclass
class SessionPolicy:
    """How sessions and log-ins behave; `app.state.session_policy`. Tests swap `clock`."""

    public_url: str | None = None  # https://cic.example: the origin browsers see, if known
    idle_ms: int = IDLE_MS
    shift_ms: int = SHIFT_MS
    touch_every_ms: int = TOUCH_EVERY_MS
    clock: Callable[[], int] = now_ms
    throttle: FailureThrottle = field(init=False)

    def __post_init__(self) -> None:
        self.public_origin = None if self.public_url is None else parse_origin(self.public_url)
        if self.public_url is not None and self.public_origin is None:
            raise ValueError(f"not an http(s) URL: {self.public_url!r}")
        self.throttle = FailureThrottle(clock=self.now)

    def now(self) -> int:
        return self.clock()

    def own_origin(self, request: Request) -> Origin:
        """The console's origin: the public URL's, else the one this request was sent to."""
        if self.public_origin is not None:
            return self.public_origin
        url = request.url
        return url.scheme, (url.hostname or "").lower(), url.port or (443 if url.is_secure else 80)

    def secure(self, request: Request) -> bool:
        """Whether the browser reaches us over TLS (directly, or through a trusted proxy)."""
        return request.url.scheme == "https" or (
            self.public_origin is not None and self.public_origin[0] == "https"
        )

    def ended_because(self, session: Session | None, now: int) -> str | None:
        """Why this session cannot be used at `now`; None when it can."""
        if session is None:
            return LOG_IN_FIRST
        if session.ended_at is not None:
            return "You logged out of this session. Log in again with a new log-in link."
        if now >= session.expires_at:
            return (
                f"Your session reached its limit of {self.shift_ms // 3_600_000} hours (a shift). "
                "Log in again with a new log-in link."
            )
        if now - session.last_seen_at >= self.idle_ms:
            return (
                f"Your session ended after {self.idle_ms // MINUTE_MS} minutes without activity. "
                "Log in again with a new log-in link."
            )
        return None


def policy(request: Request) -> SessionPolicy:
    found: SessionPolicy = request.app.state.session_policy
    return found


def sessions(request: Request) -> SessionStore:
    return session_store(services(request).store)


def client_address(request: Request) -> str:
    """The request's source (a trusted proxy's X-Forwarded-For, applied by uvicorn)."""
    return request.client.host if request.client else "unknown"


def throttled(request: Request) -> ApiError | None:
    """The 429 for a source with no log-in try left; None when it may try."""
    retry_s = policy(request).throttle.retry_after_s(client_address(request))
    if retry_s is None:
        return None
    return ApiError(
        429,
        "too_many_failures",
        f"Too many failed log-ins from your address: try again in {retry_s} s.",
        headers={"Retry-After": str(retry_s)},
    )


def login_failed(request: Request, reason: str, operator: Operator | None = None) -> None:
    """Count a failed log-in against its source and log it: one line, never the secret."""
    source = client_address(request)
    throttle = policy(request).throttle
    throttle.failed(source)
    retry_s = throttle.retry_after_s(source)
    log.warning(
        "log-in refused: source=%s reason=%s%s%s",
        source,
        reason,
        "" if operator is None else f" operator={operator.name}",
        "" if retry_s is None else f" throttled_s={retry_s}",
    )


def check_origin(request: Request) -> None:
    """ApiError 403 unless a browser's state-changing request comes from our own origin."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get("origin") or request.headers.get("referer")
    own = policy(request).own_origin(request)
    if sent is not None and parse_origin(sent) == own:
        return
    shown = "none" if sent is None else sent[:100]
    raise ApiError(
        403,
        "cross_origin",
        f"Refused: this request comes from another origin ({shown}), not from the console "
        f"at {own[0]}://{own[1]}:{own[2]}. Use the console page itself.",
    )


async def current_session(request: Request) -> Session:
    """The browser's session, kept alive; ApiError 401 when it has none that is valid."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise ApiError(401, "unauthorized", LOG_IN_FIRST)
    rules = policy(request)
    store = sessions(request)
    session = await store.session(hash_token(cookie))
    now = rules.now()
    reason = rules.ended_because(session, now)
    if reason is not None or session is None:
        raise ApiError(401, "unauthorized", reason or LOG_IN_FIRST)
    if now - session.last_seen_at >= rules.touch_every_ms:
        await store.touch_session(session.id, now)
    request.state.session = session
    return session


async def require_operator(
    request: Request, role: str | tuple[str, ...] = CIC_OPERATOR
) -> Operator:
    """The operator behind the request's bearer token or session cookie.

    Raises ApiError 401 without a valid one, 429 for a bearer token from a source
    with too many failed log-ins, 403 for a browser's state-changing request from
    another origin or for an operator of another role.
    """
    token = bearer_token(request)
    if token is not None:
        refusal = throttled(request)
        if refusal is not None:
            raise refusal
        operator = await services(request).store.operator_by_token(hash_token(token))
        if operator is None:
            login_failed(request, "unknown_token")
            raise ApiError(
                401, "unauthorized", "This operator token is not known; ask the tech desk."
            )
    else:
        if request.cookies.get(SESSION_COOKIE):
            check_origin(request)
        operator = (await current_session(request)).operator
    allowed = (role,) if isinstance(role, str) else role
    if operator.role not in allowed:
        needed = " or ".join(allowed)
        raise ApiError(403, "forbidden", f"This needs the role {needed}; you have {operator.role}.")
    return operator
