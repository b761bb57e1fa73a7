"""CLI tables as kubectl prints them when piped: plain, aligned, one row per line, cells shown
as written (never markup, never a control sequence)."""

from __future__ import annotations

import io

from reconciler.cli.group import error_line
from reconciler.cli.tables import Table


def _printed(table: Table, *, wide: bool = False) -> str:
    stream = io.StringIO()  # not a terminal: the plain form
    table.print(wide=wide, stream=stream)
    return stream.getvalue()


def test_piped_tables_are_aligned_plain_text_without_trailing_blanks() -> None:
    table = Table(("APP", "PHASE", "MESSAGE"))
    table.add("shop", "Ready", "")
    table.add("a-longer-name", "Failed", "step failed")
    assert _printed(table) == (
        "APP             PHASE    MESSAGE\n"
        "shop            Ready\n"
        "a-longer-name   Failed   step failed\n"
    )


def test_wide_columns_appear_only_when_asked_for() -> None:
    table = Table(("APP",), wide_columns=("COMMIT",))
    table.add("shop", wide=("abc123",))
    assert _printed(table) == "APP\nshop\n"
    assert _printed(table, wide=True) == "APP    COMMIT\nshop   abc123\n"


def test_a_cell_cannot_forge_rows_or_send_escape_sequences() -> None:
    table = Table(("APP", "MESSAGE"))
    table.add("shop", "line one\nshop   Ready\x1b[2J [red]markup[/red]")
    lines = _printed(table).splitlines()
    assert len(lines) == 2
    assert "\x1b" not in lines[1]
    assert lines[1].endswith("line one shop   Ready\\x1b[2J [red]markup[/red]")


def test_an_empty_table_prints_its_header() -> None:
    assert _printed(Table(("ID", "APP"))) == "ID   APP\n"


def test_errors_read_error_what_then_what_to_do() -> None:
    assert error_line("No such option: --x.", "see `innominatus -h`") == (
        "error: no such option: --x; see `innominatus -h`"
    )
    assert error_line("API down") == "error: API down"  # acronyms keep their case
