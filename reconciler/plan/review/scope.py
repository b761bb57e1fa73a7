"""Which Score files a pull-request review has to parse, and the desired states they give.

A file at the same blob on both sides cannot change anything by itself, so only the changed
files are parsed, plus the unchanged files that mention an app name or shared ``id`` of a
changed one: those decide duplicate app names and whether a shared resource is still declared
elsewhere. A byte search for the whole name (``app-4`` does not find ``app-42``) finds them
without parsing; a false match only costs a parse. For the delete guard the rest of the
repository matters only as "declares at least one resource or not", answered by parsing until
the first file that does. So a 5,000-file repository with one changed file parses three files.
Pure; called by ``innominatus plan``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.desired import DesiredState, ParsedFile, assemble, parse_file
from reconciler.yamlfile import TooLarge


@dataclass(frozen=True, slots=True)
class Compared:
    """The two desired states to review, restricted to what can differ."""

    base: DesiredState
    head: DesiredState
    outside_live: int  # 1 when files left out declare at least one resource, else 0
    parsed: int  # how many files were parsed (for the benchmark and tests)


def _names(parsed: ParsedFile) -> set[bytes]:
    if not isinstance(parsed, list):
        return set()
    found = set()
    for workload in parsed:
        found.add(workload.name.encode())
        found.update(r.id.encode() for r in workload.resources.values() if r.id)
    return found


def compared_states(
    base_tree: Mapping[str, str],
    head_tree: Mapping[str, str],
    blobs: Mapping[str, bytes | TooLarge],
    *,
    workload: bool,
) -> Compared:
    """``*_tree``: ``{path: blob id}`` of the Score files on each side; ``blobs``: their
    content (or their size, when too large to read). ``workload``: every app counts as a
    resource (the implicit workload)."""
    changed = {
        p for p in base_tree.keys() | head_tree.keys() if base_tree.get(p) != head_tree.get(p)
    }
    old = {p: parse_file(p, blobs[base_tree[p]]) for p in sorted(changed & base_tree.keys())}
    new = {p: parse_file(p, blobs[head_tree[p]]) for p in sorted(changed & head_tree.keys())}
    needles = set().union(*map(_names, old.values()), *map(_names, new.values()))
    unchanged = sorted(base_tree.keys() & head_tree.keys() - changed)
    related: dict[str, ParsedFile] = {}
    if needles:
        names = b"|".join(re.escape(n) for n in sorted(needles))
        pattern = re.compile(rb"(?<![\w-])(?:" + names + rb")(?![\w-])")
        for path in unchanged:
            content = blobs[head_tree[path]]
            if not isinstance(content, TooLarge) and pattern.search(content):
                related[path] = parse_file(path, content)
    rest = (p for p in unchanged if p not in related)
    outside, parsed = 0, len(old) + len(new) + len(related)
    for path in rest:
        content = blobs[head_tree[path]]
        if isinstance(content, TooLarge) or (not workload and b"resources" not in content):
            continue
        result = parse_file(path, content)
        parsed += 1
        if isinstance(result, list) and any(workload or w.resources for w in result):
            outside = 1
            break
    return Compared(
        base=assemble({**related, **old}),
        head=assemble({**related, **new}),
        outside_live=outside,
        parsed=parsed,
    )
