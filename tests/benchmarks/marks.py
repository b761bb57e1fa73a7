"""What the engine and webhook benchmarks share: a provider of one ``noop`` type whose workflow
is one ``shell`` step (the script each benchmark gives), the time a step recorded in its
resource's state folder (the one folder outside its workdir a sandboxed step may write, and the
benchmark can read), and waiting for a condition."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.waiting import within

PROVIDER = """\
apiVersion: v1
kind: Provider
metadata: {name: bench, version: 1.0.0}
capabilities:
  resourceTypeCapabilities:
    - type: noop
      operations:
        create: {workflow: touch}
        update: {workflow: touch}
        delete: {workflow: touch}
workflows:
  - {name: touch, file: ./workflows/touch.yaml}
"""
WORKFLOW = """\
apiVersion: innominatus.io/v1alpha1
kind: Workflow
metadata: {name: touch}
parameters:
  - {name: v, type: string}
steps:
  - name: mark
    type: shell
    config:
      script: '%s'
"""
RECORD_TIME = 'date +%s.%N >> "$INNOMINATUS_STATE_DIR/$PARAM_V"'
"""A step script writing when it ran, under its resource's state folder, named by param v."""
WAIT = 120.0
"""Seconds a step may take to show (generous: a loaded machine must not fail the run)."""


def write_provider(root: Path, script: str) -> Path:
    provider = root / "provider"
    (provider / "workflows").mkdir(parents=True)
    (provider / "provider.yaml").write_text(PROVIDER)
    (provider / "workflows" / "touch.yaml").write_text(WORKFLOW % script)
    return provider


def mark(root: Path, value: str) -> str:
    """What a step wrote for ``value`` in its resource's state folder under ``root/data``
    ("" until then)."""
    for path in (root / "data" / "state").glob(f"*/{value}"):
        return path.read_text()
    return ""


def wait(check: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    """Until ``check()``; polled every 2 ms, since the benchmarks time what they wait for."""
    if not within(check, timeout=timeout, interval=0.002):
        raise TimeoutError(f"{what} did not happen within {timeout:.0f} s")
