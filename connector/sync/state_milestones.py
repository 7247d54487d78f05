"""The milestones the last run read, valid or not, with that run's decision on each: what a
read that carries only changes is merged into (`snapshot.merge_snapshot`), and what the status
lists as needing a person.

Used through `state.State`; nothing here calls a tracker.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from itertools import islice
from json.decoder import scanstring  # type: ignore[attr-defined]  # JSON's string reader, in C
from json.encoder import encode_basestring_ascii as _q  # what json.dumps quotes text with

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.engine import Engine

from connector.models import InvalidMilestone, Milestone, Reason, Status
from connector.perf import paused_gc
from connector.sync.rows import milestone_from_json
from connector.sync.schema import milestones, now, snapshots
from connector.sync.state_records import MilestoneNote, MilestoneRow

# A milestone id -> the last run's reason for not billing it and the message saying why.
Reasons = Mapping[str, tuple[str, str]]


def milestone_rows(engine: Engine, business: str) -> list[MilestoneRow]:
    """Every milestone of the last run, by id."""
    reasons = {str(r): r for r in Reason}
    moments: dict[str, datetime] = {}  # a night stamps every row alike: parsed once
    out = []
    with engine.connect() as conn, paused_gc():  # many small acyclic records
        # every row was seen by the run that last wrote the snapshot, when that run says
        last = conn.execute(
            select(snapshots.c.seen_at).where(snapshots.c.business == business)
        ).scalar()
        for mid, record, valid, reason, message, seen_at in conn.execute(
            select(
                milestones.c.milestone,
                milestones.c.record,
                milestones.c.valid,
                milestones.c.reason,
                milestones.c.message,
                milestones.c.seen_at,
            )
            .where(milestones.c.business == business)
            .order_by(milestones.c.milestone)
        ):
            when = last or seen_at
            seen = moments.get(when)
            if seen is None:
                seen = moments[when] = datetime.fromisoformat(when)
            out.append(
                MilestoneRow(
                    mid,
                    _record(record, valid=valid),
                    reasons[reason] if reason else None,
                    message,
                    seen,
                )
            )
    return out


def milestone_notes(engine: Engine, business: str) -> list[MilestoneNote]:
    """Every milestone of the last run, by id, with its record left as stored."""
    reasons = {str(r): r for r in Reason}
    statuses = {str(s): s for s in Status}
    out = []
    with engine.connect() as conn, paused_gc():  # many small acyclic records
        for mid, record, valid, reason, message in conn.execute(
            select(
                milestones.c.milestone,
                milestones.c.record,
                milestones.c.valid,
                milestones.c.reason,
                milestones.c.message,
            )
            .where(milestones.c.business == business)
            .order_by(milestones.c.milestone)
        ):
            found = _contract_and_status(record) if valid else None
            contract, status = found or _decoded(record, valid)
            why = reasons[reason] if reason else None
            shown = statuses[status] if status is not None else None
            out.append(MilestoneNote(mid, contract, shown, why, message, record))
    return out


_CONTRACT = '", "contract": "'
_STATUS = ', "status": "'


def _contract_and_status(record: str) -> tuple[str, str] | None:
    """The contract and status of a valid record as `record_text` writes it, without
    decoding the rest (100,000 records: most of `status`'s reading of them). In JSON text a
    key's quotes are the only unescaped ones, so neither pattern can be found inside a
    title; anything else (an older writer's text) is decoded whole."""
    at = record.find(_CONTRACT)
    if at == -1 or not record.startswith('{"id": "'):
        return None
    contract, end = scanstring(record, at + len(_CONTRACT))
    at = record.find(_STATUS, end)
    if at == -1:
        return None
    status, _ = scanstring(record, at + len(_STATUS))
    return contract, status


def _decoded(record: str, valid: bool) -> tuple[str | None, str | None]:
    data = json.loads(record)
    return data["contract"], (data["status"] if valid else None)


def snapshot(engine: Engine, business: str) -> tuple[list[Milestone], list[InvalidMilestone]]:
    """The last run's milestones and invalid records, in the order they were read."""
    good: list[Milestone] = []
    bad: list[InvalidMilestone] = []
    with engine.connect() as conn, paused_gc():  # many small acyclic records
        for row in conn.execute(
            select(milestones).where(milestones.c.business == business).order_by(milestones.c.id)
        ):
            record = _record(row.record, valid=row.valid)
            if isinstance(record, Milestone):
                good.append(record)
            else:
                bad.append(record)
    return good, bad


def save_snapshot(
    engine: Engine,
    business: str,
    good: Sequence[Milestone],
    bad: Sequence[InvalidMilestone],
    reasons: Reasons,
    prepared: Prepared | None = None,
    decided: str | None = None,
) -> None:
    """Make the known milestones this set, with their latest decisions. A night whose
    milestones and decisions are the last one's, as their digests say (`snapshots`), writes
    only when they were seen; otherwise by difference (`_write`). `decided`: the digest of
    `reasons` (`decisions_digest`), when the caller has it already."""
    stamp = now()
    prepared = prepared or prepare(good, bad)
    digest = prepared.records, decided or decisions_digest(prepared.ids, reasons)
    with engine.begin() as conn:
        known = conn.execute(
            select(snapshots.c.records, snapshots.c.decisions).where(
                snapshots.c.business == business
            )
        ).first()
        if known is None or tuple(known) != digest:
            _write(conn, business, prepared.rows(), reasons, stamp)
        conn.execute(snapshots.delete().where(snapshots.c.business == business))
        conn.execute(
            insert(snapshots).values(
                business=business, records=digest[0], decisions=digest[1], seen_at=stamp
            )
        )


@dataclass(frozen=True)
class Prepared:
    """The milestones the snapshot will store, once per id, and the digest of their records.
    The records' texts (30 MB at 100,000 milestones) are made again only when they are to be
    written: a night whose milestones are the last one's never holds them all."""

    good: Sequence[Milestone]
    bad: Sequence[InvalidMilestone]
    ids: list[str]  # in the order stored
    records: str

    def rows(self) -> list[Record]:
        return list(_unique(self.good, self.bad))


def prepare(good: Sequence[Milestone], bad: Sequence[InvalidMilestone]) -> Prepared:
    ids: list[str] = []
    records = hashlib.sha256()
    rows = _unique(good, bad)
    while chunk := list(islice(rows, 1000)):
        ids += [m for m, _, _ in chunk]
        records.update(
            _digest(f"{_part(m)}{_part(record)}{int(valid)}" for m, record, valid in chunk).digest()
        )
    return Prepared(good, bad, ids, records.hexdigest())


def _part(text: str | None) -> str:
    return "~" if text is None else f"{len(text)}:{text}"


def _digest(texts: Iterable[str]) -> hashlib._Hash:
    return hashlib.sha256("".join(texts).encode("utf-8", "surrogatepass"))


# sha256 of every row (id, record, valid) in order, and of every decision on them: each text
# prefixed by its length, so no two snapshots share a digest by a trick of joining; hashed a
# thousand at a time (100,000 records are 30 MB of text).


def decisions_digest(ids: Sequence[str], reasons: Reasons) -> str:
    decided = hashlib.sha256()
    for start in range(0, len(ids), 1000):
        said = ((m, reasons.get(m, (None, None))) for m in ids[start : start + 1000])
        decided.update(_digest(f"{_part(m)}{_part(w)}{_part(t)}" for m, (w, t) in said).digest())
    return decided.hexdigest()


def _write(
    conn: Connection, business: str, rows: Sequence[Record], reasons: Reasons, stamp: str
) -> None:
    """The rows by difference (a night where little changed writes little), or rewritten
    whole when the difference would not leave them in the order they were read."""
    stored: dict[str, _Stored] = {
        mid: (row_id, record, bool(valid), reason, message)
        for row_id, mid, record, valid, reason, message in conn.execute(
            select(
                milestones.c.id,
                milestones.c.milestone,
                milestones.c.record,
                milestones.c.valid,
                milestones.c.reason,
                milestones.c.message,
            )
            .where(milestones.c.business == business)
            .order_by(milestones.c.id)
        )
    }
    changes = _changes(stored, rows, reasons)
    if changes is None:
        conn.execute(milestones.delete().where(milestones.c.business == business))
        new = rows
    else:
        gone, new, decided = changes
        for start in range(0, len(gone), 500):
            conn.execute(milestones.delete().where(milestones.c.id.in_(gone[start : start + 500])))
        if decided:
            conn.execute(
                update(milestones)
                .where(milestones.c.id == bindparam("row"))
                .values(reason=bindparam("why"), message=bindparam("text")),
                [{"row": i, "why": why, "text": text} for i, why, text in decided],
            )
    if new:
        conn.execute(
            insert(milestones),
            [
                {
                    "milestone": mid,
                    "record": record,
                    "valid": valid,
                    "business": business,
                    "seen_at": stamp,
                    "reason": reasons.get(mid, (None, None))[0],
                    "message": reasons.get(mid, (None, None))[1],
                }
                for mid, record, valid in new
            ],
        )


# A stored milestone row: (row id, record, valid, reason, message).
_Stored = tuple[int, str, bool, str | None, str | None]
Record = tuple[str, str, bool]  # (id, stored record, valid)


def _changes(
    stored: Mapping[str, _Stored], rows: Sequence[Record], reasons: Reasons
) -> tuple[list[int], list[Record], list[tuple[int, str | None, str | None]]] | None:
    """The rows to delete (gone, or whose record changed), to insert (new or changed, in the
    order read) and whose decision to update, by row id. None when writing only those would
    not leave each of the valid and the invalid ones in the order `rows` has them (kept rows
    first, in their stored order, then the inserted ones): `snapshot` hands them out in that
    order, so then everything is rewritten, as before."""
    kept: set[str] = set()
    new: list[Record] = []
    decided: list[tuple[int, str | None, str | None]] = []
    for row in rows:
        mid, record, valid = row
        old = stored.get(mid)
        if old is None or old[1] != record or old[2] != valid:
            new.append(row)
            continue
        kept.add(mid)
        why, text = reasons.get(mid, (None, None))
        if why != old[3] or text != old[4]:
            decided.append((old[0], why, text))
    for valid in (True, False):
        order = [mid for mid, _, v in rows if v is valid]
        after = sorted((m for m in order if m in kept), key=lambda m: stored[m][0])
        if after + [mid for mid, _, v in new if v is valid] != order:
            return None
    gone = [old[0] for mid, old in stored.items() if mid not in kept]
    return gone, new, decided


def _unique(good: Sequence[Milestone], bad: Sequence[InvalidMilestone]) -> Iterator[Record]:
    """(id, stored record, valid) once per id, in order: a tracker holding duplicate ids gets
    one row, and every one of them is invalid anyway."""
    seen: set[str] = set()
    for m in good:
        if m.id not in seen:
            seen.add(m.id)
            yield m.id, record_text(m), True
    for b in bad:
        mid = b.id or f"?{b.where}"
        if mid not in seen:
            seen.add(mid)
            record = {"id": b.id, "contract": b.contract, "message": b.message, "where": b.where}
            yield mid, json.dumps(record), False


def _quoted(text: str | None) -> str:
    return "null" if text is None else _q(text)


def _number(value: Decimal | None) -> str:
    return "null" if value is None else _q(format(value, "f"))


def _day(value: date | None) -> str:
    return "null" if value is None else _q(value.isoformat())


def record_text(m: Milestone) -> str:
    """`json.dumps(rows.milestone_to_json(m))`, the same text written out by hand: a night
    of 100,000 milestones compares every one with what is stored."""
    terms = "null" if m.terms_days is None else str(int(m.terms_days))
    return (
        f'{{"id": {_q(m.id)}, "contract": {_q(m.contract)}, "title": {_q(m.title)}, '
        f'"percent": {_number(m.percent)}, "amount": {_number(m.amount)}, '
        f'"status": {_q(str(m.status))}, "completed": {_day(m.completed)}, '
        f'"accepted": {_day(m.accepted)}, "terms_days": {terms}, "where": {_quoted(m.where)}, '
        f'"currency": {_quoted(m.currency)}'
        + ("}" if m.planned is None else f', "planned": "{m.planned.isoformat()}"}}')
    )


def _record(text: str, *, valid: bool) -> Milestone | InvalidMilestone:
    data = json.loads(text)
    if valid:
        return milestone_from_json(data)
    return InvalidMilestone(data["id"], data["contract"], data["message"], data["where"])
