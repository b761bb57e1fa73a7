"""SemVer by the ``semver`` library: strict versions (no leading zeros, no ``v``), build metadata
ignored for precedence, and ranges of comma-separated comparators over release tags."""

from __future__ import annotations

import pytest

from reconciler import __version__
from reconciler.errors import PermanentError
from reconciler.providers.integrity import select_version
from reconciler.providers.manifest import CORE_VERSION
from reconciler.providers.scaffold import scaffold
from reconciler.providers.versions import (
    VersionError,
    VersionRange,
    is_version,
    parse_version,
    select_tag,
    tag_version,
)


@pytest.mark.parametrize("text", ["1.0.0", "0.0.1", "1.2.3-rc.1", "1.2.3+build.5", "10.20.30"])
def test_a_semver_version_is_accepted(text: str) -> None:
    assert str(parse_version(text)) == text


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("01.2.3", "(no leading zeros)"),
        ("1.02.3", "(no leading zeros)"),
        ("1.2.3-01", "(no leading zeros)"),
        ("v1.2.3", "(without the 'v')"),
        ("1.2", ""),
        ("1.2.3.4", ""),
        ("", ""),
    ],
)
def test_what_is_not_semver_is_refused_with_a_hint(text: str, hint: str) -> None:
    with pytest.raises(VersionError) as refused:
        parse_version(text)
    assert str(refused.value) == (
        f"{text!r} is not a SemVer version{' ' + hint if hint else ''}; write MAJOR.MINOR.PATCH "
        "such as 1.0.0"
    )
    assert not is_version(text)


def test_tags_with_leading_zeros_are_not_releases() -> None:
    assert tag_version("v01.2.3") is None
    assert tag_version("v1.2.3") == parse_version("1.2.3")
    assert tag_version("1.2.3-rc.1") is None  # a pre-release is never a range's pick
    assert tag_version("latest") is None


def test_build_metadata_does_not_outrank_the_same_release() -> None:
    tags = ["v1.2.3", "v1.2.3+zzz", "v1.2.2+build.99"]
    assert select_tag(tags, ">=1.0") == "v1.2.3"
    assert select_tag(["v1.2.3+b", "v1.2.2"], ">=1") == "v1.2.3+b"
    assert parse_version("1.2.3+b") in VersionRange.parse("<=1.2.3")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (">=1.2,<2", "v1.4.2"),
        (">=1.2.0, <2.0.0", "v1.4.2"),
        ("<2", "v1.4.2"),
        ("==1.0.0", "v1.0.0"),
        ("1.0.0", "v1.0.0"),
        (">1.0.0,!=1.4.2,<2", "v1.2.0"),
        (">=2", "v2.0.0"),
        (">=3", None),
    ],
)
def test_a_range_selects_the_highest_release_tag_inside_it(spec: str, expected: str) -> None:
    tags = ["v1.0.0", "v1.2.0", "v1.4.2", "v2.0.0", "v2.1.0-rc.1", "v01.9.0", "main"]
    assert select_tag(tags, spec) == expected


@pytest.mark.parametrize("spec", ["not a range", "", ">=1.2,", ">=01.2", "~>1.2", ">= 1.x"])
def test_a_malformed_range_is_refused_naming_the_syntax(spec: str) -> None:
    with pytest.raises(VersionError, match=r"is not a version range: .*such as '>=1\.2,<2'"):
        VersionRange.parse(spec)
    with pytest.raises(PermanentError, match=r"provider t: version .* is not a version range"):
        select_version(["v1.0.0"], spec, source="t")


def test_no_matching_tag_names_the_releases_that_exist() -> None:
    with pytest.raises(PermanentError) as refused:
        select_version(["v1.0.0", "v01.0.0", "main"], ">=2", source="team")
    assert (
        str(refused.value) == "provider team: no release tag matches '>=2' (release tags: v1.0.0)"
    )


def test_the_version_is_one_and_providers_init_writes_it_as_min_core_version() -> None:
    assert __version__ == CORE_VERSION
    manifest = scaffold("my-queue")["provider.yaml"]
    assert f"minCoreVersion: {__version__}" in manifest


def test_innominatus_version_prints_the_core_version_providers_init_writes() -> None:
    from click.testing import CliRunner

    from reconciler.cli import main

    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.split()[-1] == CORE_VERSION
