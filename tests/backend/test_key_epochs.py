"""Key epochs (SPEC §4): re-provisioning never makes a later frame collide with an
earlier one, each phone token reaches its own epoch only, and a revoked key's
frames are refused and recorded for the CIC."""

from __future__ import annotations

from msa.backend.auth import hash_token
from protocol import frame
from tests.backend.util import DEVICE_ID, KEY, PHONE, body, signed

NEW_KEY = bytes(range(100, 132))
NEW_PHONE = {"Authorization": "Bearer phone-token-of-epoch-1"}
EPOCH_1 = 1 << 24


async def re_provision(backend) -> int:
    person_id = backend.seeded["person_id"]
    epoch = await backend.store.register_device(DEVICE_ID, NEW_KEY, person_id)
    await backend.store.link_phone(hash_token("phone-token-of-epoch-1"), person_id, DEVICE_ID)
    return epoch


async def post(backend, raw: bytes, headers: dict):
    return await backend.client.post("/api/v1/frames", json=body(raw), headers=headers)


async def test_counter_10_after_re_provisioning_is_a_new_alarm_not_a_reused_counter(backend):
    for counter in range(1, 11):
        assert (await post(backend, signed(counter), PHONE)).status_code == 200
    assert await re_provision(backend) == 1
    # The button starts its new epoch at 1 << 24 | 1 and counts from there.
    for sequence in range(1, 11):
        answer = await post(backend, signed(EPOCH_1 | sequence, key=NEW_KEY), NEW_PHONE)
        assert answer.status_code == 200 and answer.json()["status"] == "committed", answer.text
    assert (await backend.store.counts())["alarms"] == 20


async def test_each_token_reaches_the_fixes_of_its_own_epoch_only(backend):
    old_alarm = (await post(backend, signed(1), PHONE)).json()["alarm_id"]
    await re_provision(backend)
    new_alarm = (await post(backend, signed(EPOCH_1 | 1, key=NEW_KEY), NEW_PHONE)).json()
    fix = {"lat": 51.05, "lon": 3.72, "fix_at": "2026-11-23T19:03:10Z"}
    for alarm_id, headers, status in (
        (old_alarm, NEW_PHONE, 403),
        (new_alarm["alarm_id"], PHONE, 403),
        (old_alarm, PHONE, 200),
        (new_alarm["alarm_id"], NEW_PHONE, 200),
    ):
        answer = await backend.client.post(
            f"/api/v1/alarms/{alarm_id}/locations", json=fix, headers=headers
        )
        assert answer.status_code == status, answer.text


async def test_a_revoked_keys_frames_are_refused_and_recorded_once(backend):
    await re_provision(backend)
    assert await backend.store.revoke_key(DEVICE_ID, 1)
    assert not await backend.store.revoke_key(DEVICE_ID, 9)  # no such epoch
    before = await backend.store.counts()
    stolen_press = signed(EPOCH_1 | 5, key=NEW_KEY)
    for _ in range(2):  # a retry is the same event
        answer = await post(backend, stolen_press, NEW_PHONE)
        assert answer.status_code == 403 and answer.json()["error"] == "key_revoked"
    assert await backend.store.counts() == before
    events = await backend.store.security_events()
    assert [(e.kind, e.device_id, e.epoch, e.counter, e.frame_type) for e in events] == [
        ("revoked_key_frame", DEVICE_ID, 1, EPOCH_1 | 5, frame.ALARM)
    ]
    # A forged frame under the revoked epoch is no event: only a genuine one is news.
    forged = signed(EPOCH_1 | 6, key=KEY)
    assert (await post(backend, forged, NEW_PHONE)).status_code == 422
    assert len(await backend.store.security_events()) == 1
    # The retired epoch 0 is not revoked: its frames are still taken.
    assert (await post(backend, signed(3), PHONE)).status_code == 200


async def test_registering_the_same_key_again_is_no_new_epoch(backend):
    person_id = backend.seeded["person_id"]
    assert await backend.store.register_device(DEVICE_ID, KEY, person_id) == 0
    assert (await post(backend, signed(1), PHONE)).status_code == 200


async def test_a_lost_button_is_revoked_once_and_a_replacement_takes_over(backend):
    """`msa backend revoke`'s store side: the button's latest key is revoked and the
    device marked; again changes nothing; a replacement under the same id gets the
    next epoch, and the stolen button's frames stay refused."""
    assert await backend.store.revoke_device(0x7EADBEEF, "lost") is None  # no such device
    done = await backend.store.revoke_device(DEVICE_ID, "stolen")
    assert (done.epoch, done.reason, done.revoked_now) == (0, "stolen", True)
    again = await backend.store.revoke_device(DEVICE_ID, "lost")
    assert (again.epoch, again.reason, again.revoked_now) == (0, "stolen", False)

    refused = await post(backend, signed(7), PHONE)
    assert refused.status_code == 403 and refused.json()["error"] == "key_revoked"
    [event] = await backend.store.security_events()
    assert (event.device_status, event.counter) == ("stolen", 7)
    assert event.case_reference == backend.seeded["case_reference"]

    assert await re_provision(backend) == 1  # the replacement: the next epoch
    taken = await post(backend, signed(EPOCH_1 | 1, key=NEW_KEY), NEW_PHONE)
    assert taken.status_code == 200, taken.text
    assert (await post(backend, signed(8), PHONE)).json()["error"] == "key_revoked"
    events = await backend.store.security_events()
    assert [e.counter for e in events] == [7, 8]
    assert events[-1].device_status == "active"  # the device is in service again
    assert [e.counter for e in await backend.store.security_events(limit=1)] == [8]
