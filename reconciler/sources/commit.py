"""Making a commit in a bare mirror without a checkout (status write-back).

Owns the plumbing sequence that turns "these files, these deletions, on top of this parent"
into a commit object: a temporary index file (``GIT_INDEX_FILE``), ``read-tree`` of the
parent, one ``hash-object -w --stdin-paths`` for every new content, one ``update-index -z
--index-info`` for every change, ``write-tree`` and ``commit-tree``. Nothing is checked out and
no ref moves here; :meth:`reconciler.sources.git.GitMirror.write_files` calls
:func:`build_commit` once per push attempt, on the branch tip as last fetched, and pushes.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path

from reconciler.sources.plumbing import GitRunner, check_path
from reconciler.types import CommitSha

AUTHOR_NAME = "innominatus"
AUTHOR_EMAIL = "innominatus@localhost"

_IDENTITY = {
    "GIT_AUTHOR_NAME": AUTHOR_NAME,
    "GIT_AUTHOR_EMAIL": AUTHOR_EMAIL,
    "GIT_COMMITTER_NAME": AUTHOR_NAME,
    "GIT_COMMITTER_EMAIL": AUTHOR_EMAIL,
}
_FILE_MODE = "100644"
_NULL_SHA = "0" * 40


def build_commit(
    runner: GitRunner,
    *,
    parent: CommitSha | None,
    files: Mapping[str, bytes | None],
    message: str,
) -> CommitSha | None:
    """The commit of ``files`` (None deletes a path) on ``parent`` (None: an orphan commit).

    Returns None, and makes no commit, when the resulting tree is the parent's tree (or, for an
    orphan, is empty): writing the same status twice must not add history.
    """
    for path in files:
        check_path(path)
    with tempfile.TemporaryDirectory(prefix="innominatus-commit-", dir=runner.git_dir) as tmp:
        scratch = Path(tmp)
        index_env = {"GIT_INDEX_FILE": str(scratch / "index")}
        if parent is None:
            runner.run("read-tree", "--empty", env=index_env)
        else:
            runner.run("read-tree", f"{parent}^{{tree}}", env=index_env)
        contents = {path: data for path, data in files.items() if data is not None}
        blobs = _hash_blobs(runner, contents, scratch)
        records = [
            f"{_FILE_MODE} {blobs[path]}\t{path}" if path in blobs else f"0 {_NULL_SHA}\t{path}"
            for path in files
        ]
        index_info = scratch / "index-info"
        index_info.write_bytes(
            b"".join(r.encode("utf-8", "surrogateescape") + b"\0" for r in records)
        )
        with index_info.open("rb") as stdin:
            runner.run("update-index", "-z", "--add", "--index-info", stdin=stdin, env=index_env)
        tree = runner.run("write-tree", env=index_env).text
        if parent is None:
            if not contents:
                return None
        elif tree == runner.run("rev-parse", f"{parent}^{{tree}}").text:
            return None
        message_file = scratch / "message"
        message_file.write_text(message if message.endswith("\n") else f"{message}\n", "utf-8")
        args = ["commit-tree", "--no-gpg-sign", "-F", str(message_file)]
        if parent is not None:
            args += ["-p", parent]
        return CommitSha(runner.run(*args, tree, env=_IDENTITY).text)


def _hash_blobs(runner: GitRunner, contents: Mapping[str, bytes], scratch: Path) -> dict[str, str]:
    """``{path: blob sha}``, the blobs written to the mirror by one ``hash-object``."""
    if not contents:
        return {}
    blob_dir = scratch / "blobs"
    blob_dir.mkdir()
    names = []
    for number, data in enumerate(contents.values()):
        blob = blob_dir / str(number)
        blob.write_bytes(data)
        names.append(str(blob))
    path_list = scratch / "blob-paths"
    path_list.write_text("".join(f"{name}\n" for name in names), "utf-8")
    with path_list.open("rb") as stdin:
        out = runner.run("hash-object", "-w", "--no-filters", "--stdin-paths", stdin=stdin).text
    shas = out.split()
    if len(shas) != len(names):
        raise runner.error(f"git hash-object returned {len(shas)} ids for {len(names)} files")
    return dict(zip(contents, shas, strict=True))
