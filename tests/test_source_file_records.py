"""A milestones file's records: the quick reading of plain records (`plain_record`) gives the
same milestones as the full reading (`read_record`), and leaves every other record to it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from connector.sources.file import FIELDS, FileSource, plain_record, read_record

# Texts near every edge either reading draws: padding, signs, "%", Unicode digits, tabs and
# controls, dates that are and are not ISO, days beyond 3650.
_TEXTS = st.sampled_from(
    [
        "",
        " ",
        "A-1",
        " A-1 ",
        "C1",
        "Phase\t1",
        "Phase\x1b1",
        "\u202eevil",
        "0",
        "1.5",
        "-0",
        "-1",
        "20%",
        " 20 ",
        "100",
        "100.000001",
        "100.5",
        "1e2",
        "\u0663",  # ARABIC-INDIC DIGIT THREE
        "\u00b2",  # SUPERSCRIPT TWO: a digit that int() refuses
        "1234567890123456",
        "0.1234567",
        "open",
        "done",
        "cancelled",
        " done",
        "Done",
        "2026-01-05",
        " 2026-01-05 ",
        "20260105",
        "2026-02-30",
        "2026-W01-1",
        "30",
        "3650",
        "3651",
        "007",
    ]
)
_ODD = st.one_of(
    _TEXTS,
    st.text(max_size=6),
    st.integers(-5, 4000),
    st.just(date(2026, 1, 5)),
    st.just(Decimal("12.5")),
    st.just(1.5),
    st.just(["done"]),
)
# Each key mostly holds what a good record holds, so that most records are milestones and
# each edge is met one or two at a time.
_GOOD = {
    "id": st.sampled_from(["M1", "C1-M002"]),
    "contract": st.sampled_from(["C1", "C2"]),
    "title": st.sampled_from(["Design", "Fit-out"]),
    "percent": st.sampled_from(["20", "0.5", "100"]),
    "amount": st.sampled_from(["1500.00", "0", "12.5"]),
    "status": st.sampled_from(["done", "open", "cancelled"]),
    "completed": st.sampled_from(["2026-01-05", "2026-12-31"]),
    "accepted": st.sampled_from(["2026-01-07"]),
    "terms_days": st.sampled_from(["30", "0", "3650"]),
    "planned": st.sampled_from(["2026-02-01"]),
}
# The edges of each key's own values, met more often than among all of `_TEXTS`.
_NUMBERS = st.sampled_from(["100.000001", "100.5", "101", "-0", "1e2", "20%", " 20", "\u0663"])
_DAYS = st.sampled_from(["2026-02-30", "20260105", " 2026-01-05", "2026-W01-1", ""])
_EDGES = {
    "percent": _NUMBERS,
    "amount": _NUMBERS,
    "terms_days": st.sampled_from(["3651", "-1", "\u00b2", "\u0663", " 30", "007", "1.0"]),
    "status": st.sampled_from(["Done", " done", "closed", ""]),
    "completed": _DAYS,
    "accepted": _DAYS,
    "planned": _DAYS,
    "id": st.sampled_from(["", " M1", "M\x1b1", "M\t1"]),
    "title": st.sampled_from(["", " Design", "De\tsign", "\u202eevil"]),
}


@st.composite
def _records(draw: st.DrawFn) -> dict[str, object]:
    """A good record (its keys drawn from `_GOOD`), then up to two values made odd, a key
    dropped, or one no milestone has added."""
    number = draw(st.sampled_from(["percent", "amount"]))
    extra = draw(st.sets(st.sampled_from(["title", "accepted", "terms_days", "planned"])))
    keys = {"id", "contract", "status", "completed", number, *extra}
    record: dict[str, object] = {k: draw(_GOOD[k]) for k in sorted(keys)}
    for key in draw(st.lists(st.sampled_from([*FIELDS, "colour"]), max_size=2)):
        record[key] = draw(st.one_of(_EDGES.get(key, _ODD), _ODD))
    if draw(st.booleans()):
        record.pop(draw(st.sampled_from(sorted(record))))
    return record


@settings(max_examples=3000, deadline=None)
@given(_records())
def test_a_plain_record_is_the_milestone_the_full_reading_makes(record):
    try:
        problems: list[str] = []
        full = read_record(record, "m.toml, line 3", problems)
    except TypeError:  # an unhashable status: the full reading's own concern, not this one
        full, problems = None, ["unreadable"]
    quick = plain_record(record, "m.toml, line 3")
    event("read quickly" if quick is not None else "left to the full reading")
    if quick is not None:
        assert not problems and quick == full
        assert tuple(map(type, quick)) == tuple(map(type, full))  # Decimal stays Decimal


def test_most_rows_of_a_plain_csv_are_read_the_quick_way(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(
        "id,contract,title,percent,amount,status,completed,accepted,terms_days\n"
        "M1,C1,Design,20,,done,2026-01-05,2026-01-07,30\n"
        "M2,C1,Build,,1500.00,open,,,\n"
        "M3,C1,Fit-out,20%,,done,2026-01-05,,\n"
    )
    rows = FileSource(path)._records_csv(path.read_text())
    assert [plain_record(r, "w") is not None for _, r in rows] == [True, True, False]
    batch = FileSource(path).read(None)
    assert [(m.id, m.percent, m.amount, m.terms_days) for m in batch.milestones] == [
        ("M1", Decimal("20"), None, 30),
        ("M2", None, Decimal("1500.00"), None),
        ("M3", Decimal("20"), None, None),
    ]


@pytest.mark.parametrize("terms", ["\u00b2", "9" * 5000])
def test_terms_that_are_no_number_of_days_are_refused_with_a_message(tmp_path, terms):
    """A digit int() refuses, and more digits than it will read: the record is refused, the
    others are read."""
    path = tmp_path / "m.csv"
    path.write_text(
        "id,contract,percent,status,completed,terms_days\n"
        f"M1,C1,20,done,2026-01-05,{terms}\nM2,C1,20,done,2026-01-05,030\n"
    )
    batch = FileSource(path).read(None)
    assert [(m.id, m.terms_days) for m in batch.milestones] == [("M2", 30)]
    (bad,) = batch.invalid
    assert "m.csv, line 2" in bad.message
    assert "terms_days: expected a whole number of days from 0 to 3650" in bad.message
