"""The ``innominatus`` console script (ARCHITECTURE §5.2): argument handling and output only.

``main`` (in ``cli.main``) is the click group with the core commands; each further module
owns the commands of one area and is registered here.
"""

from __future__ import annotations

from reconciler.cli.executions import executions
from reconciler.cli.main import main
from reconciler.cli.plan import plan
from reconciler.cli.providers import providers
from reconciler.cli.render import render
from reconciler.cli.validate import validate

main.add_command(executions)
main.add_command(plan)
main.add_command(providers)
main.add_command(render)
main.add_command(validate)

__all__ = ["main"]
