"""A Score file parsed, or taken as the last process parsed it.

A restart reads every file of a repository; :func:`parse_kept` thaws the workloads kept for a
file (``store.parsed``, :mod:`reconciler.score.frozen`) when their key — the file's path and
content, the parser — is the file's now, and parses it otherwise, answering what to keep. A
kept file costs the pass's YAML budget what parsing it built, so a repository cannot grow past
the budget over restarts; once the budget is spent it is refused as a parse would refuse it.
"""

from __future__ import annotations

from reconciler.desired import ParsedFile, parse_file
from reconciler.score import frozen
from reconciler.store import KeptParse
from reconciler.yamlfile import MAX_NODES, NodeBudget, TooLarge


def parse_kept(
    path: str, content: bytes | TooLarge, *, budget: NodeBudget, kept: KeptParse | None
) -> tuple[ParsedFile, KeptParse | None]:
    """The file at ``path`` parsed (or thawed from ``kept``), and what to keep of it now
    (None: ``kept`` holds it already, or it is not to be kept: broken, or too large)."""
    key = frozen.key(path, content) if isinstance(content, bytes) else None
    if (
        key is not None
        and kept is not None
        and kept.key == key
        and 0 <= kept.nodes <= MAX_NODES  # what a parse can build: any other was not one's
        and budget.nodes <= budget.limit
    ):
        try:
            workloads = frozen.thaw(kept.workloads)
        except ValueError:
            pass  # not what this parser keeps: parsed again, and kept anew
        else:
            budget.nodes += kept.nodes
            return workloads, None
    before = budget.nodes
    parsed = parse_file(path, content, budget=budget)
    if key is None or not isinstance(parsed, list):
        return parsed, None
    data = frozen.freeze(parsed)
    return parsed, (KeptParse(key, budget.nodes - before, data) if data is not None else None)
