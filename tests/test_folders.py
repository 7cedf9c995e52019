"""Work folders: emptied only when they are the tool's own, locked while in use."""

import subprocess
import sys

import pytest

from msa import folders
from msa.errors import UsageError


def test_a_new_folder_is_created_and_marked(tmp_path):
    path = folders.fresh(tmp_path / "new" / "demo", "msa demo")
    assert (path / folders.MARKER).read_text().strip() == "msa demo"


def test_its_own_folder_is_emptied_keeping_the_marker(tmp_path):
    path = folders.fresh(tmp_path / "demo", "msa demo")
    (path / "db").mkdir()
    (path / "db" / "msa.db").write_text("x")
    (path / "log").write_text("x")
    folders.fresh(path, "msa demo")
    assert [p.name for p in path.iterdir()] == [folders.MARKER]


@pytest.mark.parametrize("content", ["a file", "a folder"])
def test_a_folder_with_something_else_in_it_is_refused_and_kept(tmp_path, content):
    path = tmp_path / "home"
    path.mkdir()
    if content == "a file":
        (path / "notes.txt").write_text("keep me")
    else:
        (path / "photos").mkdir()
    with pytest.raises(UsageError, match="not empty and not made by msa demo"):
        folders.fresh(path, "msa demo")
    assert len(list(path.iterdir())) == 1


def test_another_tools_folder_is_refused(tmp_path):
    path = folders.fresh(tmp_path / "x", "msa bench")
    (path / "data").write_text("x")
    with pytest.raises(UsageError, match="belongs to msa bench"):
        folders.fresh(path, "msa demo")
    assert (path / "data").exists()


def test_a_file_or_a_symlink_is_no_folder(tmp_path):
    (tmp_path / "f").write_text("")
    (tmp_path / "link").symlink_to(tmp_path)
    for path in (tmp_path / "f", tmp_path / "link"):
        with pytest.raises(UsageError, match="not a folder"):
            folders.fresh(path, "msa demo")


def test_a_locked_folder_is_refused_to_another_process_naming_the_holder(tmp_path):
    script = (
        "import sys; from pathlib import Path; from msa.folders import FolderLock; "
        f"FolderLock(Path({str(tmp_path)!r}), 'msa board run').acquire()"
    )
    with folders.FolderLock(tmp_path, "msa board run"):
        other = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
        assert other.returncode == 1
        assert "in use by msa board run (pid " in other.stderr
    # Released (and a holder that dies releases it too): the other process gets it.
    again = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
