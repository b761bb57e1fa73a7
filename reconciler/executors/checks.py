"""Checks of step ``config`` values shared by the executors' ``validate`` methods.

``validate`` runs twice: when the provider set loads (the config still holds unrendered
templates such as ``{{ .parameters.name }}``) and again at run time on the rendered config.
Values that are still templates are therefore only type-checked here, and checked fully once
rendered. Every failure is a ``ValueError`` whose message names the config key and what to
write instead; the provider loader shows it with the workflow's file and step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any


def a(step: str) -> str:
    """``"a shell step"``, ``"an exec step"``: the step type with its article."""
    return f"{'an' if step[0] in 'aeiou' or step == 'http' else 'a'} {step} step"


def is_template(value: object) -> bool:
    """Whether ``value`` is a string that still holds a template expansion."""
    return isinstance(value, str) and "{{" in value


def text(config: Mapping[str, Any], key: str, *, step: str, required: bool = False) -> str | None:
    """``config[key]`` as a non-empty string, or None when absent and not required."""
    value = config.get(key)
    if value is None:
        if required:
            raise ValueError(f"{a(step)} needs `config.{key}`")
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"`config.{key}` of {a(step)} must be a non-empty string")
    return value


def choice(config: Mapping[str, Any], key: str, options: Sequence[str], *, step: str) -> str | None:
    value = text(config, key, step=step)
    if value is not None and not is_template(value) and value not in options:
        raise ValueError(
            f"`config.{key}` of {a(step)} must be one of {', '.join(options)}; got {value!r}"
        )
    return value


def mapping(config: Mapping[str, Any], key: str, *, step: str) -> Mapping[str, Any]:
    """``config[key]`` as a mapping with string keys ({} when absent)."""
    value = config.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ValueError(f"`config.{key}` of {a(step)} must be a mapping with string keys")
    return value


def argv(config: Mapping[str, Any], key: str, *, step: str) -> list[str]:
    """``config[key]`` as a non-empty list of strings: a program and its arguments."""
    value = config.get(key)
    if (
        not isinstance(value, Sequence)
        or isinstance(value, str)
        or not value
        or not all(isinstance(item, str) for item in value)
        or not value[0]
    ):
        raise ValueError(
            f"`config.{key}` of {a(step)} must be a list of strings, the program first "
            '(e.g. ["./bin/plugin", "--verbose"]); it runs without a shell'
        )
    return list(value)


def relative_path(value: str, *, key: str, step: str) -> PurePosixPath:
    """``value`` as a relative path that stays below the folder it is relative to."""
    path = PurePosixPath(value)
    if "\0" in value or "\n" in value or path.is_absolute() or ".." in path.parts:
        raise ValueError(
            f"`config.{key}` of {a(step)} must be a relative path inside its folder "
            f"(no leading / and no ..); got {value!r}"
        )
    return path


def optional_relative_path(
    config: Mapping[str, Any], key: str, *, step: str, required: bool = False
) -> PurePosixPath | None:
    value = text(config, key, step=step, required=required)
    if value is None or is_template(value):
        return None
    return relative_path(value, key=key, step=step)
