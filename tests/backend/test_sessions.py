"""Operator sessions on both engines: single-use log-in links, idle and absolute
expiry (on an injected clock, no waiting), log-out, the Origin check, and the
throttling of failed log-ins with its log lines."""

from __future__ import annotations

import asyncio

import pytest

from msa.backend.auth import IDLE_MS, SESSION_COOKIE, SHIFT_MS, SessionPolicy, hash_token
from msa.backend.login import issue_login_link, while_session_lasts
from msa.backend.seed import DEMO_OPERATOR
from msa.backend.store import StoreUnavailable
from msa.backend.store.base import Operator
from msa.backend.store.sessions import NewSession, Session, session_store
from msa.backend.throttle import BURST
from msa.timefmt import now_ms
from tests.backend.util import OPERATOR, PHONE, body, signed

MINUTE = 60_000
OWN_ORIGIN = {"Origin": "http://backend"}  # the backend fixture's client: http://backend


class Clock:
    """The backend's clock, moved by the test."""

    def __init__(self) -> None:
        self.ms = now_ms()

    def __call__(self) -> int:
        return self.ms

    def advance(self, ms: int) -> None:
        self.ms += ms


@pytest.fixture
def clock(backend) -> Clock:
    fake = Clock()
    backend.app.state.session_policy.clock = fake
    return fake


async def new_link(backend, clock: Clock, minutes: int = 10) -> str:
    store = session_store(backend.store)
    link = await issue_login_link(store, DEMO_OPERATOR, minutes, now=clock())
    assert link is not None
    return link.path


async def log_in(backend, clock: Clock) -> str:
    """Open a fresh link; the session id the browser now holds."""
    response = await backend.client.get(await new_link(backend, clock))
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/console"
    return backend.client.cookies[SESSION_COOKIE]


async def as_browser(backend, path="/api/v1/zones"):
    """A request with only the session cookie (the client's jar) to show for itself."""
    return await backend.client.get(path)


async def audited(backend, action: str) -> list[tuple[str, str, str | None]]:
    async with backend.store._connection() as conn:
        rows = await conn.fetch(
            "SELECT actor, subject, detail FROM audit WHERE action = $1 ORDER BY id", action
        )
    return [(row["actor"], row["subject"], row["detail"]) for row in rows]


async def test_a_link_opens_one_session_with_a_strict_cookie(backend, clock):
    link = await new_link(backend, clock)
    response = await backend.client.get(link)
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    session_id = backend.client.cookies[SESSION_COOKIE]
    assert len(session_id) >= 43  # 256 random bits, not the operator's token
    assert session_id not in (link, OPERATOR["Authorization"])
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/", f"max-age={SHIFT_MS // 1000}"} <= attributes
    assert "secure" not in attributes  # served over plain HTTP here
    assert (await as_browser(backend)).status_code == 200
    assert (await as_browser(backend, "/console")).status_code == 200
    # The database holds the session id's hash, never the id.
    stored = await session_store(backend.store).session(hash_token(session_id))
    assert stored is not None and stored.operator.name == DEMO_OPERATOR
    assert await audited(backend, "operator.login") == [
        (f"operator:{stored.operator.id}", f"session:{stored.id}", "from 127.0.0.1")
    ]


async def test_a_link_works_once(backend, clock, caplog):
    link = await new_link(backend, clock)
    assert (await backend.client.get(link)).status_code == 303
    backend.client.cookies.clear()
    again = await backend.client.get(link)
    assert again.status_code == 401
    assert "was used already" in again.text
    assert SESSION_COOKIE not in again.headers.get("set-cookie", "")
    code = link.split("code=")[1]
    refused = [r.getMessage() for r in caplog.records if "log-in refused" in r.getMessage()]
    assert refused == [
        f"log-in refused: source=127.0.0.1 reason=used_code operator={DEMO_OPERATOR}"
    ]
    assert not any(code in record.getMessage() for record in caplog.records)


async def test_a_late_link_is_refused(backend, clock):
    link = await new_link(backend, clock, minutes=2)
    clock.advance(2 * MINUTE)
    late = await backend.client.get(link)
    assert late.status_code == 401
    assert "has expired" in late.text
    assert backend.client.cookies.get(SESSION_COOKIE) is None
    assert await audited(backend, "operator.login") == []


async def test_links_without_a_code_or_with_the_old_token_are_refused(backend, clock):
    missing = await backend.client.get("/console/login")
    assert missing.status_code == 400 and "no log-in code" in missing.text
    old = await backend.client.get("/console/login", params={"token": "operator-token-of-the-cic"})
    assert old.status_code == 400 and "no longer accepted" in old.text
    unknown = await backend.client.get("/console/login", params={"code": "x" * 43})
    assert unknown.status_code == 401 and "not known" in unknown.text


async def test_a_session_ends_after_thirty_idle_minutes(backend, clock):
    await log_in(backend, clock)
    for _ in range(3):  # activity keeps it going, well past 30 minutes in all
        clock.advance(IDLE_MS - MINUTE)
        assert (await as_browser(backend)).status_code == 200
    clock.advance(IDLE_MS)
    idle = await as_browser(backend)
    assert idle.status_code == 401
    assert "30 minutes without activity" in idle.json()["detail"]
    page = await as_browser(backend, "/console")
    assert page.status_code == 401 and "30 minutes without activity" in page.text


async def test_a_session_ends_after_twelve_hours_however_active(backend, clock):
    await log_in(backend, clock)
    started = clock()
    while clock() + 20 * MINUTE < started + SHIFT_MS:
        clock.advance(20 * MINUTE)
        assert (await as_browser(backend)).status_code == 200
    clock.advance(started + SHIFT_MS - clock())
    over = await as_browser(backend)
    assert over.status_code == 401
    assert "limit of 12 hours" in over.json()["detail"]


async def test_log_out_ends_the_session_in_the_database(backend, clock):
    session_id = await log_in(backend, clock)
    page = await backend.client.get("/console/logout")
    assert page.status_code == 200 and 'method="post"' in page.text
    assert (await as_browser(backend)).status_code == 200  # a GET ends nothing
    response = await backend.client.post("/console/logout", headers=OWN_ORIGIN)
    assert response.status_code == 303 and response.headers["location"] == "/console"
    assert 'msa_console=""' in response.headers["set-cookie"]
    assert backend.client.cookies.get(SESSION_COOKIE) is None
    # The old cookie, kept by someone, is worthless now.
    backend.client.cookies.set(SESSION_COOKIE, session_id)
    stale = await as_browser(backend)
    assert stale.status_code == 401 and "logged out" in stale.json()["detail"]
    stored = await session_store(backend.store).session(hash_token(session_id))
    assert stored is not None and stored.ended_at == clock()
    logouts = await audited(backend, "operator.logout")
    assert logouts == [(f"operator:{stored.operator.id}", f"session:{stored.id}", "from 127.0.0.1")]


async def test_a_log_out_from_another_site_is_refused(backend, clock):
    await log_in(backend, clock)
    for headers in ({}, {"Origin": "https://elsewhere.example"}, {"Origin": "null"}):
        refused = await backend.client.post("/console/logout", headers=headers)
        assert refused.status_code == 403 and "another origin" in refused.text
    assert (await as_browser(backend)).status_code == 200
    assert await audited(backend, "operator.logout") == []


async def test_a_browsers_steps_must_come_from_the_consoles_origin(backend, clock):
    frame_answer = await backend.client.post("/api/v1/frames", json=body(signed(1)), headers=PHONE)
    acknowledge = f"/api/v1/alarms/{frame_answer.json()['alarm_id']}/acknowledge"
    await log_in(backend, clock)
    for headers in (
        {},  # no Origin, no Referer
        {"Origin": "https://elsewhere.example"},
        {"Origin": "http://backend:8080"},  # another port is another origin
        {"Origin": "null"},
        {"Referer": "https://elsewhere.example/console"},
    ):
        refused = await backend.client.post(acknowledge, json={}, headers=headers)
        assert refused.status_code == 403, headers
        assert refused.json()["error"] == "cross_origin"
        assert "another origin" in refused.json()["detail"]
    alarm = await backend.store.alarm(frame_answer.json()["alarm_id"])
    assert alarm is not None and alarm.status == "open"
    by_referer = {"Referer": "http://backend/console"}  # when a browser sends no Origin
    assert (await backend.client.post(acknowledge, json={}, headers=by_referer)).status_code == 200
    assert (await backend.client.post(acknowledge, json={}, headers=OWN_ORIGIN)).status_code == 200
    # A script with the bearer token is no browser: no Origin needed.
    backend.client.cookies.clear()
    assert (await backend.client.post(acknowledge, json={}, headers=OPERATOR)).status_code == 200


async def test_behind_a_tls_proxy_the_public_url_decides_origin_and_cookie(backend, clock):
    policy = SessionPolicy("https://cic.example")
    policy.clock = clock
    backend.app.state.session_policy = policy
    response = await backend.client.get(await new_link(backend, clock))
    assert "secure" in response.headers["set-cookie"].lower().split("; ")
    # httpx keeps a Secure cookie from an http:// URL to itself: send it by hand.
    cookie = {"Cookie": f"{SESSION_COOKIE}={response.cookies[SESSION_COOKIE]}"}
    backend.client.cookies.clear()
    public = await backend.client.post(
        "/console/logout", headers={**cookie, "Origin": "https://cic.example"}
    )
    assert public.status_code == 303
    internal = await backend.client.post("/console/logout", headers={**cookie, **OWN_ORIGIN})
    assert internal.status_code == 403  # the address the proxy used is not the console's


async def test_failed_log_ins_are_throttled_per_source_and_logged(backend, clock, caplog):
    good = await new_link(backend, clock)
    for attempt in range(BURST):
        code = f"guess-{attempt}"
        response = await backend.client.get("/console/login", params={"code": code})
        assert response.status_code == 401
    throttled = await backend.client.get(good)  # a good link too: not even looked at
    assert throttled.status_code == 429
    assert 1 <= int(throttled.headers["retry-after"]) <= 60
    assert "Too many failed log-ins" in throttled.text
    # Bearer tokens from the same address: refused unseen, the real one as well.
    api = await backend.client.get("/api/v1/zones", headers=OPERATOR)
    assert api.status_code == 429 and api.json()["error"] == "too_many_failures"
    lines = [r.getMessage() for r in caplog.records if r.name == "msa.backend.auth"]
    assert lines[:-1] == ["log-in refused: source=127.0.0.1 reason=unknown_code"] * (BURST - 1)
    assert lines[-1].startswith("log-in refused: source=127.0.0.1 reason=unknown_code throttled_s=")
    assert not any("guess-" in r.getMessage() for r in caplog.records)
    # One try comes back after its share of a minute; the good link was not spent.
    clock.advance(int(throttled.headers["retry-after"]) * 1000)
    assert (await backend.client.get(good)).status_code == 303


async def test_unknown_bearer_tokens_count_as_failed_log_ins(backend, clock, caplog):
    await log_in(backend, clock)
    cookies = dict(backend.client.cookies)
    backend.client.cookies.clear()
    for _ in range(BURST):
        nobody = {"Authorization": "Bearer guessed-token"}
        assert (await backend.client.get("/api/v1/zones", headers=nobody)).status_code == 401
    assert (await backend.client.get("/api/v1/zones", headers=OPERATOR)).status_code == 429
    reasons = [r.getMessage().split()[3] for r in caplog.records if "log-in refused" in r.message]
    assert reasons == ["reason=unknown_token"] * BURST
    assert not any("guessed-token" in record.getMessage() for record in caplog.records)
    # An operator already logged in from that address keeps working: a session is no log-in.
    backend.client.cookies.update(cookies)
    assert (await as_browser(backend)).status_code == 200


# --- the store's side, on both engines -------------------------------------------


async def test_two_racing_uses_of_a_link_open_one_session(backend, clock):
    store = session_store(backend.store)
    link = await issue_login_link(store, DEMO_OPERATOR, now=clock())
    code_hash = hash_token(link.path.split("code=")[1])
    attempts = [
        NewSession(hash_token(f"session-{n}"), "127.0.0.1", clock(), clock() + SHIFT_MS)
        for n in range(6)
    ]
    results = await asyncio.gather(*(store.redeem_login_link(code_hash, s) for s in attempts))
    assert sorted(result.outcome for result in results) == ["opened"] + ["used"] * 5
    assert len(await audited(backend, "operator.login")) == 1


async def test_touch_moves_activity_forward_only_and_not_after_log_out(backend, clock):
    store = session_store(backend.store)
    session_id = await log_in(backend, clock)
    token_hash = hash_token(session_id)
    session = await store.session(token_hash)
    assert session is not None
    assert await store.touch_session(session.id, clock() + MINUTE)
    assert await store.touch_session(session.id, clock())  # an older activity: kept as it was
    assert (await store.session(token_hash)).last_seen_at == clock() + MINUTE
    assert await store.end_session(token_hash, clock() + 2 * MINUTE, "127.0.0.1") is not None
    assert await store.end_session(token_hash, clock() + 3 * MINUTE, "127.0.0.1") is None
    assert not await store.touch_session(session.id, clock() + 4 * MINUTE)
    assert await store.add_login_link("nobody", "0" * 64, clock(), clock() + MINUTE) is None


# --- an open console stream is activity --------------------------------------------


class Touches:
    """A SessionStore's touch_session, recorded; `open` False once logged out."""

    def __init__(self) -> None:
        self.at: list[int] = []
        self.open = True

    async def touch_session(self, session_id: int, at: int) -> bool:
        self.at.append(at)
        return self.open


class Stream:
    """A console stream's body: a keepalive every 15 s of the fake clock, for ever."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.closed = False

    async def __aiter__(self):
        try:
            while True:
                self.clock.advance(15_000)
                await asyncio.sleep(0)  # the event loop's turn: a touch started runs now
                yield ": keepalive\n\n"
        finally:
            self.closed = True


def streamed_session(clock: Clock) -> Session:
    operator = Operator(1, DEMO_OPERATOR, "cic_operator")
    return Session(7, operator, clock(), clock(), clock() + SHIFT_MS, None)


async def chunks_until(body, clock: Clock, until_ms: int) -> int:
    count = 0
    async for _ in body:
        count += 1
        if clock() >= until_ms:
            break
    return count


async def test_an_open_stream_keeps_its_session_alive_without_waiting_for_it():
    clock = Clock()
    policy = SessionPolicy(clock=clock)
    touches, stream = Touches(), Stream(clock)
    start = clock()
    body = while_session_lasts(stream.__aiter__(), streamed_session(clock), touches, policy)
    assert await chunks_until(body, clock, start + 2 * 60 * MINUTE) == 480
    await body.aclose()
    # Recorded once a minute, for two hours: far past the 30 idle minutes.
    assert touches.at == [start + minute * MINUTE for minute in range(1, 120)]
    assert stream.closed


async def test_a_stream_ends_at_its_sessions_end_or_log_out():
    clock = Clock()
    policy = SessionPolicy(clock=clock)
    session = streamed_session(clock)
    stream = Stream(clock)
    body = while_session_lasts(stream.__aiter__(), session, Touches(), policy)
    count = await chunks_until(body, clock, session.expires_at + 60 * MINUTE)
    assert count == SHIFT_MS // 15_000 - 1  # the chunk at 12 h is not sent any more
    assert stream.closed

    touches, stream = Touches(), Stream(clock)
    body = while_session_lasts(stream.__aiter__(), streamed_session(clock), touches, policy)
    assert await chunks_until(body, clock, clock() + 5 * MINUTE + 15_000) == 21
    touches.open = False  # logged out in another tab, just after a touch
    sent = await chunks_until(body, clock, clock() + 10 * MINUTE)
    assert sent == 3  # until the next touch, a minute after the last: then it ends
    assert stream.closed


async def test_a_database_away_does_not_end_a_stream(caplog):
    class Unreachable(Touches):
        async def touch_session(self, session_id: int, at: int) -> bool:
            self.at.append(at)
            raise StoreUnavailable("the database is away")

    clock = Clock()
    touches, stream = Unreachable(), Stream(clock)
    policy = SessionPolicy(clock=clock)
    body = while_session_lasts(stream.__aiter__(), streamed_session(clock), touches, policy)
    assert await chunks_until(body, clock, clock() + 5 * MINUTE) == 20
    await body.aclose()
    assert len(touches.at) == 4  # every minute, each failing, none ending the stream
    assert caplog.text.count("could not record a console stream's activity") == 4
