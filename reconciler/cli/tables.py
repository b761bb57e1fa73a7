"""Tables of the CLI, as kubectl prints them: on a terminal, fitted to its width (long cells
wrap); piped or redirected, plain text (no box drawing, no colour, one row per line, columns
separated by three spaces) that ``grep``, ``awk`` and ``cut`` can read. ``-o wide`` adds the
columns marked wide. Cells are text, never markup: a message holding ``[red]`` or an escape
sequence is shown as written, control characters escaped."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from typing import TextIO

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _clean(cell: str) -> str:
    """One line of printable text: newlines become spaces, other control characters are
    escaped (``\\x1b``), so a cell cannot move the cursor or forge a row."""
    cell = cell.replace("\r\n", " ").replace("\n", " ").replace("\t", " ")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", cell)


@dataclass
class Table:
    columns: tuple[str, ...]
    wide_columns: tuple[str, ...] = ()
    """Shown after ``columns`` with ``-o wide`` only."""
    rows: list[tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=list)

    def add(self, *cells: str | None, wide: tuple[str | None, ...] = ()) -> None:
        padded = (*wide, *[""] * (len(self.wide_columns) - len(wide)))
        self.rows.append(
            (
                tuple(_clean(c or "") for c in cells),
                tuple(_clean(c or "") for c in padded[: len(self.wide_columns)]),
            )
        )

    def print(self, *, wide: bool = False, stream: TextIO | None = None) -> None:
        stream = stream or sys.stdout
        headers = self.columns + (self.wide_columns if wide else ())
        rows = [cells + (extra if wide else ()) for cells, extra in self.rows]
        if stream.isatty():
            _rich(headers, rows, stream)
        else:
            stream.write(plain(headers, rows))


def plain(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Columns padded to their widest cell, three spaces apart, no trailing blanks."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines = [
        "   ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [headers, *rows]
    ]
    return "\n".join(lines) + "\n"


def _rich(headers: tuple[str, ...], rows: list[tuple[str, ...]], stream: TextIO) -> None:
    from rich.console import Console  # imported on use: only a terminal needs it
    from rich.table import Table as RichTable
    from rich.text import Text

    grid = RichTable(*headers)
    for row in rows:
        grid.add_row(*(Text(cell) for cell in row))
    Console(file=stream).print(grid)
