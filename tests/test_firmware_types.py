"""The firmware type-checks against MicroPython's ESP32 stubs: nothing in it runs
only on the unix port (`msa firmware check`, host/msa/firmware/typecheck.py)."""

import pytest

from boards import image
from msa.firmware.typecheck import check
from tests.test_cli import msa


@pytest.mark.parametrize("board", image.BOARDS)
def test_the_boards_image_type_checks_against_the_esp32_stubs(board, tmp_path):
    findings = check(board, tmp_path)
    assert findings == [], "\n".join(map(str, findings))


def test_the_check_finds_what_only_the_unix_port_has(tmp_path):
    unix_only = tmp_path / "unix_only.py"
    unix_only.write_text(
        "import dataclasses\nimport time\nimport bluetooth\n\n\n"
        "def f():\n    time.monotonic()\n    bluetooth.BLE().gap_scan_nope()\n"
    )
    findings = check("esp32", tmp_path / "check", {"lib/firmware/unix_only.py": unix_only})
    assert [(f.path, f.line) for f in findings] == [(str(unix_only), n) for n in (1, 7, 8)]
    assert 'module named "dataclasses"' in findings[0].message
    assert 'no attribute "monotonic"' in findings[1].message


@pytest.mark.timeout(240)
def test_msa_firmware_check_prints_findings_and_exits_0_when_clean():
    result = msa("firmware", "check", "--board", "esp32", timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("esp32: no findings")
