"""Attack (provider repository tags): version ranges against tags the semver code could
mishandle. Held as regression tests: pre-releases are never picked, build metadata neither
orders nor wins, a ``v`` prefix is optional, huge numbers compare as numbers, and a range in
npm's space-separated style is refused rather than read as something else."""

from __future__ import annotations

import pytest

from reconciler.providers.versions import VersionError, VersionRange, parse_version, select_tag


@pytest.mark.parametrize(
    ("tags", "spec", "chosen"),
    [
        (["v1.2.3", "v1.3.0-rc.1", "v2.0.0"], ">=1.2,<2", "v1.2.3"),
        (["v1.0.0-rc.1"], ">=1.0.0-rc.0", None),
        (["v1.2.3+b", "v1.2.3"], ">=1", "v1.2.3"),
        (["v1.2.3"], "<=1.2.3+zzz", "v1.2.3"),
        (["v1.2.3+build"], "!=1.2.3", None),
        (["v2.0.0+build"], "<2", None),
        (["v10.0.0", "v9.0.0"], ">=1", "v10.0.0"),
        (["v99999999999999999999999.0.0", "v2.0.0"], ">=1", "v99999999999999999999999.0.0"),
        (["V1.2.3", "release-1.2.3", "v01.2.3", "v1.2"], ">=0", None),
        (["1.4.0", "v1.3.9"], "^1.2".replace("^", ">="), "1.4.0"),
    ],
)
def test_a_range_picks_the_highest_release_tag_and_nothing_else(
    tags: list[str], spec: str, chosen: str | None
) -> None:
    assert select_tag(tags, spec) == chosen


@pytest.mark.parametrize("spec", ["", ">=1.2 <2", "^1.2", "~1.2", ">=1.2,", "01.2", ">=v1"])
def test_a_range_that_is_not_comparators_separated_by_commas_is_refused(spec: str) -> None:
    with pytest.raises(VersionError):
        VersionRange.parse(spec)


@pytest.mark.parametrize("text", ["01.2.3", "v1.2.3", "1.2", "1.2.3.4", 1.2, None, "1.2.3 "])
def test_a_manifest_version_must_be_strict_semver(text: object) -> None:
    with pytest.raises(VersionError):
        parse_version(text)
