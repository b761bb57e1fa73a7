"""Built-in executors are imported on first use only: building the daemon's registry (as
``innominatus validate`` and ``plan`` do) must not pay for httpx, Terraform or Kubernetes
support it never runs. Checked in a fresh interpreter, where ``sys.modules`` is clean."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT

PROBE = """
import json, sys
from reconciler.executors.registry import default_registry
def loaded():
    return sorted(m for m in sys.modules if m.startswith("reconciler.executors."))
registry = default_registry()
assert "shell" in registry.known_types()
before = loaded()
registry.get("policy")
print(json.dumps({"before": before, "after": loaded()}))
"""


def test_building_the_registry_imports_no_executor_until_one_is_used() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True
    )
    seen = json.loads(done.stdout)
    assert seen["before"] == ["reconciler.executors.base", "reconciler.executors.registry"]
    assert "reconciler.executors.shell" in seen["after"]
    for unused in ("terraform", "http", "kubernetes", "ansible", "gitcommit"):
        assert f"reconciler.executors.{unused}" not in seen["after"]
