"""The reference officer adds a case, the tech desk provisions a button for one of
its persons, the CIC gets an operator: all with `msa backend`, and the issued
credentials carry an alarm to that person's case. Bad input changes nothing."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest

from msa.timefmt import parse_iso
from protocol import frame
from tests.backend.conftest import count_rows, start_server
from tests.test_cli import msa

CASE = {
    "reference": "BR.12.L3.000777/26",
    "decided_on": "2026-11-02",
    "ends_on": "2027-08-02",
    "managing_zone": "PZ Brussel Hoofdstad Elsene",
    "judicial_district": "Brussel",
    "persons": [
        {
            "full_name": "Amina El Idrissi",
            "phone_number": "+32 486 00 11 22",
            "national_register_number": "88.02.03-246.10",
            "addresses": [{"kind": "home", "address": "Louizalaan 1, 1050 Elsene"}],
        },
        {
            "full_name": "Yasmine El Idrissi (daughter)",
            "phone_number": "+32 486 00 33 44",
            "national_register_number": "10.06.07-112.55",
        },
    ],
    "suspect": {"full_name": "Marc V.", "record": "Stalking since 2025.", "has_weapons": False},
}


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/msa.db"


@pytest.fixture
def kek_option(kek_file: Path) -> tuple[str, str]:
    """The option that gives a command the KEK."""
    return ("--kek-file", str(kek_file))


EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "case.json"


@pytest.fixture
def case_file(tmp_path: Path) -> Path:
    """CASE as the JSON file `msa backend case-add` reads."""
    path = tmp_path / "case.json"
    path.write_text(json.dumps(CASE))
    return path


def test_the_example_case_file_of_the_tech_desk_guide_is_this_case(db: str):
    """docs/examples/case.json, which docs/tech-desk.md points to, is CASE: every
    test here runs on it, and case-add takes it."""
    assert json.loads(EXAMPLE.read_text(encoding="utf-8")) == CASE
    added = run_json("backend", "case-add", str(EXAMPLE), "--db", db)
    assert added["case_reference"] == CASE["reference"] and added["created"]


def run_json(*args: str) -> dict:
    result = msa(*args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_provisioned_button_and_phone_carry_an_alarm_to_their_case(
    db: str, tmp_path: Path, case_file: Path, kek_file: Path, kek_option: tuple[str, str]
):
    added = run_json("backend", "case-add", str(case_file), "--db", db)
    assert added["created"] is True and len(added["person_ids"]) == 2
    assert run_json("backend", "case-add", str(case_file), "--db", db)["created"] is False

    device_json = tmp_path / "device.json"
    issued = run_json(
        "backend", "provision", "--case", CASE["reference"], "--person", "2",
        "--device-id", "0badf00d", "--device-json", str(device_json), "--db", db, *kek_option,
    )  # fmt: skip
    assert json.loads(device_json.read_text()) == {
        "device_id": 0x0BADF00D,
        "key": issued["key"],
        "epoch": 0,
    }
    operator = run_json("backend", "operator-add", "cic-brussel-1", "--db", db)

    server = start_server(db, tmp_path / "backend.log", kek_file)
    try:
        key = bytes.fromhex(issued["key"])
        raw = frame.sign(key, frame.ALARM, 0x0BADF00D, 1, frame.alarm_payload(1764000000, 3000))
        body = {"frame": raw.hex(), "received_at": "2026-11-23T19:02:03.456Z", "location": None}
        phone = {"Authorization": f"Bearer {issued['phone_token']}"}
        receipt = httpx.post(f"{server.url}/api/v1/frames", json=body, headers=phone).json()
        assert receipt["status"] == "committed"
        cic = {"Authorization": f"Bearer {operator['token']}"}
        alarm = httpx.get(f"{server.url}/api/v1/alarms/{receipt['alarm_id']}", headers=cic)
        assert alarm.status_code == 200
        assert "Yasmine El Idrissi" in alarm.text and CASE["reference"] in alarm.text
        # The operator's browser logs in with the link operator-add printed.
        with httpx.Client(base_url=server.url) as browser:
            assert browser.get(operator["login_path"]).status_code == 303
            alarm = browser.get(f"/api/v1/alarms/{receipt['alarm_id']}")
            assert alarm.status_code == 200 and "Yasmine El Idrissi" in alarm.text
    finally:
        server.stop()


def test_re_provisioning_gives_a_new_key_epoch_and_each_token_its_own_epoch(
    db: str, tmp_path: Path, case_file: Path, kek_file: Path, kek_option: tuple[str, str]
):
    run_json("backend", "case-add", str(case_file), "--db", db)
    args = ("backend", "provision", "--case", CASE["reference"], "--device-id", "0badf00d")
    first = run_json(*args, "--db", db, *kek_option)
    second = run_json(*args, "--db", db, *kek_option)
    assert first["phone_token"] != second["phone_token"] and first["key"] != second["key"]
    assert (first["epoch"], second["epoch"]) == (0, 1)

    def beat(key: str, counter: int) -> dict:
        raw = frame.sign(
            bytes.fromhex(key), frame.HEARTBEAT, 0x0BADF00D, counter,
            frame.heartbeat_payload(1764000000, 3000, 60),
        )  # fmt: skip
        return {"frame": raw.hex(), "received_at": "2026-11-23T19:02:03.456Z"}

    new_epoch = 1 << 24 | 1  # the first counter of epoch 1: above every epoch-0 counter
    server = start_server(db, tmp_path / "backend.log", kek_file)
    try:
        for token, body, status, answer in (
            (second["phone_token"], beat(second["key"], new_epoch), 200, "committed"),
            (first["phone_token"], beat(second["key"], new_epoch + 1), 403, "wrong_epoch"),
            (second["phone_token"], beat(first["key"], 7), 403, "wrong_epoch"),
            (second["phone_token"], beat(first["key"], new_epoch + 2), 422, "bad_mac"),
            # A frame of the old epoch still in the old phone's outbox is still taken.
            (first["phone_token"], beat(first["key"], 7), 200, "committed"),
        ):
            headers = {"Authorization": f"Bearer {token}"}
            response = httpx.post(f"{server.url}/api/v1/frames", json=body, headers=headers)
            assert response.status_code == status, response.text
            assert answer in (response.json().get("status"), response.json().get("error"))
    finally:
        server.stop()


def test_revoking_a_lost_button_refuses_its_frames_until_a_replacement_is_provisioned(
    db: str, tmp_path: Path, case_file: Path, kek_file: Path, kek_option: tuple[str, str]
):
    run_json("backend", "case-add", str(case_file), "--db", db)
    args = ("backend", "provision", "--case", CASE["reference"], "--device-id", "0badf00d")
    lost = run_json(*args, "--db", db, *kek_option)
    revoke = ("backend", "revoke", "--device-id", "0badf00d", "--db", db)
    done = run_json(*revoke, "--reason", "lost")
    assert done == {"device_id": "0badf00d", "epoch": 0, "reason": "lost", "revoked_now": True}
    again = msa(*revoke, "--reason", "stolen")
    assert again.returncode == 0 and "was revoked already (lost, key 0): unchanged" in again.stdout
    replacement = run_json(*args, "--db", db, *kek_option)
    assert replacement["epoch"] == 1

    def press(key: str, counter: int, token: str) -> httpx.Response:
        raw = frame.sign(
            bytes.fromhex(key), frame.ALARM, 0x0BADF00D, counter, frame.alarm_payload(0, 3000)
        )
        body = {"frame": raw.hex(), "received_at": "2026-11-23T19:02:03.456Z"}
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.post(f"{server.url}/api/v1/frames", json=body, headers=headers)

    server = start_server(db, tmp_path / "backend.log", kek_file)
    try:
        refused = press(lost["key"], 3, lost["phone_token"])
        assert refused.status_code == 403 and refused.json()["error"] == "key_revoked"
        taken = press(replacement["key"], 1 << 24 | 1, replacement["phone_token"])
        assert taken.status_code == 200 and taken.json()["status"] == "committed", taken.text
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--device-id", "0badf00d", "--reason", "lost"], "no device 0badf00d: check the id"),
        (["--device-id", "0badf00d", "--reason", "broken"], "invalid choice: 'broken'"),
        (["--device-id", "1ffffffff", "--reason", "lost"], "does not fit in 32 bits"),
        (["--reason", "lost"], "the following arguments are required: --device-id"),
    ],
)
def test_bad_revoke_arguments_change_nothing(db, args, message):
    run_json("backend", "migrate", "--db", db)
    before = asyncio.run(count_rows(db))
    result = msa("backend", "revoke", *args, "--db", db)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert asyncio.run(count_rows(db)) == before


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"persons": []}, "the case has no persons"),
        ({"decided_on": "2-11-2026"}, "'decided_on' is '2-11-2026', not a date"),
        ({"persons": [{"full_name": "X"}]}, "persons[0]: 'phone_number' must be a non-empty text"),
        ({"suspect": {"full_name": "Y", "record": "r", "has_weapons": "yes"}}, "'has_weapons'"),
    ],
)
def test_a_bad_case_file_gets_one_clear_line_and_stores_nothing(db, tmp_path, change, message):
    case_file = tmp_path / "case.json"
    case_file.write_text(json.dumps({**CASE, **change}))
    run_json("backend", "migrate", "--db", db)
    before = asyncio.run(count_rows(db))
    result = msa("backend", "case-add", str(case_file), "--db", db)
    assert result.returncode == 2 and message in result.stderr
    assert asyncio.run(count_rows(db)) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--case", "NO/SUCH", "--device-id", "01"], "no case 'NO/SUCH': create it first"),
        (["--case", CASE["reference"], "--person", "3", "--device-id", "01"], "has 2 persons"),
        (["--case", CASE["reference"], "--device-id", "xyz"], "is not hexadecimal"),
        (["--case", CASE["reference"], "--device-id", "01", "--key", "abcd"], "must be 32 bytes"),
    ],
)
def test_bad_provisioning_arguments_change_nothing(db, case_file, kek_option, args, message):
    run_json("backend", "case-add", str(case_file), "--db", db)
    before = asyncio.run(count_rows(db))
    result = msa("backend", "provision", *args, "--db", db, *kek_option)
    assert result.returncode == 2 and message in result.stderr
    assert asyncio.run(count_rows(db)) == before


def test_provisioning_to_a_path_that_cannot_be_written_changes_nothing(
    db: str, tmp_path: Path, case_file: Path, kek_option: tuple[str, str]
):
    run_json("backend", "case-add", str(case_file), "--db", db)
    args = ("backend", "provision", "--case", CASE["reference"], "--device-id", "0badf00d")
    issued = run_json(*args, "--db", db, *kek_option)
    bad = tmp_path / "no-such-folder" / "device.json"
    result = msa(*args, "--device-json", str(bad), "--db", db, *kek_option)
    assert result.returncode == 2 and "nothing was registered" in result.stderr
    # The button and the phone provisioned first are still the device's: epoch 0.
    again = run_json(*args, "--db", db, *kek_option)
    assert (issued["epoch"], again["epoch"]) == (0, 1)


def test_login_link_prints_a_fresh_single_use_link_for_an_operator(db: str):
    added = run_json("backend", "operator-add", "cic-brussel-1", "--db", db)
    assert added["login_url"] == "http://127.0.0.1:8080" + added["login_path"]
    assert added["login_path"].startswith("/console/login?code=")
    assert added["token"] not in added["login_path"]
    public = ("--public-url", "https://cic.example/")
    link = run_json("backend", "login-link", "cic-brussel-1", "--minutes", "3", *public, "--db", db)
    assert link["login_url"] == "https://cic.example" + link["login_path"]
    assert link["login_path"] != added["login_path"]
    minutes = (parse_iso(link["expires_at"]) - time.time() * 1000) / 60_000
    assert 2 < minutes <= 3
    human = msa("backend", "login-link", "cic-brussel-1", "--db", db)
    assert human.returncode == 0 and "works once" in human.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nobody",), "no operator 'nobody'"),
        (("cic-brussel-1", "--minutes", "0"), "a link works 1 to 60 minutes"),
        (("cic-brussel-1", "--minutes", "61"), "a link works 1 to 60 minutes"),
        (("cic-brussel-1", "--public-url", "cic.example"), "is not an origin"),
        (("cic-brussel-1", "--public-url", "https://cic.example/console"), "is not an origin"),
    ],
)
def test_login_link_refuses_with_one_clear_line(db: str, args, message):
    run_json("backend", "operator-add", "cic-brussel-1", "--db", db)
    result = msa("backend", "login-link", *args, "--db", db)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_the_inventory_from_the_command_line(db: str, case_file: Path, kek_option: tuple[str, str]):
    district = CASE["judicial_district"]
    added = run_json("inventory", "add", "--district", district, "0badf00d", "0badf00e", "--db", db)
    assert added == {"district": district, "added": ["0badf00d", "0badf00e"]}
    run_json("inventory", "threshold", "--district", district, "--min", "2", "--db", db)
    run_json("backend", "case-add", str(case_file), "--db", db)
    provision = ("backend", "provision", "--case", CASE["reference"], "--db", db, *kek_option)
    run_json(*provision, "--device-id", "0badf00d")
    moved = run_json("inventory", "move", "0badf00e", "--to", "repair", "--db", db)
    assert moved == {"device_id": "0badf00e", "state": "repair", "moved": True}

    [row] = run_json("inventory", "--db", db)["districts"]
    assert row == {
        "district": district, "stock": 0, "assigned": 1, "repair": 1, "returned": 0,
        "lost": 0, "min_stock": 2, "short": True,
    }  # fmt: skip
    table = msa("inventory", "--district", district, "--db", db)
    assert table.returncode == 0 and "SHORT: order buttons" in table.stdout

    # Refused with one line, nothing changed: another person's button, a bad move.
    before = asyncio.run(count_rows(db))
    taken = msa(*provision, "--person", "2", "--device-id", "0badf00d")
    assert taken.returncode == 2 and "assigned to another person" in taken.stderr
    for args, message in (
        (["move", "0badf00d", "--to", "stock"], "it is a victim's alarm"),
        (["move", "0badf00d", "--to", "lost"], "invalid choice: 'lost'"),
        (["add", "--district", district, "xyz"], "'xyz' is not hexadecimal"),
        (["threshold", "--district", district, "--min", "-3"], "--min is 0 to 10000"),
    ):
        refused = msa("inventory", *args, "--db", db)
        assert refused.returncode == 2 and message in refused.stderr, refused.stderr
    assert asyncio.run(count_rows(db)) == before
    assert run_json("inventory", "--db", db)["districts"] == [row]


def test_the_districts_magistrate_is_set_from_the_command_line(db: str, case_file: Path):
    run_json("backend", "case-add", str(case_file), "--db", db)
    district = CASE["judicial_district"]
    args = ("backend", "magistrate", "--district", district, "--db", db)
    done = run_json(*args, "--email", "parket@brussel.example")
    assert done == {"district": district, "magistrate_email": "parket@brussel.example"}
    before = asyncio.run(count_rows(db))
    for wrong, message in (
        (["--email", "parket brussel"], "is not a mail address"),
        (["--email", "parket@localhost"], "is not a mail address"),
    ):
        refused = msa(*args, *wrong)
        assert refused.returncode == 2 and message in refused.stderr, refused.stderr
    unknown = msa("backend", "magistrate", "--district", "Atlantis", "--email", "a@b.example",
                  "--db", db)  # fmt: skip
    assert unknown.returncode == 2 and "no judicial district 'Atlantis'" in unknown.stderr
    assert asyncio.run(count_rows(db)) == before


def test_a_zones_area_is_set_from_the_command_line(db: str, case_file: Path):
    run_json("backend", "case-add", str(case_file), "--db", db)
    args = ("backend", "zone-add", "--zone", "PZ Gent", "--district", "Oost-Vlaanderen",
            "--db", db)  # fmt: skip
    added = run_json(*args, "--box", "50.98,3.58,51.19,3.85")
    assert added == {"zone": "PZ Gent", "district": "Oost-Vlaanderen", "boxes": 1}
    assert run_json(*args, "--box", "50.98,3.58,51.19,3.85")["boxes"] == 1  # the same again
    assert run_json(*args, "--box", "51.0,3.85,51.1,3.95")["boxes"] == 2  # a second box
    listed = run_json("backend", "zones", "--db", db)["areas"]
    assert [a["zone"] for a in listed] == ["PZ Gent", "PZ Gent"]
    assert listed[0] == {"zone": "PZ Gent", "south": 50.98, "west": 3.58, "north": 51.19,
                         "east": 3.85}  # fmt: skip
    before = asyncio.run(count_rows(db))
    for box, message in (
        ("50.98,3.58,51.19", "give four numbers"),
        ("51.19,3.58,50.98,3.85", "south < north"),
        ("50.98,3.85,51.19,3.58", "west < east"),
        ("50.98,3.58,91,3.85", "within -90..90"),
        ("nan,3.58,51.19,3.85", "degrees are finite numbers"),
    ):
        refused = msa(*args, "--box", box)
        assert refused.returncode == 2 and message in refused.stderr, refused.stderr
    elsewhere = msa("backend", "zone-add", "--zone", "PZ Gent", "--district", "Brussel",
                    "--box", "50.0,4.0,50.1,4.1", "--db", db)  # fmt: skip
    assert elsewhere.returncode == 2
    assert "PZ Gent is in the judicial district Oost-Vlaanderen, not Brussel" in elsewhere.stderr
    assert asyncio.run(count_rows(db)) == before


def test_a_new_token_never_begins_with_a_dash_so_a_command_line_takes_it():
    from msa.backend.auth import new_token

    tokens = [new_token() for _ in range(2000)]  # 1 in 64 began with "-" before
    assert not [t for t in tokens if t.startswith("-")]
    assert len(set(tokens)) == len(tokens) and all(len(t) == 43 for t in tokens)
