"""``innominatus providers init NAME``: the files of a new provider whose tests pass as made.

Owns :func:`scaffold`, which returns the files (path -> text) of a provider claiming resource
type NAME: a manifest with create/update/delete workflows and one test case, shell steps that
keep the resource as a JSON file in the resource's state directory (so ``providers test`` runs
anywhere), and a README saying what to replace. Pure; the CLI writes the files.
"""

from __future__ import annotations

import re

from reconciler.providers.manifest import CORE_VERSION
from reconciler.providers.versions import parse_version

_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,56}[a-z0-9]")
"""2 to 58 characters: a resource type needs two, and the test app ``<name>-test`` must stay
within Score's 63."""


def scaffold(name: str) -> dict[str, str]:
    """The files of provider ``name``; ``ValueError`` if ``name`` is not a usable name."""
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"{name!r} is not a provider name; use 2 to 58 lower-case letters, digits and '-', "
            "starting and ending with a letter or digit, such as my-queue"
        )
    major = parse_version(CORE_VERSION).major
    return {
        "provider.yaml": _MANIFEST.format(name=name, core=CORE_VERSION, major=major),
        "workflows/create.yaml": _WRITE.format(
            name=name,
            operation="create",
            step="create",
            done="created",
            description=f"Create the {name} (here a JSON record in the state directory)",
        ),
        "workflows/update.yaml": _WRITE.format(
            name=name,
            operation="update",
            step="resize",
            done="resized",
            description=f"Apply changed parameters to the {name}",
        ),
        "workflows/delete.yaml": _DELETE.format(name=name),
        "tests/app.score.yaml": _SCORE.format(name=name),
        "tests/app-bigger.score.yaml": _SCORE.format(name=name).replace(
            "size: small", "size: large"
        ),
        "README.md": _README.format(name=name),
    }


_MANIFEST = """\
# Provider {name}: claims resource type `{name}`. Check it with `innominatus providers validate .`
# and run its tests with `innominatus providers test .`.
apiVersion: v1
kind: Provider
metadata:
  name: {name}
  version: 0.1.0
  description: Provides {name} resources
compatibility:
  minCoreVersion: {core}
  maxCoreVersion: {major}.99.99
capabilities:
  resourceTypeCapabilities:
    - type: {name}
      operations:
        create: {{workflow: create-{name}}}
        update: {{workflow: update-{name}}}
        delete: {{workflow: delete-{name}}}
workflows:
  - {{name: create-{name}, file: ./workflows/create.yaml, operation: create}}
  - {{name: update-{name}, file: ./workflows/update.yaml, operation: update}}
  - {{name: delete-{name}, file: ./workflows/delete.yaml, operation: delete}}
tests:
  - name: a {name} is created, resized and deleted
    score: tests/app.score.yaml
    expect:
      outputs:
        store: {{size: small, id: {{matches: '^[0-9a-f]{{16}}$'}}}}
    update:
      score: tests/app-bigger.score.yaml
      expect:
        outputs:
          store: {{size: large}}
"""

_STEP_HEAD = """\
      script: |
        #!/bin/sh
        set -eu
        record="$INNOMINATUS_STATE_DIR/{name}.json"
"""

_WRITE = (
    """\
apiVersion: innominatus.io/v1alpha1
kind: Workflow
metadata:
  name: {operation}-{name}
  description: {description}
parameters:
  - {{name: size, type: string, default: small, allowed_values: [small, medium, large]}}
steps:
  - name: {step}
    type: shell
    config:
"""
    + _STEP_HEAD
    + """\
        id=$(printf '%s' "$INNOMINATUS_RESOURCE_UID" | sha256sum | cut -c1-16)
        printf '{{"id": "%s", "size": "%s"}}\\n' "$id" "$PARAM_SIZE" > "$record"
        echo "{done} {name} $id ($PARAM_SIZE)"
        cat "$record"
"""
)
"""Create and update: write the record; its JSON, printed last, is the step's outputs."""

_DELETE = (
    """\
apiVersion: innominatus.io/v1alpha1
kind: Workflow
metadata:
  name: delete-{name}
  description: Delete the {name}
steps:
  - name: delete
    type: shell
    config:
"""
    + _STEP_HEAD
    + """\
        rm -f "$record"
        echo "deleted {name}"
"""
)

_SCORE = """\
apiVersion: score.dev/v1b1
metadata:
  name: {name}-test
containers:
  main:
    image: busybox:1.36
    variables:
      STORE_ID: ${{resources.store.id}}
resources:
  store:
    type: {name}
    params:
      size: small
"""

_README = """\
# Provider `{name}`

Made by `innominatus providers init {name}`. It claims resource type `{name}`; its workflows
keep each resource as a JSON record in the resource's state directory, so its tests run
anywhere. Replace the steps of `workflows/*.yaml` with the real thing (`terraform`,
`ansible`, `http`, `shell` ... steps), keep the test cases under `tests:` in `provider.yaml`
in step, and check everything with

    innominatus providers validate .
    innominatus providers test .

Publish it by tagging a release (`git tag v0.1.0`) in its own repository and adding it to the
daemon's configuration:

    providers:
      - {{name: {name}, type: git, repository: <url>, version: ">=0.1,<1"}}
"""
