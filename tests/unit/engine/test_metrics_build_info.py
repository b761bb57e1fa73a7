"""``/metrics`` says which release serves it (issue 15): ``innominatus_build_info{version}``,
the one version of ``reconciler.__version__``."""

from __future__ import annotations

from reconciler import __version__
from reconciler.engine.metrics import Metrics


def test_the_metrics_name_the_release_serving_them() -> None:
    exposition = Metrics().exposition().decode()

    assert f'innominatus_build_info{{version="{__version__}"}} 1.0' in exposition.splitlines()
