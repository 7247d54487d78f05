"""The file source passes the Source conformance contract, as TOML and as CSV."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from connector.sources.file import FileSource
from connector.testing.source import RECORDS, SourceConformance


def _toml_value(value: object) -> str:
    if isinstance(value, date):
        return value.isoformat()
    return f'"{value}"'


class _FileTracker:
    def __init__(self, path):
        self.path = path
        self.source = FileSource(path)
        self.records: list[dict] = []

    def seed(self, records):
        self.records = [dict(r) for r in records]
        self._write()

    def edit(self, mid, **fields):
        next(r for r in self.records if r["id"] == mid).update(fields)
        self._write()

    def break_one(self, mid):
        self.edit(mid, amount="12,00")  # a comma is not a decimal point here

    def _write(self):
        if self.path.suffix == ".csv":
            out = io.StringIO()
            columns = [
                "id",
                "contract",
                "title",
                "percent",
                "amount",
                "status",
                "completed",
                "accepted",
                "planned",
            ]
            writer = csv.DictWriter(out, columns)
            writer.writeheader()
            for r in self.records:
                writer.writerow(
                    {k: (v.isoformat() if isinstance(v, date) else v) for k, v in r.items()}
                )
            self.path.write_text(out.getvalue())
        else:
            self.path.write_text(
                "".join(
                    "[[milestones]]\n"
                    + "".join(f"{k} = {_toml_value(v)}\n" for k, v in r.items())
                    + "\n"
                    for r in self.records
                )
            )


class TestTomlFile(SourceConformance):
    @pytest.fixture
    def tracker(self, tmp_path):
        return _FileTracker(tmp_path / "milestones.toml")


class TestCsvFile(SourceConformance):
    @pytest.fixture
    def tracker(self, tmp_path):
        return _FileTracker(tmp_path / "milestones.csv")


def test_the_cursor_changes_only_when_the_file_does(tmp_path):
    tracker = _FileTracker(tmp_path / "milestones.toml")
    tracker.seed([{"id": "M1", "contract": "C", "amount": "1.00"}])
    a, b = tracker.source.read(None), tracker.source.read(None)
    assert a.cursor == b.cursor
    tracker.edit("M1", amount="2.00")
    assert tracker.source.read(a.cursor).cursor != a.cursor


def test_toml_line_numbers_point_at_the_milestone(tmp_path):
    tracker = _FileTracker(tmp_path / "milestones.toml")
    tracker.seed(
        [
            {"id": "M1", "contract": "C", "amount": "1.00"},
            {"id": "M2", "contract": "C", "amount": "x"},
        ]
    )
    (bad,) = tracker.source.read(None).invalid
    assert bad.where == "milestones.toml, line 6"  # its [[milestones]] header


def test_toml_line_numbers_count_only_line_feeds(tmp_path):
    """A title holding U+2028 (a line separator to Python, plain text to TOML and editors)
    must not move the line numbers of the milestones after it."""
    path = tmp_path / "milestones.toml"
    path.write_text(
        '[[milestones]]\nid = "M1"\ncontract = "C"\ntitle = "Design\u2028phase"\namount = "1.00"\n'
        '\n[[milestones]]\nid = "M2"\ncontract = "C"\namount = "x"\n',
        encoding="utf-8",
    )
    (bad,) = FileSource(path).read(None).invalid
    assert bad.where == "milestones.toml, line 7"


def test_csv_line_numbers_count_only_line_breaks(tmp_path):
    path = tmp_path / "milestones.csv"
    path.write_text(
        "id,contract,title,amount\nM1,C,Design\u2028phase,1.00\nM2,C,Build\x0cpage,x\n",
        encoding="utf-8",
    )
    bad = FileSource(path).read(None).invalid
    assert [b.where for b in bad] == ["milestones.csv, line 3"]
    assert "U+000C" in bad[0].message and "amount" in bad[0].message


def test_csv_blank_lines_and_a_byte_order_mark_keep_the_line_numbers(tmp_path):
    path = tmp_path / "milestones.csv"
    path.write_bytes(b"\xef\xbb\xbfid,contract,amount\r\n\r\nM1,C,1.00\r\n\r\nM2,C,x\r\n")
    batch = FileSource(path).read(None)
    assert [m.id for m in batch.milestones] == ["M1"]
    assert [b.where for b in batch.invalid] == ["milestones.csv, line 5"]


# -- the planned date (the cash forecast's day for the work) -------------------------------------


@pytest.mark.parametrize("suffix", [".toml", ".csv"])
def test_planned_is_read_from_toml_and_csv_and_an_edit_is_seen(tmp_path, suffix):
    tracker = _FileTracker(tmp_path / f"milestones{suffix}")
    tracker.seed([{**RECORDS[1], "planned": date(2027, 1, 15)}, RECORDS[0]])
    first = tracker.source.read(None)
    found = {m.id: m for m in first.milestones}
    assert found["M2"].planned == date(2027, 1, 15) and found["M1"].planned is None
    tracker.edit("M2", planned=date(2027, 2, 1))
    second = {m.id: m for m in tracker.source.read(first.cursor).milestones}
    assert second["M2"].planned == date(2027, 2, 1)


def test_planned_does_not_change_what_an_invoice_was_billed_for(tmp_path):
    """Moving the planned date of a billed milestone never flags its invoice as changed."""
    tracker = _FileTracker(tmp_path / "milestones.toml")
    tracker.seed([RECORDS[0]])
    before = tracker.source.read(None).milestones[0]
    tracker.edit("M1", planned=date(2026, 9, 1))
    after = tracker.source.read(None).milestones[0]
    assert after.planned == date(2026, 9, 1) and after.content_hash() == before.content_hash()


@pytest.mark.parametrize("suffix", [".toml", ".csv"])
def test_a_planned_day_that_is_no_date_names_the_line(tmp_path, suffix):
    path = tmp_path / f"milestones{suffix}"
    if suffix == ".csv":
        path.write_text("id,contract,amount,planned\nM2,ACME-WEB,10.00,next week\n")
    else:
        path.write_text(
            '[[milestones]]\nid = "M2"\ncontract = "ACME-WEB"\namount = "10.00"\n'
            'planned = "next week"\n'
        )
    batch = FileSource(path).read(None)
    (bad,) = batch.invalid
    line = "line 2" if suffix == ".csv" else "line 1"
    assert bad.message == (
        f"{path.name}, {line}: milestone M2: planned: expected a date like 2026-09-20, "
        "got 'next week'"
    )
