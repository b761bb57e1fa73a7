"""``python -m reconciler`` runs the console script."""

from reconciler.cli import main

main()
