"""The ``innominatus`` console script (ARCHITECTURE §5.2): argument handling and output only.

``main`` is the click group; each module adds the commands of one area (``main``: daemon,
one-shot pass, status; further modules register theirs in :func:`_register`).
"""

from __future__ import annotations

from reconciler.cli.main import main

__all__ = ["main"]
