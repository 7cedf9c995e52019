"""The rules CI runs under (.ci/run): a skip fails the run."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from msa.testcli import nested_env

ROOT = Path(__file__).resolve().parents[1]
PROBE = "tests/probes/skipping.py"


def run_probe(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", PROBE],
        cwd=ROOT,
        env=nested_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_skip_is_a_skip_on_a_developers_machine():
    result = run_probe()
    assert result.returncode == 0, result.stdout
    assert "1 skipped" in result.stdout


def test_a_skip_fails_the_run_under_ci_rules():
    result = run_probe(MSA_NO_SKIPS="1")
    assert result.returncode == 1, result.stdout
    assert "1 failed" in result.stdout
    assert "MSA_NO_SKIPS=1" in result.stdout and "no such tool on this machine" in result.stdout


def run_msa_test(*args: str) -> subprocess.CompletedProcess[str]:
    env = nested_env()
    return subprocess.run(
        [sys.executable, "-m", "msa.cli", "test", *args, "-p", "no:cacheprovider", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_each_run_keeps_its_reports_in_its_own_folder():
    folders = []
    try:
        for _ in range(2):
            result = run_msa_test()
            assert result.returncode == 0, result.stderr
            folders.append(Path(result.stderr.split("msa: reports in ")[1].split()[0]))
        first, second = folders
        assert first != second and first.parent == second.parent == ROOT / "reports"
        for folder in folders:
            assert 'name="test_that_skips"' in (folder / "junit.xml").read_text()
            assert (folder / "current-test").read_text().strip().endswith("::test_that_skips")
        assert (ROOT / "reports" / "latest").resolve() == second.resolve()
    finally:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
