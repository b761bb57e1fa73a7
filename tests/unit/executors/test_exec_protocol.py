"""The exec plugin protocol's response parsing: one JSON object, typed fields, the protocol
name checked, values made text."""

from __future__ import annotations

import pytest

from reconciler.executors.exec_plugin import PROTOCOL, parse_response


def test_a_full_response_gives_outputs_secret_outputs_and_message() -> None:
    stdout = (
        '{"protocol": "innominatus.exec/v1", "outputs": {"host": "db", "port": 5432, '
        '"tls": true, "gone": null}, "secret_outputs": {"password": "pw"}, "message": "ok"}\n'
    )
    assert parse_response(stdout) == (
        {"host": "db", "port": "5432", "tls": "true"},
        {"password": "pw"},
        "ok",
    )


def test_empty_stdout_is_an_empty_response() -> None:
    assert parse_response("  \n") == ({}, {}, "")


@pytest.mark.parametrize(
    ("stdout", "message"),
    [
        ("working...\n{}", "print logs to stderr"),
        ('["a"]', "JSON but not an object"),
        ('{"outputs": ["a"]}', "`outputs` in the plugin's response must be a JSON object"),
        ('{"secret_outputs": "x"}', "`secret_outputs` in the plugin's response"),
        ('{"message": 3}', "`message` in the plugin's response must be a string"),
        ('{"protocol": "innominatus.exec/v2"}', "expected 'innominatus.exec/v1'"),
    ],
)
def test_a_malformed_response_is_refused_with_a_reason(stdout: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_response(stdout)


def test_the_protocol_is_versioned() -> None:
    assert PROTOCOL == "innominatus.exec/v1"
