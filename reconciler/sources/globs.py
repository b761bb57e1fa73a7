"""The ``include`` globs of a repository: which files at a commit are Score files.

Owns one glob dialect, matched against whole repository-relative paths (``a/b/score.yaml``):

- ``*`` matches any run of characters except ``/``; ``?`` matches one character except ``/``;
- ``**/`` matches zero or more whole folders (``**/score.yaml`` matches ``score.yaml`` and
  ``a/b/score.yaml``); a trailing ``/**`` matches everything below a folder, and ``**`` alone
  matches every path; ``**`` inside a name (``a**b``) is an ordinary ``*``;
- ``[abc]``, ``[a-z]``, ``[!abc]`` match one character of (or not of) a set, never ``/``;
- everything else matches itself (case-sensitive, like Git).

Called by :class:`reconciler.sources.git.GitMirror.list_files` and by the engine, which filters
the paths of a diff with the same globs.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable

_ANY_FOLDERS = "(?:[^/]+/)*"


def match_glob(path: str, pattern: str) -> bool:
    """Whether ``path`` matches ``pattern`` as a whole (see the module docstring)."""
    return compile_glob(pattern).fullmatch(path) is not None


def compile_globs(patterns: Iterable[str]) -> Callable[[str], bool]:
    """One predicate that is true for a path matching any of ``patterns`` (none: never)."""
    regexes = [compile_glob(p).pattern for p in patterns]
    if not regexes:
        return lambda _path: False
    combined = re.compile("|".join(f"(?:{r})" for r in regexes))
    return lambda path: combined.fullmatch(path) is not None


@functools.lru_cache(maxsize=512)
def compile_glob(pattern: str) -> re.Pattern[str]:
    """The regular expression of ``pattern``; raises ``ValueError`` for an invalid set."""
    try:
        return re.compile(_translate(pattern))
    except re.error as exc:
        raise ValueError(f"invalid glob {pattern!r}: {exc}") from exc


def _translate(pattern: str) -> str:
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == "*":
            end = i
            while end < n and pattern[end] == "*":
                end += 1
            whole_segment = (i == 0 or pattern[i - 1] == "/") and (end == n or pattern[end] == "/")
            if end - i >= 2 and whole_segment:
                if end == n:
                    out.append(".*")
                else:
                    out.append(_ANY_FOLDERS)
                    end += 1  # the "/" after "**" belongs to the folders matched
            else:
                out.append("[^/]*")
            i = end
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[":
            translated, i = _translate_set(pattern, i)
            out.append(translated)
        else:
            out.append(re.escape(char))
            i += 1
    return "".join(out)


def _translate_set(pattern: str, start: int) -> tuple[str, int]:
    """``[...]`` at ``start`` -> (regex, index after it); an unclosed ``[`` is literal."""
    i = start + 1
    negate = i < len(pattern) and pattern[i] in "!^"
    if negate:
        i += 1
    first = i
    if i < len(pattern) and pattern[i] == "]":
        i += 1  # "]" first in a set is a member, as in fnmatch
    while i < len(pattern) and pattern[i] != "]":
        i += 1
    if i >= len(pattern):
        return re.escape("["), start + 1
    body = pattern[first:i]
    members = "".join(
        "-" if char == "-" and 0 < k < len(body) - 1 else re.escape(char)
        for k, char in enumerate(body)
    )
    return (f"[^/{members}]" if negate else f"(?!/)[{members}]"), i + 1
