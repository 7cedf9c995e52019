"""`msa firmware build`: the firmware precompiled with mpy-cross, laid out as the flash."""

import json
import subprocess

import pytest

from boards import image
from boards.emulated.interpreter import micropython_path
from boards.image import PROTOCOL_MODULES
from msa.firmware.build import ARCH, MANIFEST, ROMFS_IMAGE, Build, BuildError, build
from msa.firmware.deploy import plan, wrong_board
from tests.test_cli import msa


@pytest.mark.parametrize("board", image.BOARDS)
def test_the_build_is_the_boards_flash_with_bytecode_for_all_but_main(board, tmp_path):
    made = build(board, tmp_path / "out")
    expected = {
        target if target == "main.py" else target[: -len(".py")] + ".mpy"
        for target in image.files(board)
    }
    on_disk = {
        p.relative_to(tmp_path / "out").as_posix()
        for p in (tmp_path / "out").rglob("*")
        if p.is_file() and p.name not in (MANIFEST, ROMFS_IMAGE)
    }
    assert on_disk == expected == {f.path for f in made.files}
    assert made.arch == ARCH[board]
    for f in made.files:
        data = (tmp_path / "out" / f.path).read_bytes()
        if f.path == "main.py":
            assert data == image.files(board)["main.py"].read_bytes()
        else:
            # .mpy v6, sub-version 3 (MicroPython 1.23 to 1.29), no native code
            assert data[:3] == b"M\x06\x00" and len(data) == f.mpy_bytes
        assert f.source_bytes == (image.ROOT / f.source).stat().st_size


def test_the_figures_add_up(tmp_path):
    made = build("esp32", tmp_path / "out")
    figures = made.figures()
    compiled = [f for f in made.files if f.path != "main.py"]
    assert figures["compiled"] == len(compiled) == len(made.files) - 1
    assert figures["source_bytes"] == sum(f.source_bytes for f in compiled)
    assert figures["mpy_bytes"] == sum(f.mpy_bytes for f in compiled)
    assert figures["ratio"] == round(figures["mpy_bytes"] / figures["source_bytes"], 3)
    assert 0 < figures["ratio"] < 1  # bytecode is smaller than the source it came from
    assert Build.load(tmp_path / "out").files == made.files


def on_micropython(program: str, folder, path: str) -> list[str]:
    """The lines `program` prints on the unix port, run in `folder` with MICROPYPATH `path`."""
    result = subprocess.run(
        [micropython_path(), "-c", program],
        cwd=folder,
        env={"MICROPYPATH": path},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.split("\n")


def test_the_emulated_build_runs_on_the_micropython_unix_port(tmp_path):
    """The .mpy version mpy-cross emits is the one the interpreter loads."""
    build("emulated", tmp_path / "out")
    check = (
        "import protocol.frame as f, board\n"
        "print(f.__file__, board.__file__, board.NAME)\n"
        "print(f.sign(bytes(32), f.ALARM, 1, 2, f.alarm_payload(0, 3000)).hex())\n"
    )
    paths, signed = on_micropython(check, tmp_path / "out", ":lib")[:2]
    assert paths == "lib/protocol/frame.mpy board.mpy emulated"
    from protocol import frame  # the same frame, signed by CPython

    assert signed == frame.sign(bytes(32), frame.ALARM, 1, 2, frame.alarm_payload(0, 3000)).hex()


ROMFS_CHECK = """
import gc, sys, vfs
with open("romfs.img", "rb") as image:
    vfs.mount(vfs.VfsRom(image.read()), "/rom")
sys.path[0:0] = ["/rom/lib"]
import os
print(sorted(entry[0] for entry in os.ilistdir("/rom/lib/protocol")))
gc.collect()
before = gc.mem_alloc()
import protocol.frame as f
gc.collect()
print(f.__file__, gc.mem_alloc() - before)
"""
MPY_CHECK = """
import gc, sys
sys.path[0:0] = ["lib"]
gc.collect()
before = gc.mem_alloc()
import protocol.frame as f
gc.collect()
print(f.__file__, gc.mem_alloc() - before)
"""


def test_the_romfs_image_holds_the_libraries_and_runs_them_in_place(tmp_path):
    """romfs.img mounts as MicroPython's VfsRom; importing from it takes less heap
    than importing the same .mpy from a filesystem, which copies the bytecode."""
    made = build("emulated", tmp_path / "out")
    assert made.romfs_bytes == (tmp_path / "out" / "romfs.img").stat().st_size > 10_000
    assert json.loads((tmp_path / "out" / "build.json").read_text())["romfs_bytes"] == (
        made.romfs_bytes
    )

    listing, in_place = on_micropython(ROMFS_CHECK, tmp_path / "out", "")[:2]
    copied = on_micropython(MPY_CHECK, tmp_path / "out", "")[0]
    assert listing == str(sorted(n.replace(".py", ".mpy") for n in PROTOCOL_MODULES))
    path, heap = in_place.split()
    assert path == "/rom/lib/protocol/frame.mpy"
    assert copied.split()[0] == "lib/protocol/frame.mpy"
    assert int(heap) < int(copied.split()[1]) * 3 // 4


def test_a_syntax_error_points_at_file_and_line(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("x = 1\n\ndef f(:\n    pass\n")
    sources = {**image.files("esp32"), "lib/firmware/broken.py": broken}
    with pytest.raises(BuildError, match=rf"{broken}:3: SyntaxError: invalid syntax"):
        build("esp32", tmp_path / "out", sources)


def test_a_folder_that_is_not_a_build_is_never_emptied(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = msa("firmware", "build", "--board", "esp32", "--out", str(tmp_path))
    assert result.returncode == 2
    assert "holds files that are not a firmware build" in result.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_build_json_prints_one_object_with_the_sizes(tmp_path):
    result = msa("firmware", "build", "--board", "esp32c3", "--out", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["board"] == "esp32c3" and figures["arch"] == "rv32imc"
    assert {"source_bytes", "mpy_bytes", "flash_bytes", "ratio", "files"} <= set(figures)
    assert json.loads((tmp_path / MANIFEST).read_text())["files"] == figures["files"]


@pytest.mark.parametrize(
    "args, env, code, message",
    [
        (["--board", "esp8266"], {}, 2, "unknown board 'esp8266'; one of: esp32, esp32c3"),
        ([], {"MSA_MPY_CROSS": "/nonexistent/mpy-cross"}, 3, "mpy-cross is not installed"),
        ([], {"MSA_MPY_CROSS": "/bin/true"}, 3, "did not answer as mpy-cross does"),
    ],
)
def test_build_errors_are_one_line_that_says_what_to_do(tmp_path, args, env, code, message):
    result = msa("firmware", "build", "--out", str(tmp_path / "out"), *args, env=env)
    assert result.returncode == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_deploy_to_a_port_that_does_not_exist_says_what_to_do():
    result = msa("firmware", "deploy", "--port", "/dev/ttyUSB97", "--board", "emulated")
    assert result.returncode == 3
    assert "no serial port /dev/ttyUSB97: plug the board in" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_deploy_plan_writes_what_differs_and_removes_what_would_shadow_it(tmp_path):
    made = build("esp32", tmp_path / "out")
    digest = {f.path: f.sha256 for f in made.files}
    on_board = {
        **digest,
        "lib/firmware/app.mpy": "old",  # changed
        "lib/firmware/app.py": "x",  # the old source: imported before app.mpy
        "lib/firmware/gone.mpy": "x",  # a module the firmware no longer has
        "board.py": "x",  # would shadow board.mpy
        "device.json": "x",  # provisioning: never touched
        "boot.py": "x",  # not the firmware's
    }
    del on_board["lib/protocol/mac.mpy"]  # missing
    write, remove, unchanged = plan(made, on_board)
    assert write == ["lib/firmware/app.mpy", "lib/protocol/mac.mpy"]
    assert remove == ["board.py", "lib/firmware/app.py", "lib/firmware/gone.mpy"]
    assert sorted(unchanged + write) == sorted(digest)


def test_deploying_a_build_edited_since_is_refused_before_touching_the_board(tmp_path):
    build("esp32", tmp_path / "out")
    (tmp_path / "out" / "lib" / "firmware" / "app.mpy").write_bytes(b"M\x06\x00\x1f")
    result = msa("firmware", "deploy", "--port", "/dev/ttyUSB97", "--build", str(tmp_path / "out"))
    assert result.returncode == 1
    assert "app.mpy is not the file msa firmware build made" in result.stderr


@pytest.mark.parametrize(
    "board, machine, wrong",
    [
        ("esp32", "Generic ESP32 module with ESP32", False),
        ("esp32", "ESP32C3 module with ESP32C3", True),
        ("esp32c3", "ESP32C3 module with ESP32C3", False),
        ("esp32c3", "Generic ESP32 module with ESP32", True),
        ("nrf52840", "PCA10056 with NRF52840", False),
        ("emulated", "linux [GCC 14.2.1] version", False),
        ("emulated", "Generic ESP32 module with ESP32", True),
        ("esp32", "linux [GCC 14.2.1] version", True),
        ("esp32", "a board that names no chip", False),  # cannot tell: let it through
    ],
)
def test_a_build_for_another_chip_is_refused(board, machine, wrong):
    assert wrong_board(board, machine) is wrong
