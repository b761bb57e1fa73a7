"""SemVer versions and version ranges, by the ``semver`` library (semver.org 2.0.0).

Owns the one reading of a version everywhere providers have one: a manifest's
``metadata.version`` and ``compatibility.{min,max}CoreVersion`` (:func:`parse_version`), and a
provider source's ``version`` range resolved against the repository's tags
(:func:`select_tag`). Strict SemVer: ``MAJOR.MINOR.PATCH[-prerelease][+build]``, no leading
zeros (``01.2.3`` is refused), build metadata ignored for precedence (``1.2.3+b`` is
``1.2.3``). A tag is a version with an optional ``v`` (``v1.2.3``); other tags are ignored.

**Range syntax**: comparators separated by commas, all of which must hold —
``OP VERSION`` with ``OP`` one of ``>=``, ``>``, ``<=``, ``<``, ``==`` (or ``=``) and ``!=``.
A comparator's version may leave out the minor and patch numbers, which count as 0
(``>=1.2,<2`` means ``>=1.2.0`` and ``<2.0.0``). Pre-release tags are never selected by a
range (pin them with ``ref``). Pure; called by :mod:`.manifest` and :mod:`.integrity`.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import semver

_COMPARATOR = re.compile(r"^\s*(>=|<=|==|!=|>|<|=)?\s*(\S+?)\s*$")
_PARTIAL = re.compile(r"^(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?(?:\.(0|[1-9]\d*))?$")
_OPERATORS: dict[str, Callable[[semver.Version, semver.Version], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
    "=": operator.eq,
    "!=": operator.ne,
}
RANGE_EXAMPLE = ">=1.2,<2"


class VersionError(ValueError):
    """A version or range that is not SemVer; the message says what to write instead, and
    ``hint`` (may be empty) what is wrong with a version: ``" (no leading zeros)"``."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


SEMVER_ADVICE = "write MAJOR.MINOR.PATCH such as 1.0.0"


def parse_version(text: object) -> semver.Version:
    """``text`` as a strict SemVer version; :class:`VersionError` otherwise."""
    if isinstance(text, str):
        try:
            return semver.Version.parse(text)
        except ValueError:
            pass
    shown = repr(text) if isinstance(text, str) else f"a {type(text).__name__}"
    hint = ""
    if isinstance(text, str) and re.search(r"(^|[.-])0\d", text):
        hint = " (no leading zeros)"
    elif isinstance(text, str) and text[:1] in ("v", "V"):
        hint = " (without the 'v')"
    raise VersionError(f"{shown} is not a SemVer version{hint}; {SEMVER_ADVICE}", hint=hint)


def is_version(text: object) -> bool:
    try:
        parse_version(text)
    except VersionError:
        return False
    return True


def precedence(version: semver.Version) -> semver.Version:
    """``version`` without its build metadata, which SemVer ignores for ordering."""
    return version.replace(build=None)


@dataclass(frozen=True, slots=True)
class VersionRange:
    """A conjunction of comparators (see the module docstring for the syntax)."""

    comparators: tuple[tuple[str, semver.Version], ...]
    text: str

    @classmethod
    def parse(cls, text: str) -> VersionRange:
        comparators: list[tuple[str, semver.Version]] = []
        for part in text.split(","):
            match = _COMPARATOR.match(part)
            if not part.strip():
                raise VersionError(cls._refusal(text, "an empty comparator"))
            if match is None:
                raise VersionError(cls._refusal(text, f"{part.strip()!r} is not a comparator"))
            op, raw = match.group(1) or "==", match.group(2)
            comparators.append((op, cls._bound(text, raw)))
        return cls(tuple(comparators), text)

    @staticmethod
    def _bound(text: str, raw: str) -> semver.Version:
        partial = _PARTIAL.match(raw)
        if partial is not None:
            major, minor, patch = (int(group or 0) for group in partial.groups())
            return semver.Version(major, minor, patch)
        try:
            return semver.Version.parse(raw)
        except ValueError:
            raise VersionError(
                VersionRange._refusal(text, f"{raw!r} is not a version (no leading zeros)")
            ) from None

    @staticmethod
    def _refusal(text: str, why: str) -> str:
        return (
            f"{text!r} is not a version range: {why}; write comparators separated by commas, "
            f"such as {RANGE_EXAMPLE!r}"
        )

    def __contains__(self, version: semver.Version) -> bool:
        wanted = precedence(version)
        return all(_OPERATORS[op](wanted, bound) for op, bound in self.comparators)


def tag_version(tag: str) -> semver.Version | None:
    """The release version a tag names (``v1.2.3``, ``1.2.3+build``), or None: not SemVer, or
    a pre-release."""
    try:
        version = semver.Version.parse(tag[1:] if tag[:1] == "v" else tag)
    except ValueError:
        return None
    return None if version.prerelease else version


def select_tag(tags: Iterable[str], spec: str) -> str | None:
    """The tag of the highest release inside range ``spec`` (None: none matches); among tags
    of equal precedence (``v1.2.3``, ``v1.2.3+b``) the one without build metadata, else the
    first by name. Raises :class:`VersionError` for a malformed ``spec``."""
    wanted = VersionRange.parse(spec)
    best: tuple[semver.Version, int, str] | None = None
    for tag in sorted(set(tags)):
        version = tag_version(tag)
        if version is None or version not in wanted:
            continue
        key = (precedence(version), 0 if version.build is None else -1, tag)
        if best is None or key[:2] > best[:2]:
            best = key
    return None if best is None else best[2]
