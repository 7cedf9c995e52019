"""The `msa` command: help, clear errors with meaningful exit codes, the demo."""

import json
import os
import re
import subprocess
import sys

import pytest


def msa(*args, timeout=60, cwd=None, env=None):
    """Run `msa ARGS`; env is merged over this process's environment."""
    return subprocess.run(
        [sys.executable, "-m", "msa.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )


def test_no_command_prints_the_commands_and_exits_2():
    result = msa()
    assert result.returncode == 2
    for command in ("demo", "board", "app", "backend", "firmware", "bench", "test"):
        assert command in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["nosuch"], "invalid choice"),
        (["demo", "--presses", "0"], "--presses must be at least 1"),
        (["demo", "--presses", "many"], "invalid int value"),
        (
            ["bench", "nosuch"],
            "no benchmark 'nosuch'; one of: battery, burst, failover, flood, heap, ingest, "
            "latency, provision, report, supervision, tradeoff",
        ),
        (["backend", "migrate", "--db", "mysql://x"], "unknown database URL"),
    ],
)
def test_bad_arguments_get_one_clear_line_and_exit_2(args, message):
    result = msa(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_every_command_has_help():
    for command in ("demo", "board", "app", "backend", "firmware", "bench", "test"):
        result = msa(command, "--help")
        assert result.returncode == 0, (command, result.stderr)
        assert "usage: msa " + command in result.stdout


def test_the_headless_demo_prints_one_json_object_per_alarm(tmp_path):
    result = msa("demo", "--headless", "--presses", "2", "--json", "--dir", str(tmp_path / "d"))
    assert result.returncode == 0, result.stderr
    alarms = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["alarm"] for a in alarms] == [1, 2]
    for alarm in alarms:
        assert (alarm["kind"], alarm["air"]) == ("alarm", "timed")
        assert list(alarm["hops_ms"]) == [
            "press",
            "ble_notify",
            "app_receive",
            "backend_commit",
            "console_push",
        ]
        hops = list(alarm["hops_ms"].values())
        assert hops == sorted(hops)  # each hop after the one before
        assert alarm["latency_ms"] == alarm["hops_ms"]["console_push"] > 0
    assert alarms[1]["counter"] > alarms[0]["counter"]
    assert "CIC console   http://127.0.0.1:" in result.stderr


def test_the_demo_refuses_to_empty_a_folder_it_did_not_make(tmp_path):
    precious = tmp_path / "thesis"
    precious.mkdir()
    (precious / "chapter1.tex").write_text("years of work")
    result = msa("demo", "--headless", "--presses", "1", "--dir", str(precious))
    assert result.returncode == 2
    assert "not empty and not made by msa demo" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert [p.name for p in precious.iterdir()] == ["chapter1.tex"]


def test_an_os_error_is_one_line_and_exit_1(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    # --dir under a file: the board cannot create its folder
    result = msa("board", "run", "--dir", str(blocker / "board"))
    assert result.returncode == 1, result.stderr
    line = result.stderr.strip()
    assert "\n" not in line and line.startswith("msa board: ") and str(blocker) in line


def test_version_names_the_package_and_the_firmware():
    for flag in ("--version", "-V"):
        result = msa(flag)
        assert result.returncode == 0
        assert re.fullmatch(r"msa \S+ \(firmware \d+\.\d+\.\d+\)\n", result.stdout), result.stdout


def test_a_benchmarks_help_shows_its_own_options_with_their_defaults():
    result = msa("bench", "heap", "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: msa bench heap")
    assert "--firmware {source,mpy,romfs}" in result.stdout
    assert "(default: romfs)" in result.stdout and "--json" in result.stdout
    listing = msa("bench", "--help")
    assert listing.returncode == 0 and "one of: battery, burst" in listing.stdout
    assert msa("bench").returncode == 2  # no name: the listing, as a usage error
    wrong = msa("bench", "heap", "--repeats", "x")
    assert wrong.returncode == 2 and "argument --repeats: invalid int value" in wrong.stderr
