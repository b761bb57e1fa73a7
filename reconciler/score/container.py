"""The Score v1b1 container and service models (the official schema's ``$defs``), written as
shapes, plus the upgrade of the deprecated array form of ``files`` and ``volumes`` to maps.

Called by :mod:`reconciler.score.validate`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.score.shapes import Arr, Bool, Custom, Int, MapOf, Obj, Problem, Shape, Str
from reconciler.yamlfile import Path_

LABEL = Str(
    pattern=r"[a-z0-9][a-z0-9-]{0,61}[a-z0-9]",
    rule="use 2 to 63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit",
)
PORT = Int(minimum=1, maximum=65535)
STRINGS = Arr(Str())

_LIMITS = Obj(
    {
        "memory": Str(
            pattern=r"(0\.\d+|[1-9]\d*(\.\d+)?)(K|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?",
            rule="write bytes with an optional unit, e.g. 128Mi or 1.5G, quoted",
        ),
        "cpu": Str(
            pattern=r"\d+(?:m|\.\d+)?",
            rule=(
                "write whole or fractional CPUs or milli-CPUs as a quoted string, "
                "e.g. '0.5' or '250m'"
            ),
        ),
    }
)
_FILE_FIELDS: dict[str, Shape] = {
    "mode": Str(pattern=r"0?[0-7]{3}", rule="write an octal mode such as '0644' (quoted)"),
    "source": Str(min_length=1),
    "content": Str(),
    "binaryContent": Str(),
    "noExpand": Bool(),
}
FILE = Obj(_FILE_FIELDS, one_of=("content", "binaryContent", "source"))
FILE_IN_ARRAY = Obj(
    {"target": Str(min_length=1), **_FILE_FIELDS},
    required=("target",),
    one_of=("content", "binaryContent", "source"),
)
_VOLUME_FIELDS: dict[str, Shape] = {"source": Str(), "path": Str(), "readOnly": Bool()}
VOLUME = Obj(_VOLUME_FIELDS, required=("source",))
VOLUME_IN_ARRAY = Obj({"target": Str(), **_VOLUME_FIELDS}, required=("source", "target"))

_HTTP_PROBE = Obj(
    {
        "host": Str(min_length=1),
        "scheme": Str(enum=("HTTP", "HTTPS")),
        "path": Str(),
        "port": PORT,
        "httpHeaders": Arr(
            Obj(
                {
                    "name": Str(pattern=r"[A-Za-z0-9_-]+", rule="use A-Z, a-z, 0-9, '_' and '-'"),
                    "value": Str(min_length=1),
                },
                required=("name", "value"),
            )
        ),
    },
    required=("port", "path"),
)
PROBE = Obj(
    {"httpGet": _HTTP_PROBE, "exec": Obj({"command": STRINGS}, required=("command",))},
    any_of=("httpGet", "exec"),
)


def _map_or_array(element: Shape, legacy: Shape) -> Custom:
    def check(path: Path_, value: Any) -> list[Problem]:
        if isinstance(value, list):
            return Arr(legacy).check(path, value)
        if not isinstance(value, Mapping):
            return [(path, "expected a map of target paths to entries")]
        problems: list[Problem] = []
        for target, entry in value.items():
            checked = entry
            if isinstance(entry, Mapping) and "target" in entry:
                problems.append(
                    ((*path, target, "target"), "the map key is the target; remove `target`")
                )
                checked = {k: v for k, v in entry.items() if k != "target"}
            problems += element.check((*path, target), checked)
        return problems

    return Custom(check)


CONTAINER = Obj(
    {
        "image": Str(min_length=1, empty="empty; set the container image, e.g. `nginx:1.27`"),
        "command": STRINGS,
        "args": STRINGS,
        "variables": MapOf(
            Str(), key=Str(pattern=r"[^=]+", rule="a variable name cannot be empty or hold '='")
        ),
        "files": _map_or_array(FILE, FILE_IN_ARRAY),
        "volumes": _map_or_array(VOLUME, VOLUME_IN_ARRAY),
        "before": MapOf(
            Obj({"ready": Str(enum=("started", "healthy", "complete"))}, required=("ready",)),
            key=LABEL,
        ),
        "resources": Obj({"limits": _LIMITS, "requests": _LIMITS}),
        "livenessProbe": PROBE,
        "readinessProbe": PROBE,
    },
    required=("image",),
    missing={"image": "missing; add the container image, e.g. `nginx:1.27`"},
    hints={
        "env": (
            "`env` is an innominatus field, not Score; use `variables` "
            "(Score's environment variables)"
        ),
        "ports": "is not a container field in Score; declare ports under `service.ports`",
    },
)
SERVICE = Obj(
    {
        "ports": MapOf(
            Obj(
                {"port": PORT, "protocol": Str(enum=("TCP", "UDP")), "targetPort": PORT},
                required=("port",),
            ),
            key=LABEL,
        )
    }
)


def upgrade_arrays(container: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The container with ``files``/``volumes`` arrays turned into maps keyed by target, and a
    warning for each upgraded field (the array form is deprecated in Score)."""
    upgraded = dict(container)
    warnings = []
    for key in ("files", "volumes"):
        value = container.get(key)
        if isinstance(value, list):
            upgraded[key] = {
                item["target"]: {k: v for k, v in item.items() if k != "target"}
                for item in value
                if isinstance(item, Mapping) and "target" in item
            }
            warnings.append(
                f"`{key}` as a list is deprecated in Score; write a map of target paths instead"
            )
    return upgraded, warnings
