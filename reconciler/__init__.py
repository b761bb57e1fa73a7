"""innominatus: a GitOps reconciler daemon for internal developer platforms.

The package is ``reconciler``; the console script is ``innominatus``. See README.md and
docs/architecture.md for the layers.
"""

from reconciler.errors import InnominatusError, PermanentError, TemporaryError

__version__ = "0.1.0"

__all__ = ["InnominatusError", "PermanentError", "TemporaryError", "__version__"]
