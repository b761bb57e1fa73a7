"""Git: the only package that runs it (ARCHITECTURE §3 rule 3, §5.3, §5.6).

Owns the mirrors of app repositories (fetch, files at a commit, diffs, status commits pushed
fast-forward only), the watch of local repositories, the include globs and the redaction of
URLs and credentials. Called by the engine (repository passes), the status write-back and the
runtime (mirrors and the watcher). GitPython and git's exceptions never leave this package:
they become :class:`reconciler.errors.SourceError`, with credentials redacted.
"""

from reconciler.sources.git import FileChange, GitMirror
from reconciler.sources.globs import match_glob
from reconciler.sources.redact import redact_text, redact_url
from reconciler.sources.watch import watch_repositories

__all__ = [
    "FileChange",
    "GitMirror",
    "match_glob",
    "redact_text",
    "redact_url",
    "watch_repositories",
]
