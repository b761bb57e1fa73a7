"""The ``innominatus`` console script (ARCHITECTURE §5.2): argument handling and output only.

``main`` (in ``cli.main``) is the root group; it imports each command's module when that
command runs (``cli.main.COMMANDS``), so this package imports nothing heavy.
"""

from __future__ import annotations

from reconciler.cli.main import main

__all__ = ["main"]
