"""The names a provider tree may hold and its hash (``reconciler.providers.integrity``): every
path stays inside its folder, and the hash covers path, mode and content of every file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.errors import PermanentError
from reconciler.providers.integrity import TreeDigest, check_tree_path, tree_hash


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/etc/passwd",
        "..",
        "a/../b",
        "./a",
        "a/.",
        "a//b",
        "a/",
        ".git/config",
        "x/.Git/hooks",
        "a\\b",
        "a\0b",
        "a\nb",
        "a\x1bb",
    ],
)
def test_a_path_that_could_leave_its_folder_or_hide_is_refused(path: str) -> None:
    with pytest.raises(PermanentError, match="cannot name a file of a provider tree"):
        check_tree_path(path)


@pytest.mark.parametrize("path", ["provider.yaml", "workflows/create.yaml", ".github/x", "a..b"])
def test_ordinary_paths_are_accepted(path: str) -> None:
    assert check_tree_path(path) == path


def test_the_hash_depends_on_path_mode_and_content_not_on_order() -> None:
    def digest(*files: tuple[str, bool, bytes]) -> str:
        tree = TreeDigest()
        for path, executable, content in files:
            tree.add(path, executable=executable, content=content)
        return tree.hexdigest()

    a, b = ("a", False, b"1"), ("b/c", True, b"2")
    assert digest(a, b) == digest(b, a)
    assert digest(a, b) != digest(a, ("b/c", False, b"2"))
    assert digest(a, b) != digest(a, ("b/d", True, b"2"))
    assert digest(a, b) != digest(a, ("b/c", True, b"3"))


def test_a_folder_hash_leaves_out_git_folders_and_symlinks_but_not_caches(tmp_path: Path) -> None:
    (tmp_path / "provider.yaml").write_text("x")
    base = tree_hash(tmp_path)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("[core]")
    os.symlink("/etc/passwd", tmp_path / "link")
    os.mkfifo(tmp_path / "fifo")
    assert tree_hash(tmp_path) == base
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "m.pyc").write_bytes(b"\0")
    assert tree_hash(tmp_path) != base
