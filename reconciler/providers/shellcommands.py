"""What a simple shell command is, for :mod:`reconciler.providers.shellscan`: the words that
may come before its name (assignments, wrappers such as ``env`` or ``sudo``, keywords), and the
commands whose arguments the shell runs as code (``eval``, ``trap``, ``let``, ``sh -c`` and
the like), where no template value may sit. Pure.
"""

from __future__ import annotations

import re

ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\[[^\]]*\])?\+?=")
_WRAPPERS = ("!", "time", "command", "builtin", "exec", "nohup", "sudo", "env", "nice")
_KEYWORDS = ("then", "do", "else", "elif", "if", "while", "until", "{", "}")
PREFIXES = frozenset(_WRAPPERS + _KEYWORDS)
"""Words after which the next word is still a command name."""
_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "ash", "mksh", "busybox", "su", "runuser"})
_CODE_COMMANDS = {
    "eval": "the command string of `eval`",
    "trap": "the command string of `trap`",
    "let": "the arithmetic of `let`",
}


def command_words(words: list[str]) -> list[str]:
    """The words of a simple command from its name on (assignments and prefixes skipped)."""
    index = 0
    while index < len(words) and (ASSIGNMENT.match(words[index]) or words[index] in PREFIXES):
        index += 1
    return words[index:]


def runs_as_code(words: list[str]) -> str | None:
    """What of the simple command ``words`` the shell runs as code, described (None: none)."""
    command = command_words(words)
    if not command:
        return None
    name = command[0].strip("\"'").rsplit("/", 1)[-1]
    if name in _CODE_COMMANDS:
        return _CODE_COMMANDS[name]
    for position, word in enumerate(command):
        if word.strip("\"'").rsplit("/", 1)[-1] in _SHELLS:
            for option in command[position + 1 :]:
                if re.fullmatch(r"-[A-Za-z]*c[A-Za-z]*", option):
                    return f"the command string of `{word} {option}`"
    return None
