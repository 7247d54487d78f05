"""Tables of plain-text cells for the status, the plan's skipped milestones and the overview:
laid out by rich when small, and written as the same text in one write when large, because
rich lays out every cell (about half a millisecond a row: 77,000 invoices took 45 s).
"""

from __future__ import annotations

import json
import tempfile
import textwrap
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text


class Red(str):
    """A cell a terminal shows in red."""

    __slots__ = ()


class Loud(Red):
    """A cell a terminal shows in bold red: an amount overdue."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Col:
    """A column of `grid`: `fold` breaks a long name onto a second line instead of cutting
    it, `wrap` lets rich wrap it at spaces; the others never wrap (amounts, dates, numbers).
    `key`: what a person finds the row by (business, contract, invoice number): never cut,
    never folded, and repeated in the table below when some columns move there. `below`: when
    the table is too wide for the terminal, the columns with the highest `below` move to a
    second table under it, one at a time, until it fits; 0 never moves."""

    name: str
    right: bool = False
    min_width: int = 0
    fold: bool = False
    wrap: bool = False
    key: bool = False
    below: int = 0


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
    """A titled table of plain-text cells (never read as markup; a `Red` cell is red, a `Loud`
    one bold red). `tight`: the padding that keeps the amount columns within 80 columns
    (`_table`); else rich's default. Too wide for the console, the columns that may move go
    to a second table below it, beside the key columns (`Col.below`)."""
    large = plain if plain is not None else len(rows) > PLAIN_ROWS
    widths = natural_widths(columns, rows)
    least = [
        min(w, max(c.min_width, cell_len(c.name), FOLDED))
        if (c.wrap or c.fold) and not c.key
        else w
        for c, w in zip(columns, widths, strict=True)
    ]
    kept, moved = split(columns, least, console.width, tight=tight)
    parts = [(title, kept)]
    if moved:
        parts.append(
            (f"{title}, continued", [n for n in range(len(columns)) if columns[n].key] + moved)
        )
    for heading, shown in parts:
        cols = [columns[n] for n in shown]
        cells = [[row[n] for n in shown] for row in rows] if moved else rows
        if large:
            console.file.write(
                plain_table(heading, cols, cells, tight=tight, widths=[widths[n] for n in shown])
            )
        else:  # what cannot fit runs past the margin rather than be cut
            need = table_width([least[n] for n in shown], tight=tight)
            table = _rich_table(heading, cols, cells, tight=tight)
            console.print(table, width=need if need > console.width else None)


# A column that wraps or folds is not narrowed below this many cells to make room.
FOLDED = 12


def table_width(widths: Sequence[int], *, tight: bool = True) -> int:
    gap, edge = (2, 1) if tight else (3, 2)
    return sum(widths) + gap * (len(widths) - 1) + 2 * edge


def natural_widths(columns: Sequence[Col], rows: Sequence[Sequence[str]]) -> list[int]:
    """Each column's width with nothing cut: its widest cell or its name, or its minimum."""
    widths = _named_widths(columns)
    if not rows:
        return widths
    for n, cells in enumerate(zip(*rows, strict=True)):  # a column at a time, at C speed
        if "".join(cells).isascii():
            widest = max(map(len, cells))
        else:  # a wide or combining character: measured as the terminal shows it
            widest = max(len(c) if c.isascii() else cell_len(c) for c in cells)
        widths[n] = max(widths[n], widest)
    return widths


def _named_widths(columns: Sequence[Col]) -> list[int]:
    """Each column's width before its cells: its name's, or its minimum."""
    return [max(cell_len(c.name), c.min_width) for c in columns]


def split(
    columns: Sequence[Col], widths: Sequence[int], room: int, *, tight: bool = True
) -> tuple[list[int], list[int]]:
    """The columns (by index) that stay in the table and those that move below it, so that
    the table fits `room` columns where moving can make it fit."""
    kept = list(range(len(columns)))
    moved: list[int] = []
    movable = sorted((n for n, c in enumerate(columns) if c.below), key=lambda n: -columns[n].below)
    for n in movable:
        if table_width([widths[k] for k in kept], tight=tight) <= room:
            break
        kept.remove(n)
        moved.append(n)
    moved.sort()
    return kept, moved


def _rich_table(
    title: str, columns: Sequence[Col], rows: Sequence[Sequence[str]], *, tight: bool
) -> Table:
    table = (
        _table(title) if tight else Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    )
    for col in columns:
        table.add_column(
            col.name,
            justify="right" if col.right else "left",
            no_wrap=not (col.fold or col.wrap) or col.key,
            min_width=col.min_width or None,
            overflow="fold" if col.fold and not col.key else "ellipsis",
        )
    for row in rows:
        table.add_row(*(Text(c, style=_style(c)) for c in row))
    return table


def _style(cell: str) -> str:
    if isinstance(cell, Loud):
        return "bold red"
    return "red" if isinstance(cell, Red) else ""


def plain_table(
    title: str,
    columns: Sequence[Col],
    rows: Sequence[Sequence[str]],
    *,
    tight: bool = True,
    widths: Sequence[int] | None = None,
) -> str:
    """The text rich prints for such a table when it fits, built with str methods alone;
    `widths` when `natural_widths` already measured them."""
    widths = list(widths) if widths is not None else natural_widths(columns, rows)
    return "\n".join(plain_lines(title, columns, rows, widths, tight=tight)) + "\n"


def plain_lines(
    title: str,
    columns: Sequence[Col],
    rows: Iterable[Sequence[str]],
    widths: Sequence[int],
    *,
    tight: bool = True,
) -> Iterator[str]:
    """`plain_table`'s lines, one at a time: `rows` may be read from a file as they are
    written (`spooled_grid`)."""
    gap, edge = ("  ", " ") if tight else ("   ", "  ")
    total = sum(widths) + len(gap) * (len(widths) - 1) + 2 * len(edge)

    # a row of text of one cell per character is padded by one str.format: C speed
    plain = (
        edge
        + gap.join(
            f"{{:{'>' if col.right else '<'}{w}}}" for col, w in zip(columns, widths, strict=True)
        )
        + edge
    ).format

    def line(cells: Sequence[str]) -> str:
        if "".join(cells).isascii():
            return plain(*cells)
        parts = [_pad(cell, widths[n], columns[n].right) for n, cell in enumerate(cells)]
        return edge + gap.join(parts) + edge

    # the title wraps at the table's width, as rich wraps it
    for text in textwrap.wrap(title, total) or [""]:
        yield _pad(text, total, False)
    yield " " * total
    yield line([c.name for c in columns])
    yield " " + "─" * (total - 2) + " "
    yield from map(line, rows)
    yield " " * total


_MARKS: dict[type, int] = {Red: 1, Loud: 2}  # how `spooled_grid` keeps a cell's colour
_MARKED: tuple[type[str], ...] = (str, Red, Loud)


def spooled_grid(
    console: Console,
    title: str,
    columns: Sequence[Col],
    rows: Iterable[Sequence[str]],
    *,
    tight: bool = True,
) -> None:
    """`grid` of rows that are read once and may be too many to hold (a first plan's skipped
    milestones, a million of them): measured as they come and kept in a temporary file, then
    written from it a line at a time when the table is large; a small one is laid out by
    `grid` as ever. For columns that never move below (`Col.below` 0): a large table runs
    past the margin, as `grid` writes it."""
    assert not any(c.below for c in columns), "a spooled table keeps every column"
    widths = _named_widths(columns)
    count = 0
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
        for row in rows:
            count += 1
            widths = [max(w, _cells(cell)) for w, cell in zip(widths, row, strict=True)]
            # a red cell says so in the file, for a small table's colours
            spool.write(json.dumps([[c, _MARKS.get(type(c), 0)] for c in row]) + "\n")
        if not count:
            return
        spool.seek(0)
        kept = (tuple(_MARKED[m](c) for c, m in json.loads(text)) for text in spool)
        if count <= PLAIN_ROWS:
            grid(console, title, columns, list(kept), tight=tight)
            return
        written: list[str] = []
        for text in plain_lines(title, columns, kept, widths, tight=tight):
            written.append(text)
            if len(written) >= 1000:
                console.file.write("".join(f"{line}\n" for line in written))
                written.clear()
        console.file.write("".join(f"{line}\n" for line in written))


def plain_document(
    heading: str, sentence: str | None, rows: Sequence[tuple[str, str]], width: int
) -> str | None:
    """A planned document as `render.plan` prints it through rich (its heading, the line on
    its tax and email, its lines and total), or None when some line would not fit `width`
    (rich would wrap it: that one goes through rich)."""
    sizes = [len(a) if a.isascii() else cell_len(a) for a, _ in rows]
    first, second = max(sizes), max([len(b) for _, b in rows])
    total = first + second + 7
    if total > width or _cells(heading) > width:
        return None
    out = ["", heading]
    if sentence is not None:
        if _cells(sentence) + 2 > width:
            return None
        out.append(f"  {sentence}")
    out.append(" " * total)
    out += [
        f"  {a}{' ' * (first - size)}   {b.rjust(second)}  "
        for (a, b), size in zip(rows, sizes, strict=True)
    ]
    out.append(" " * total)
    return "\n".join(out) + "\n"


def _cells(text: str) -> int:
    """The terminal cells `text` takes (rich's measure, which ASCII text needs not)."""
    return len(text) if text.isascii() else cell_len(text)


def _pad(cell: str, width: int, right: bool) -> str:
    size = _cells(cell)
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
