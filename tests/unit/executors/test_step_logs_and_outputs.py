"""The pure parts of the step contract: the bounded, masked log and reading a step's outputs
(the last JSON object on stdout, the ``INNOMINATUS_OUTPUTS`` file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.executors.logbuffer import LogBuffer
from reconciler.executors.outputs import last_json_object, read_outputs_file

PEM = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\nAQEFAASCBKcwggSjAgEAAoIB\n-----END KEY-----"


def test_log_keeps_the_last_bytes_on_a_character_boundary_and_counts_the_rest() -> None:
    log = LogBuffer(limit=10, secrets=(), sink=None)
    written = "".join(f"ü{i}\n" for i in range(1000))  # "ü" is two bytes
    for line in written.splitlines(keepends=True):
        log.write(line)
    kept = log.text
    assert written.endswith(kept)
    assert len(kept.encode()) <= 10
    assert log.truncated + len(kept.encode()) == len(written.encode())


def test_a_zero_limit_keeps_nothing_and_counts_everything() -> None:
    log = LogBuffer(limit=0, secrets=(), sink=None)
    log.write("abc\n")
    assert (log.text, log.truncated) == ("", 4)


def test_secrets_are_masked_before_the_sink_sees_them() -> None:
    streamed: list[str] = []
    log = LogBuffer(limit=1000, secrets={"s3cr3t", "s3cr3t-and-more", "abc"}, sink=streamed.append)
    log.write("a s3cr3t-and-more, a s3cr3t, abc\n")
    assert streamed == ["a ***, a ***, abc\n"]  # longest first; shorter than 4: not masked
    assert log.text == streamed[0]
    assert log.mask("x s3cr3t") == "x ***"


def test_each_line_of_a_multiline_secret_is_masked_on_its_own() -> None:
    log = LogBuffer(limit=1000, secrets={PEM}, sink=None)
    for line in PEM.splitlines(keepends=True):
        log.write(line)
    assert "MIIEvQ" not in log.text
    assert "AQEFAA" not in log.text
    assert log.longest_secret == len(PEM)


CASES = {
    "heredoc after text": (
        'Creating...\n{\n  "user": "app",\n  "port": "5432"\n}\n',
        {"user": "app", "port": "5432"},
    ),
    "the last of several": ('{"a": 1}\nlog\n{"b": 2}\ndone\n', {"b": "2"}),
    "nested objects are not top level": ('{"a": {"b": {"c": 1}}}\n', {"a": '{"b":{"c":1}}'}),
    "a broken fragment after it": ('{"a": 1}\n{"b": oops\n', {"a": "1"}),
    "a truncated last object": ('{"a": 1}\n{"b": 2, "c": ', {"a": "1"}),
    "template braces and shell braces": ('{{ .x }} ${HOME} {"k": "v"} }{', {"k": "v"}),
    "terraform-style maps": ('tags = {\n  "Name" = "x"\n}\n{"k": "v"}\n', {"k": "v"}),
    "an object in an array": ('[{"a": 1}, {"b": 2}]', {"b": "2"}),
    "an escaped quote in a key": ('{"a\\"b": true}', {'a"b': "true"}),
    "values become strings": (
        '{"n": 1.5, "t": true, "z": null, "l": [1, "x"]}',
        {"n": "1.5", "t": "true", "z": "null", "l": '[1,"x"]'},
    ),
    "no object": ("plain text [1, 2] {not json}\n", {}),
    "an empty object": ('{"a": 1}\n{}\n', {}),
}


@pytest.mark.parametrize("case", CASES)
def test_the_last_top_level_json_object_on_stdout_becomes_outputs(case: str) -> None:
    stdout, expected = CASES[case]
    assert last_json_object(stdout) == expected


def test_an_object_longer_than_the_decode_window_is_found() -> None:
    value = {"blob": "x" * 10_000, "list": list(range(2000))}
    stdout = "start\n" + json.dumps(value, indent=2) + "\n"
    assert json.loads(last_json_object(stdout)["list"]) == value["list"]
    assert last_json_object(stdout)["blob"] == value["blob"]


def test_deeply_nested_junk_does_not_raise() -> None:
    assert last_json_object('{"a":' * 3000 + '\n{"k": "v"}\n') == {"k": "v"}


keys = st.text(st.characters(codec="utf-8"), max_size=8)
values = st.text(st.characters(codec="utf-8"), max_size=20)
noise = st.text(st.characters(codec="utf-8", exclude_characters="{"), max_size=200)


@given(
    before=noise,
    after=noise,
    obj=st.dictionaries(keys, values, max_size=5),
    indent=st.sampled_from([None, 2]),
)
def test_any_object_printed_after_any_text_is_found(
    before: str, after: str, obj: dict[str, str], indent: int | None
) -> None:
    stdout = f"{before}\n{json.dumps(obj, indent=indent)}\n{after}"
    assert last_json_object(stdout) == obj


def test_outputs_file_holds_key_value_lines(tmp_path: Path) -> None:
    path = tmp_path / "outputs"
    path.write_text("# comment\n\nhost=db.local\nurl=postgres://x?a=b\nempty=\n")
    assert read_outputs_file(path) == {"host": "db.local", "url": "postgres://x?a=b", "empty": ""}


def test_outputs_file_holds_one_json_object(tmp_path: Path) -> None:
    path = tmp_path / "outputs"
    path.write_text('{\n  "port": 5432,\n  "host": "db"\n}\n')
    assert read_outputs_file(path) == {"port": "5432", "host": "db"}
    assert read_outputs_file(tmp_path / "absent") == {}
