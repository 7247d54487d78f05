"""Tables of plain-text cells for the status, the plan's skipped milestones and the overview:
laid out by rich when small, and written as the same text in one write when large, because
rich lays out every cell (about half a millisecond a row: 77,000 invoices took 45 s).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape as esc
from rich.table import Table


class Red(str):
    """A cell a terminal shows in red."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Col:
    """A column of `grid`: `fold` breaks a long name onto a second line instead of cutting
    it, `wrap` lets rich wrap it at spaces; the others never wrap (amounts, dates, numbers)."""

    name: str
    right: bool = False
    min_width: int = 0
    fold: bool = False
    wrap: bool = False


def amount(name: str) -> Col:
    """An amount column: whole on one line, room for 123,456.78."""
    return Col(name, right=True, min_width=9)


# Past this many rows a table is written as plain aligned text in one write: rich lays out
# every cell (about half a millisecond a row), so 77,000 invoices took 45 s. The layout is
# rich's own for a table that fits (`tests/test_status.py` compares them); a wider one runs
# past the right margin instead of folding, and no cell is red.
PLAIN_ROWS = 300


def grid(
    console: Console,
    title: str,
    columns: Sequence[Col],
    rows: Sequence[Sequence[str]],
    *,
    tight: bool = True,
    plain: bool | None = None,
) -> None:
    """A titled table of plain-text cells (escaped here; a `Red` cell is red). `tight`: the
    padding that keeps the amount columns within 80 columns (`_table`); else rich's default."""
    if plain if plain is not None else len(rows) > PLAIN_ROWS:
        console.file.write(plain_table(title, columns, rows, tight=tight))
        return
    table = (
        _table(title) if tight else Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    )
    for col in columns:
        table.add_column(
            col.name,
            justify="right" if col.right else "left",
            no_wrap=not (col.fold or col.wrap),
            min_width=col.min_width or None,
            overflow="fold" if col.fold else "ellipsis",
        )
    for row in rows:
        table.add_row(*(f"[red]{esc(c)}[/red]" if isinstance(c, Red) else esc(c) for c in row))
    console.print(table)


def plain_table(
    title: str, columns: Sequence[Col], rows: Sequence[Sequence[str]], *, tight: bool = True
) -> str:
    """The text rich prints for such a table when it fits, built with str methods alone."""
    widths = [max(cell_len(c.name), c.min_width) for c in columns]
    for row in rows:
        for n, cell in enumerate(row):
            size = len(cell) if cell.isascii() else cell_len(cell)
            if size > widths[n]:
                widths[n] = size
    gap, edge = ("  ", " ") if tight else ("   ", "  ")
    total = sum(widths) + len(gap) * (len(widths) - 1) + 2 * len(edge)

    # per column, how a cell is padded: str's own methods for text of one cell per character
    pads = [
        (lambda cell, w=w: cell.rjust(w)) if col.right else (lambda cell, w=w: cell.ljust(w))
        for col, w in zip(columns, widths, strict=True)
    ]

    def line(cells: Sequence[str]) -> str:
        parts = [
            pad(cell) if cell.isascii() else _pad(cell, widths[n], columns[n].right)
            for n, (pad, cell) in enumerate(zip(pads, cells, strict=True))
        ]
        return edge + gap.join(parts) + edge

    # the title wraps at the table's width, as rich wraps it
    out = [_pad(text, total, False) for text in textwrap.wrap(title, total) or [""]]
    out += [" " * total, line([c.name for c in columns])]
    out.append(" " + "─" * (total - 2) + " ")
    out += [line(row) for row in rows]
    out.append(" " * total)
    return "\n".join(out) + "\n"


def plain_document(
    heading: str, sentence: str | None, rows: Sequence[tuple[str, str]], width: int
) -> str | None:
    """A planned document as `render.plan` prints it through rich (its heading, the line on
    its tax and email, its lines and total), or None when some line would not fit `width`
    (rich would wrap it: that one goes through rich)."""
    first = max(len(a) if a.isascii() else cell_len(a) for a, _ in rows)
    second = max(len(b) for _, b in rows)
    total = first + second + 7
    if total > width or cell_len(heading) > width:
        return None
    out = ["", heading]
    if sentence is not None:
        if cell_len(sentence) + 2 > width:
            return None
        out.append(f"  {sentence}")
    out.append(" " * total)
    out += [f"  {_pad(a, first, False)}   {b.rjust(second)}  " for a, b in rows]
    out.append(" " * total)
    return "\n".join(out) + "\n"


def _pad(cell: str, width: int, right: bool) -> str:
    size = len(cell) if cell.isascii() else cell_len(cell)
    room = " " * max(0, width - size)
    return room + cell if right else cell + room


def _table(title: str) -> Table:
    """Tight padding so the amount columns fit an 80-column terminal whole: an amount is never
    cut short with an ellipsis, and a name too long for its column folds onto a second line
    (`overflow="fold"` on the text columns) instead of losing its end."""
    return Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
