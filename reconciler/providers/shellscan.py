"""Where a point of a shell script sits: the lexer behind injection-safe script rendering.

:mod:`reconciler.providers.scripts` asks, for every template expansion of a ``shell``/``policy``
script, what the shell would make of text placed there: which quoting applies (unquoted,
double, single, ``$'...'``, a comment, a heredoc body that expands or one that does not),
whether the text would begin a command argument (where a value starting with ``-`` turns into
an option), and whether no value may sit there at all — inside ``$(( ))``, ``(( ))``, ``[[ ]]``,
backticks, array subscripts, the command string of ``eval``, ``sh -c``/``bash -c``, ``su -c``
or ``trap``, as the command name itself, as a heredoc delimiter, or anywhere after a heredoc
whose delimiter this lexer cannot classify (its body could be read as commands).

It follows bash's grammar as far as scripts in providers use it: nested ``$( )``, ``${ }``,
quotes inside command substitutions, every heredoc delimiter form (``<<EOF``, ``<<\\EOF``,
``<<"EOF"``, ``<<'EOF'``, ``<<-EOF``, ``E"O"F``) with the body up to the delimiter line,
here-strings, process substitution and comments. ``case`` patterns inside ``$( )`` are not
followed (a pattern's ``)`` would end the substitution early). Pure.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Literal

from reconciler.providers.shellcommands import ASSIGNMENT, PREFIXES, command_words, runs_as_code

Quoting = Literal["unquoted", "double", "single", "ansi", "comment", "heredoc", "heredoc-literal"]

_COMMANDS = frozenset({"top", "subst", "test"})
_QUOTING: dict[str, Quoting] = {
    kind: kind for kind in ("double", "single", "ansi", "comment", "heredoc", "heredoc-literal")
}
_DELIMITER_CHARS = re.compile(r"[A-Za-z0-9_.+%@:,=/-]")
_WORD_END = " \t\n;|&<>()"
_SUBSCRIPT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\[[^\]]*$")
_DEFAULT_FORM = re.compile(r"[A-Za-z_][A-Za-z0-9_]*:?[-=+?]")
_WORD_OPENERS = re.compile(r"[\"']|\$\{[A-Za-z_][A-Za-z0-9_]*:?[-=+?]")


@dataclass
class _Frame:
    kind: str
    word: str = ""
    words: list[str] = field(default_factory=list)
    redirect: bool = False  # the word being read is a redirection target, not an argument
    pending: list[tuple[str, bool, bool]] = field(default_factory=list)
    depth: int = 0
    text: str = ""  # ${ } frames: the text since ${ ; heredoc frames: the current line
    delimiter: str = ""
    strip_tabs: bool = False
    in_double: bool = False  # a ${ } frame inside double quotes or a heredoc


@dataclass(frozen=True, slots=True)
class Where:
    """What the shell makes of text placed at one point of a script."""

    quoting: Quoting
    refused: str | None
    """Why no template may sit here (a phrase: "inside `$(( ))`"), or None."""
    argument_start: bool
    """Text here begins a word that is a command's argument (or its name), before any
    ``--`` that ends the command's options."""
    command_name: bool
    """Text here begins the command's name: a value would choose the program."""
    heredoc_line: str = ""
    heredoc_delimiter: str = ""
    """In a heredoc body: the current line so far and the delimiter that would end it."""


class ShellScanner:
    """Feed script text in pieces; ask :meth:`where` for the context at the end so far."""

    def __init__(self) -> None:
        self._stack: list[_Frame] = [_Frame("top")]
        self._buffer = ""
        self._position = 0
        self._poisoned: str | None = None

    def feed(self, text: str) -> None:
        self._buffer += text
        self._advance(final=False)

    def where(self) -> Where:
        """The context at the end of the text fed so far (text held back for lookahead is
        read as if the script ended there)."""
        probe = copy.deepcopy(self)
        return probe._finish()

    # -- reading ---------------------------------------------------------------------------

    def _advance(self, *, final: bool) -> None:
        while self._position < len(self._buffer):
            consumed = self._step(final=final)
            if consumed == 0:
                return  # needs more text to decide
            self._position += consumed
        if self._position > 65536:  # keep the buffer small for long scripts
            self._buffer = self._buffer[self._position :]
            self._position = 0

    def _ahead(self, count: int) -> str:
        return self._buffer[self._position : self._position + count]

    def _enough(self, count: int, *, final: bool) -> bool:
        return final or len(self._buffer) - self._position >= count

    def _append(self, text: str) -> None:
        """Raw text of the word being read, kept on the innermost command frame (text of a
        heredoc body or a comment belongs to no word)."""
        for frame in reversed(self._stack):
            if frame.kind in ("heredoc", "heredoc-literal", "comment"):
                return
            if frame.kind in _COMMANDS:
                frame.word += text
                return

    def _step(self, *, final: bool) -> int:
        frame = self._stack[-1]
        kind = frame.kind
        if kind in _COMMANDS:
            return self._command_step(frame, final=final)
        char = self._buffer[self._position]
        if kind == "comment":
            if char == "\n":
                self._stack.pop()  # the newline itself ends the command in the frame below
                return self._step(final=final)
            return 1
        if kind in ("single", "ansi"):
            if kind == "ansi" and char == "\\":
                if not self._enough(2, final=final):
                    return 0
                self._append(self._ahead(2))
                return min(2, len(self._buffer) - self._position)
            self._append(char)
            if char == "'":
                self._stack.pop()
            return 1
        if kind == "backtick":
            if char == "\\":
                if not self._enough(2, final=final):
                    return 0
                return min(2, len(self._buffer) - self._position)
            if char == "`":
                self._stack.pop()
                self._append("`")
            return 1
        if kind in ("arith", "arithcmd"):
            return self._arith_step(frame, char, final=final)
        if kind == "bracket":
            if char == "]":
                self._stack.pop()
            return 1
        if kind == "heredoc-literal":
            return self._heredoc_step(frame, char, expanding=False, final=final)
        if kind == "heredoc":
            return self._heredoc_step(frame, char, expanding=True, final=final)
        if kind == "double":
            if char == "\\":
                if not self._enough(2, final=final):
                    return 0
                self._append(self._ahead(2))
                return min(2, len(self._buffer) - self._position)
            if char == '"':
                self._stack.pop()
                self._append('"')
                return 1
            expansion = self._expansion(final=final, in_double=True)
            if expansion is not None:
                return expansion
            self._append(char)
            return 1
        # "param": ${ ... }
        if char == "\\":
            if not self._enough(2, final=final):
                return 0
            frame.text += self._ahead(2)
            self._append(self._ahead(2))
            return min(2, len(self._buffer) - self._position)
        if char == "}":
            self._stack.pop()
            self._append("}")
            return 1
        if char == '"':
            frame.text += char
            self._append(char)
            self._stack.append(_Frame("double"))
            return 1
        if char == "'" and not frame.in_double:
            frame.text += char
            self._append(char)
            self._stack.append(_Frame("single"))
            return 1
        expansion = self._expansion(final=final, in_double=frame.in_double)
        if expansion is not None:
            frame.text += "$"
            return expansion
        frame.text += char
        self._append(char)
        return 1

    def _expansion(self, *, final: bool, in_double: bool) -> int | None:
        """``$(``, ``$((``, ``${``, ``$[`` or a backtick at the position: push its frame."""
        char = self._buffer[self._position]
        if char == "`":
            self._append("`")
            self._stack.append(_Frame("backtick"))
            return 1
        if char != "$":
            return None
        if not self._enough(3, final=final):
            return 0
        ahead = self._ahead(3)
        if ahead.startswith("$(("):
            self._append("$((")
            self._stack.append(_Frame("arith"))
            return 3
        if ahead.startswith("$("):
            self._append("$(")
            self._stack.append(_Frame("subst"))
            return 2
        if ahead.startswith("${"):
            self._append("${")
            self._stack.append(_Frame("param", in_double=in_double))
            return 2
        if ahead.startswith("$["):
            self._append("$[")
            self._stack.append(_Frame("bracket"))
            return 2
        return None

    def _arith_step(self, frame: _Frame, char: str, *, final: bool) -> int:
        if char == "(":
            frame.depth += 1
            return 1
        if char == ")":
            if frame.depth > 0:
                frame.depth -= 1
                return 1
            if not self._enough(2, final=final):
                return 0
            self._stack.pop()
            self._append("))")
            return 2 if self._ahead(2) == "))" else 1
        return 1

    def _heredoc_step(self, frame: _Frame, char: str, *, expanding: bool, final: bool) -> int:
        if char == "\n":
            line = frame.text.lstrip("\t") if frame.strip_tabs else frame.text
            if line == frame.delimiter:
                self._stack.pop()
            else:
                frame.text = ""
            return 1
        if expanding:
            if char == "\\":
                if not self._enough(2, final=final):
                    return 0
                pair = self._ahead(2)
                frame.text += pair if pair[-1:] != "\n" else ""
                return len(pair)
            expansion = self._expansion(final=final, in_double=True)
            if expansion is not None:
                frame.text += "$" if char == "$" else char
                return expansion
        frame.text += char
        return 1

    def _end_word(self, frame: _Frame) -> None:
        word, frame.word = frame.word, ""
        if not word:
            return
        if frame.redirect:
            frame.redirect = False
            return
        if frame.kind == "test" and word == "]]":
            self._stack.pop()
            return
        if not frame.words and word == "[[":
            self._stack.append(_Frame("test"))
            return
        if not frame.words and word in PREFIXES:
            return  # keeps the command position: what follows is a command
        frame.words.append(word)

    def _end_command(self, frame: _Frame) -> None:
        self._end_word(frame)
        frame.words = []

    def _command_step(self, frame: _Frame, *, final: bool) -> int:
        char = self._buffer[self._position]
        if char == "#" and not frame.word:
            self._stack.append(_Frame("comment"))
            return 1
        if char == "\\":
            if not self._enough(2, final=final):
                return 0
            pair = self._ahead(2)
            if pair != "\\\n":  # a line continuation joins lines without a word break
                frame.word += pair
            return len(pair)
        if char in "'\"":
            frame.word += char
            self._stack.append(_Frame("single" if char == "'" else "double"))
            return 1
        if char == "$":
            if not self._enough(2, final=final):
                return 0
            if self._ahead(2) in ("$'", '$"'):
                frame.word += self._ahead(2)
                self._stack.append(_Frame("ansi" if self._ahead(2) == "$'" else "double"))
                return 2
        expansion = self._expansion(final=final, in_double=False)
        if expansion is not None:
            return expansion
        if char in " \t":
            self._end_word(frame)
            return 1
        if char == "\n":
            self._end_command(frame)
            for delimiter, quoted, strip in reversed(frame.pending):
                kind = "heredoc-literal" if quoted else "heredoc"
                self._stack.append(_Frame(kind, delimiter=delimiter, strip_tabs=strip))
            frame.pending = []
            return 1
        if char in "<>":
            return self._redirection(frame, final=final)
        if char == "&":
            if not self._enough(2, final=final):
                return 0
            if self._ahead(2) == "&>":  # &>file, &>>file
                self._end_word(frame)
                frame.redirect = True
                return 2
            self._end_command(frame)
            return 1
        if char in ";|":
            self._end_command(frame)
            return 1
        if char == "(":
            if not self._enough(2, final=final):
                return 0
            if not frame.word and not frame.words and self._ahead(2) == "((":
                self._stack.append(_Frame("arithcmd"))
                return 2
            if frame.kind == "subst":
                frame.depth += 1
            self._end_command(frame)
            return 1
        if char == ")":
            self._end_command(frame)
            if frame.kind == "subst":
                if frame.depth == 0:
                    self._stack.pop()
                    self._append(")")
                else:
                    frame.depth -= 1
            return 1
        frame.word += char
        return 1

    def _redirection(self, frame: _Frame, *, final: bool) -> int:
        if not self._enough(3, final=final):
            return 0
        ahead = self._ahead(3)
        if ahead[:2] in ("<(", ">("):
            frame.word += ahead[:2]
            self._stack.append(_Frame("subst"))
            return 2
        if ahead == "<<<":
            self._end_word(frame)
            frame.redirect = True
            return 3
        if ahead.startswith("<<"):
            return self._heredoc_start(frame, final=final)
        self._end_word(frame)  # the 2 of 2>file becomes a word of its own: harmless here
        frame.redirect = True
        return 2 if ahead[:2] in (">>", ">&", "<&", ">|", "<>") else 1

    def _heredoc_start(self, frame: _Frame, *, final: bool) -> int:
        """``<<[-] WORD``: the delimiter (quote removal applied) and whether the body
        expands. A word this cannot read (``<<$X``, ``<<"E$X"``, a template) poisons the rest
        of the script: its body could not be told from commands."""
        rest = self._buffer[self._position :]
        opener = re.match(r"<<(-?)[ \t]*", rest)
        assert opener is not None
        index, delimiter, quoted = opener.end(), "", False
        while index < len(rest) and rest[index] not in _WORD_END:
            char = rest[index]
            if char == "\\":
                if index + 1 >= len(rest):
                    break
                delimiter, quoted, index = delimiter + rest[index + 1], True, index + 2
            elif char in "'\"":
                close = rest.find(char, index + 1)
                if close == -1:
                    break
                inner = rest[index + 1 : close]
                if "\n" in inner or (char == '"' and re.search(r"[$`\\]", inner)):
                    break
                delimiter, quoted, index = delimiter + inner, True, close + 1
            elif _DELIMITER_CHARS.fullmatch(char):
                delimiter, index = delimiter + char, index + 1
            else:
                break
        if index >= len(rest) and not final:
            return 0  # the word may go on in text not fed yet
        if not delimiter or (index < len(rest) and rest[index] not in _WORD_END):
            self._poisoned = (
                "after a heredoc whose delimiter cannot be classified (its body could be read "
                "as commands); write <<EOF, <<'EOF', <<\"EOF\" or <<\\EOF"
            )
            return 2
        frame.pending.append((delimiter, quoted, bool(opener.group(1))))
        self._end_word(frame)
        return index

    # -- answering ---------------------------------------------------------------------------

    def _finish(self) -> Where:
        self._advance(final=True)
        stack = self._stack
        top = stack[-1]
        refused = self._poisoned or self._refusal()
        in_heredoc = top.kind in ("heredoc", "heredoc-literal")
        if top.kind == "param":
            quoting: Quoting = "double" if top.in_double else "unquoted"
        else:
            quoting = _QUOTING.get(top.kind, "unquoted")
        argument, name = self._argument_position()
        return Where(
            quoting=quoting,
            refused=refused,
            argument_start=argument,
            command_name=name,
            heredoc_line=top.text if in_heredoc else "",
            heredoc_delimiter=top.delimiter if in_heredoc else "",
        )

    def _refusal(self) -> str | None:
        kinds = {frame.kind for frame in self._stack}
        if "arith" in kinds or "arithcmd" in kinds or "bracket" in kinds:
            return "inside arithmetic ($(( )), (( )) or $[ ]), where a value is evaluated as code"
        if "test" in kinds:
            return "inside [[ ]], whose comparisons evaluate a value as arithmetic code"
        if "backtick" in kinds:
            return "inside backticks; use $( ) instead"
        if any(f.kind == "param" and not _DEFAULT_FORM.match(f.text) for f in self._stack):
            return "inside ${...} other than a default value such as ${NAME:-...}"
        for frame in self._stack:
            if frame.kind not in _COMMANDS:
                continue
            words = [*frame.words]
            if _SUBSCRIPT.match(frame.word) and not words:
                return "inside an array subscript, where a value is evaluated as code"
            code = runs_as_code(words)
            if code is not None:
                return f"inside {code}, where a value would be read as shell code"
        return None

    def _argument_position(self) -> tuple[bool, bool]:
        for frame in reversed(self._stack):
            if frame.kind in ("heredoc", "heredoc-literal", "comment"):
                return False, False
            if frame.kind in _COMMANDS:
                if frame.redirect or ASSIGNMENT.match(frame.word):
                    return False, False
                at_start = _WORD_OPENERS.sub("", frame.word) == ""
                command = command_words(frame.words)
                if "--" in command[1:]:
                    return False, False  # after `--` no argument is an option
                return at_start, at_start and not command
        return False, False


def shell_context(text: str) -> Quoting:
    """The quoting at the end of ``text`` (unquoted, double, single, ansi, comment, heredoc or
    heredoc-literal)."""
    scanner = ShellScanner()
    scanner.feed(text)
    return scanner.where().quoting
