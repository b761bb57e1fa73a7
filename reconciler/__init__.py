"""innominatus: a GitOps reconciler daemon for internal developer platforms.

The package is ``reconciler``; the console script is ``innominatus``. See README.md and
docs/architecture.md for the layers.
"""

from reconciler.errors import InnominatusError, PermanentError, TemporaryError

__version__ = "1.0.0"
"""The one version: the package's (pyproject reads it), ``innominatus --version``'s, and the
provider core version that ``compatibility`` bounds and ``providers init`` refer to."""

__all__ = ["InnominatusError", "PermanentError", "TemporaryError", "__version__"]
