"""The console's pages for logging in and out, and the console page itself.

    GET  /console                  the console (an operator's session), else a page on how to log in
    GET  /console/login?code=…     a single-use log-in link: opens a session, 303 to /console
    GET  /console/logout           a page with the log-out button
    POST /console/logout           ends the session in the database, drops the cookie, 303

A log-in link (`msa backend login-link NAME`) works once, for `LINK_MINUTES`
minutes. The session cookie holds a random id (HttpOnly, SameSite=Strict, Path=/,
Secure over TLS); auth.py says when a session ends. An open console stream is
activity: `keeps_session_alive` records it while the stream runs, and ends the
stream when its session ends.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from msa.backend.auth import (
    SESSION_COOKIE,
    SessionPolicy,
    check_origin,
    client_address,
    hash_token,
    login_failed,
    new_token,
    policy,
    require_operator,
    sessions,
    throttled,
)
from msa.backend.console_page import BASE_HEADERS, console_page_with, csp
from msa.backend.errors import ApiError
from msa.backend.roles import HOME
from msa.backend.store import StoreUnavailable
from msa.backend.store.base import Operator
from msa.backend.store.sessions import NewSession, Session, SessionStore
from msa.timefmt import now_ms

log = logging.getLogger(__name__)

LINK_MINUTES = 10  # how long a log-in link works, unless it is made with another time
MAX_LINK_MINUTES = 60
MAX_CODE_CHARS = 100  # a code is 43; anything longer is not one of ours

# No external resources at all: the console works offline and takes no injected script.
# Referrer `same-origin`: a form posted from our own page keeps its Origin (with
# `no-referrer` Chromium sends `Origin: null`); other sites still learn nothing.
PAGE_HEADERS = {"Content-Security-Policy": csp(None), **BASE_HEADERS}

_PAGE = """<!doctype html><meta charset="utf-8"><title>msa console: {title}</title>
<h1>{title}</h1>
<p>{reason}</p>
{more}"""

_HOW_TO_LOG_IN = """<p>To log in, open the log-in link the tech desk gave you
(<code>msa backend login-link YOUR_NAME</code> prints one). A link works once, for
a few minutes; your session then lasts your shift, at most 12 hours, and ends
after 30 minutes without the console open.</p>"""

_LOG_OUT_FORM = """<form method="post" action="/console/logout">
<button type="submit">Log out</button></form>
<p><a href="/console">Back to the console</a></p>"""


@dataclass(frozen=True, slots=True)
class LoginLink:
    operator: Operator
    path: str  # /console/login?code=…: the secret is in it
    expires_at: int


async def issue_login_link(
    store: SessionStore, operator_name: str, minutes: int = LINK_MINUTES, now: int | None = None
) -> LoginLink | None:
    """A new single-use log-in link for the operator; None when there is no such operator."""
    if not 1 <= minutes <= MAX_LINK_MINUTES:
        raise ValueError(f"a log-in link works 1 to {MAX_LINK_MINUTES} minutes, not {minutes}")
    code = new_token()
    created_at = now_ms() if now is None else now
    expires_at = created_at + minutes * 60_000
    operator = await store.add_login_link(operator_name, hash_token(code), created_at, expires_at)
    if operator is None:
        return None
    return LoginLink(operator, f"/console/login?code={code}", expires_at)


def page(title: str, reason: str, status: int, more: str = _HOW_TO_LOG_IN, **kw: Any) -> Response:
    text = _PAGE.format(title=html.escape(title), reason=html.escape(reason), more=more)
    return HTMLResponse(text, status_code=status, headers={**PAGE_HEADERS, **kw})


def _refusal_page(error: ApiError) -> Response:
    return page("Log in to the CIC console", error.detail, error.status, **error.headers)


async def console_page(request: Request) -> Response:
    try:
        await require_operator(request)
    except ApiError as error:
        return _refusal_page(error)
    return console_page_with(request.app.state.tiles)


_REFUSED = {
    "unknown": "This log-in link is not known: check that it was copied whole, or ask "
    "the tech desk for a new one.",
    "used": "This log-in link was used already: each link works once. Ask the tech desk "
    "for a new one.",
    "expired": "This log-in link has expired: a link works for a few minutes. Ask the "
    "tech desk for a new one.",
}


async def login(request: Request) -> Response:
    code = request.query_params.get("code", "")
    if not code:
        reason = "This address has no log-in code."
        if "token" in request.query_params:
            reason = "Log-in links with an operator token are no longer accepted."
        return page("Log in to the CIC console", reason, 400)
    refusal = throttled(request)
    if refusal is not None:
        return _refusal_page(refusal)
    rules = policy(request)
    now = rules.now()
    session_id = new_token()
    session = NewSession(hash_token(session_id), client_address(request), now, now + rules.shift_ms)
    if len(code) > MAX_CODE_CHARS:
        outcome, operator = "unknown", None
    else:
        redeemed = await sessions(request).redeem_login_link(hash_token(code), session)
        outcome, operator = redeemed.outcome, redeemed.operator
    if outcome != "opened":
        login_failed(request, f"{outcome}_code", operator)
        return page("Log in to the CIC console", _REFUSED[outcome], 401)
    assert operator is not None
    home = HOME.get(operator.role, "/console")  # each role lands on its own page
    response = RedirectResponse(home, status_code=303, headers=PAGE_HEADERS)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=rules.shift_ms // 1000,
        path="/",
        secure=rules.secure(request),
        httponly=True,
        samesite="strict",
    )
    return response


async def logout(request: Request) -> Response:
    if request.method == "GET":
        return page("Log out of the CIC console", "End your session here.", 200, _LOG_OUT_FORM)
    try:
        check_origin(request)
    except ApiError as error:
        return page("Log out of the CIC console", error.detail, error.status, _LOG_OUT_FORM)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        at = policy(request).now()
        await sessions(request).end_session(hash_token(cookie), at, client_address(request))
    response = RedirectResponse("/console", status_code=303, headers=PAGE_HEADERS)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=policy(request).secure(request))
    return response


Endpoint = Callable[[Request], Awaitable[Response]]


def keeps_session_alive(endpoint: Endpoint) -> Endpoint:
    """`endpoint` (a stream) with its browser session kept alive while it streams.

    Every `touch_every_ms` that the stream sends something (its keepalive comes
    every 15 s) the session's activity is recorded, in the background so that no
    alarm waits for it; the stream ends at the session's absolute expiry, and at
    the first recording after a log-out.
    """

    async def streaming(request: Request) -> Response:
        response = await endpoint(request)
        session: Session | None = getattr(request.state, "session", None)
        body = getattr(response, "body_iterator", None)
        if session is not None and body is not None:
            setattr(  # noqa: B010 (StreamingResponse's attribute, typed on the subclass)
                response,
                "body_iterator",
                while_session_lasts(body, session, sessions(request), policy(request)),
            )
        return response

    return streaming


async def while_session_lasts(
    body: AsyncIterator[Any], session: Session, store: SessionStore, rules: SessionPolicy
) -> AsyncIterator[Any]:
    """The chunks of `body`, as long as `session` lasts (see keeps_session_alive)."""
    touched_at = rules.now()
    touching: asyncio.Task[bool] | None = None
    try:
        async for chunk in body:
            now = rules.now()
            if touching is not None and touching.done():
                if not _still_open(touching):
                    return
                touching = None
            if now >= session.expires_at:
                return
            yield chunk
            if touching is None and now - touched_at >= rules.touch_every_ms:
                touched_at = now
                touching = asyncio.create_task(store.touch_session(session.id, now))
    finally:
        if touching is not None and not touching.done():
            touching.cancel()
        elif touching is not None:
            _still_open(touching)  # its failure, if any, is logged
        closing = getattr(body, "aclose", None)
        if closing is not None:
            await closing()


def _still_open(touch: asyncio.Task[bool]) -> bool:
    """A finished touch's answer: False once the session was ended. A touch that
    failed keeps the stream going (the alarms matter more), and is logged."""
    if touch.cancelled():
        return True
    error = touch.exception()
    if isinstance(error, StoreUnavailable):
        log.warning("could not record a console stream's activity: %s", error)
    elif error is not None:
        log.error("recording a console stream's activity failed: %r", error)
    return error is not None or touch.result()


routes = [
    Route("/console", console_page),
    Route("/console/login", login),
    Route("/console/logout", logout, methods=["GET", "POST"]),
]
