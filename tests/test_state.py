"""The state database: versioned schema, refusal of a newer one, read-only opens, the typed
records it hands out, and the same engine tests on PostgreSQL when a server is given (CI starts
one: .ci/postgres.sh)."""

from __future__ import annotations

import json
import os
import re
import uuid
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text

from connector.errors import StateError
from connector.models import InvalidMilestone, Milestone, Reason, Status
from connector.sync import schema
from connector.sync import state as st
from connector.sync.state_records import RunOutcome
from connector.sync.status import STATUS_WORDS, BooksStatus, books_status
from tests.conftest import AS_OF, MILESTONES, make_business
from tests.test_engine import (
    EXPECTED_TOTALS,
    Crash,
    checkpoints,
    crash_at,
    totals,
)

PG = os.environ.get("CONNECTOR_TEST_PG_URL")
BROKEN = '\n[[milestones]]\nid = "ACME-X"\ncontract = "ACME-WEB"\ntitle = "Extra"\n'


def test_new_database_is_at_the_current_schema_version(tmp_path):
    path = tmp_path / "s.db"
    state = st.State.open(f"sqlite:///{path}", "B", path=path)
    assert state.version() == schema.SCHEMA_VERSION


def test_a_database_from_a_newer_release_is_refused_not_damaged(tmp_path):
    path = tmp_path / "s.db"
    state = st.State.open(f"sqlite:///{path}", "B", path=path)
    with state.engine.begin() as conn:
        conn.execute(text("UPDATE meta SET value = '99' WHERE key = 'schema_version'"))
    with pytest.raises(StateError, match="newer than this milestone-connector"):
        st.State.open(f"sqlite:///{path}", "B", path=path)


def test_a_version_1_database_is_upgraded_and_keeps_what_was_billed(tmp_path):
    business = make_business(tmp_path / "b")
    business.sync()
    state = business.state()
    billed = len(state.invoice_rows())
    with state.engine.begin() as conn:  # what a 0.1 database looked like
        conn.execute(text("DROP TABLE http_cache"))
        conn.execute(text("DROP TABLE snapshots"))  # added in v4
        for column in ("tax_minor", "payment_link", "delivery", "sent_at"):  # added in v3
            conn.execute(text(f"ALTER TABLE invoices DROP COLUMN {column}"))
        conn.execute(text("UPDATE meta SET value = '1' WHERE key = 'schema_version'"))
    with pytest.raises(StateError, match="run `connector sync` once"):
        st.State.open(business.config().state_url, "Northwind Studio", read_only=True)
    upgraded = business.state()
    assert upgraded.version() == schema.SCHEMA_VERSION == 4
    rows = upgraded.invoice_rows()
    assert len(rows) == billed > 0
    assert {(r.tax_minor, r.payment_link, r.delivery, r.sent_at) for r in rows} == {
        (None, None, None, None)
    }
    upgraded.http_cache.put("GET https://api.example/x", '"abc"', "[]")
    assert upgraded.http_cache.get("GET https://api.example/x") == ('"abc"', "[]")


def test_a_version_3_database_gains_the_snapshot_digest_and_a_quiet_night_writes_one_row(
    tmp_path,
):
    """v4 keeps a digest of the milestones snapshot: a v3 database is upgraded, its next
    night writes the snapshot (by difference) and its digest, and a night after that with the
    same milestones and decisions leaves every milestone row as it was, while each row still
    reads as seen by the last run."""
    business = make_business(tmp_path / "b", milestones=MILESTONES + BROKEN)
    business.sync()
    state = business.state()
    with state.engine.begin() as conn:  # what a v3 database looks like
        conn.execute(text("DROP TABLE snapshots"))
        conn.execute(text("UPDATE meta SET value = '3' WHERE key = 'schema_version'"))
    with pytest.raises(StateError, match="run `connector sync` once to upgrade it to 4"):
        st.State.open(business.config().state_url, "Northwind Studio", read_only=True)
    assert business.state().version() == 4  # a writer's open upgrades it

    def stored() -> list[tuple[object, ...]]:
        with state.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text("SELECT * FROM milestones ORDER BY id"))]

    business.sync()
    with state.engine.connect() as conn:
        [(seen,)] = conn.execute(text("SELECT seen_at FROM snapshots")).all()
    rows = stored()
    before = business.state().milestone_rows()
    business.sync()  # nothing changed: only the digest's row is written
    assert stored() == rows
    after = business.state().milestone_rows()
    assert [(r.milestone, r.record, r.reason, r.message) for r in after] == [
        (r.milestone, r.record, r.reason, r.message) for r in before
    ]
    with state.engine.connect() as conn:
        [(last,)] = conn.execute(text("SELECT seen_at FROM snapshots")).all()
    assert last >= seen and {r.seen_at.isoformat() for r in after} == {last}


def test_the_tracker_cache_is_per_business_and_replaced_not_duplicated(tmp_path):
    path = tmp_path / "s.db"
    one = st.State.open(f"sqlite:///{path}", "One", path=path)
    two = st.State.open(f"sqlite:///{path}", "Two", path=path)
    one.http_cache.put("k", '"1"', "first")
    one.http_cache.put("k", '"2"', "second")
    assert one.http_cache.get("k") == ('"2"', "second")
    assert two.http_cache.get("k") is None


def test_read_only_open_of_a_missing_database_creates_nothing(tmp_path):
    path = tmp_path / "sub" / "s.db"
    state = st.State.open(f"sqlite:///{path}", "B", path=path, read_only=True)
    assert state.history() == []
    assert not path.exists() and not path.parent.exists()


def test_money_is_stored_as_integer_minor_units(tmp_path):
    business = make_business(tmp_path / "b")
    business.sync()
    with business.state().engine.connect() as conn:
        rows = conn.execute(text("SELECT total_minor, lines FROM invoices")).all()
        column_types = {r[1]: r[2] for r in conn.execute(text("PRAGMA table_info(invoices)"))}
    assert column_types["total_minor"] == "INTEGER"
    assert sorted(r[0] for r in rows if r[0] in (480000, 816000)) == [480000, 816000]
    for _, lines in rows:  # lines carry integer minor units, no decimal or float amounts
        assert all(
            type(ln["amount_minor"]) is int
            and set(ln) == {"description", "amount_minor", "role", "milestone"}
            for ln in json.loads(lines)
        )


def test_a_run_is_a_typed_record_and_still_reads_by_column(tmp_path):
    business = make_business(tmp_path / "b")
    business.sync()
    run = business.state().last_run()
    assert run is not None and run.outcome is RunOutcome.OK
    assert run.finished_at is not None and run.finished_at >= run.started_at
    assert run.started_at.tzinfo is not None
    assert run.counts["invoices_created"] == 6 and run.problems == ()
    with business.state().engine.connect() as conn:
        stored = conn.execute(text("SELECT * FROM runs")).mappings().one()
    assert dict(run) == {k: v for k, v in stored.items() if k != "business"}


def test_payments_and_milestones_come_back_typed(tmp_path):
    business = make_business(tmp_path / "b", milestones=MILESTONES + BROKEN)
    business.sync()
    doc = next(d for d in business.ledger.documents() if d.total == Decimal("4800.00"))
    business.ledger.record_payment(doc.ledger_id, Decimal("4800.00"), date(2026, 9, 10))
    business.sync()
    [payment] = business.state().payment_rows()
    assert (payment.amount, payment.currency, payment.paid_on) == (
        Decimal("4800.00"),
        "USD",
        date(2026, 9, 10),
    )
    assert payment["amount_minor"] == 480000 and payment["deleted"] is False
    rows = {r.milestone: r for r in business.state().milestone_rows()}
    assert isinstance(rows["ACME-M1"].record, Milestone)
    assert rows["ACME-M1"].reason is Reason.ALREADY_INVOICED  # billed by the first run
    assert isinstance(rows["ACME-X"].record, InvalidMilestone) and not rows["ACME-X"].valid
    assert rows["ACME-X"].reason is Reason.INVALID_MILESTONE
    assert rows["BETA-2"].reason is Reason.NOT_DONE and rows["BETA-2"].valid


def test_a_stored_milestone_record_is_its_json_written_out_by_hand():
    """The snapshot compares each night's milestones with what is stored by their text, so
    the hand-written text must be json.dumps's, to the character (quotes, escapes, nulls)."""
    from connector.sync.rows import milestone_from_json, milestone_to_json
    from connector.sync.state_milestones import record_text

    odd = Milestone(
        id='M-"1"\\é',
        contract="C\u2028",
        title="Tab\there, ümlaut, 🙂",
        percent=Decimal("12.50"),
        amount=None,
        status=Status.DONE,
        completed=date(2026, 1, 2),
        accepted=None,
        terms_days=30,
        where="milestones.toml:3",
        currency="EUR",
    )
    plain = Milestone("M2", "C", "T", None, Decimal("1E+3"), Status.OPEN, None, None, None, "w")
    planned = plain._replace(id="M3", planned=date(2027, 3, 1))
    for m in (odd, plain, planned):
        assert record_text(m) == json.dumps(milestone_to_json(m))
    assert milestone_from_json(json.loads(record_text(planned))) == planned  # the forecast's
    assert "planned" not in record_text(plain)  # stored before planned dates: the same text


def test_the_snapshot_is_written_by_difference_and_read_back_in_the_order_read(tmp_path):
    """Unchanged milestones keep their rows; a changed one is written again after the others,
    as a full rewrite would order it; a reordered read is rewritten whole."""
    state = st.State.open("sqlite://", "B")
    a, b, c = (
        Milestone(f"M{i}", "C", f"T{i}", None, Decimal(i), Status.DONE, None, None, None, "w")
        for i in (1, 2, 3)
    )
    bad = InvalidMilestone("X1", "C", "no title", "w:9")
    state.save_snapshot([a, b, c], [bad], {"M1": ("not_done", "later")})

    def ids() -> dict[str, int]:
        with state.engine.connect() as conn:
            return dict(conn.execute(text("SELECT milestone, id FROM milestones")).all())

    before = ids()
    b2 = Milestone("M2", "C", "T2 renamed", None, Decimal(2), Status.DONE, None, None, None, "w")
    state.save_snapshot([a, c, b2], [bad], {"M3": ("not_done", "soon")})
    after = ids()
    assert {k: after[k] for k in ("M1", "M3", "X1")} == {k: before[k] for k in ("M1", "M3", "X1")}
    assert after["M2"] > max(before.values())
    assert state.snapshot() == ([a, c, b2], [bad])
    reasons = {r.milestone: (r.reason, r.message) for r in state.milestone_rows()}
    assert reasons == {
        "M1": (None, None),
        "M2": (None, None),
        "M3": (Reason.NOT_DONE, "soon"),
        "X1": (None, None),
    }
    state.save_snapshot([c, a], [], {})  # read in another order: rewritten whole
    assert state.snapshot() == ([c, a], [])
    assert len(ids()) == 2


def test_the_status_reads_each_milestones_contract_and_status_as_stored(tmp_path):
    """`milestone_notes` reads a record's contract and status without decoding it whole; a
    title, id or contract that holds the very text it looks for changes nothing."""
    state = st.State.open("sqlite://", "B")
    tricky = [
        Milestone(
            'M"1',
            'C "x", "status": "done"',
            'a", "contract": "EVIL", "status": "cancelled',
            None,
            Decimal(1),
            Status.OPEN,
            None,
            None,
            None,
            "w",
        ),
        Milestone("M2", "Café ☕", "\\", None, Decimal(2), Status.CANCELLED, None, None, None, "w"),
        Milestone(
            "M3", "C", "plain", None, Decimal(3), Status.DONE, date(2026, 1, 2), None, 7, "w"
        ),
    ]
    bad = InvalidMilestone("X1", "C", "no title", "w:9")
    state.save_snapshot(tricky, [bad], {})
    notes = {n.milestone: (n.contract, n.status) for n in state.milestone_notes()}
    assert notes == {
        'M"1': ('C "x", "status": "done"', Status.OPEN),
        "M2": ("Café ☕", Status.CANCELLED),
        "M3": ("C", Status.DONE),
        "X1": ("C", None),
    }


def test_a_runs_rows_are_read_once_and_kept_in_step_with_its_writes(tmp_path):
    """A run reads the invoice rows once (`keep_rows`); what it then records, updates and
    forgets reads back from memory exactly as a fresh read of the database gives it."""
    business = make_business(tmp_path / "b")
    business.sync()
    kept = business.state()
    kept.keep_rows()
    rows = kept.invoice_rows()
    first = rows[0]
    kept.update_invoices([(first.key, {"state": schema.PAID, "paid_minor": 5})])
    intent = rows[1]._replace(key="mc-new", reference="R-new", id=0)
    kept.record_intents([intent])
    kept.forget_intents([rows[2].key])  # not pushing: stays
    fresh = business.state()
    assert kept.invoice_rows() == fresh.invoice_rows()
    assert kept.invoice_rows([schema.PUSHING]) == fresh.invoice_rows([schema.PUSHING])
    assert kept.invoice_row("mc-new") == fresh.invoice_row("mc-new") is not None
    assert kept.invoice_rows_of({first.contract}) == fresh.invoice_rows_of({first.contract})
    kept.forget_intents(["mc-new"])
    assert kept.invoice_row("mc-new") is None and fresh.invoice_row("mc-new") is None
    assert kept.invoice_rows() == fresh.invoice_rows()


def test_every_outbox_state_has_a_word_in_the_status():
    assert set(STATUS_WORDS) == set(schema.OutboxState)


def test_the_status_json_reads_back_to_the_same_status(tmp_path):
    """`from_json` (for a caller handed the JSON form, as the demo's renderer is) undoes
    `to_json` exactly, with the run's times as stored or in local time to the minute."""
    business = make_business(tmp_path / "b")
    business.sync()
    status = books_status("N", business.config().contracts, business.state(), AS_OF)
    assert status.invoices and status.last_run is not None
    local = status.last_run.in_zone(ZoneInfo("America/Chicago"))
    for shown in (status, BooksStatus(status.business, status.as_of, local)):
        data = shown.to_json()
        assert BooksStatus.from_json(data) == shown
        assert BooksStatus.from_json(json.loads(json.dumps(data))).to_json() == data
    stored = business.state().last_run()
    assert stored is not None and status.last_run.to_json()["started_at"] == stored["started_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d-0[56]:00", local.to_json()["started_at"])


@pytest.fixture
def pg_url():
    if not PG:
        pytest.skip("set CONNECTOR_TEST_PG_URL to a PostgreSQL server (CI does)")
    name = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(PG, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    yield PG.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
    admin.dispose()


def test_postgres_sync_is_exactly_once(tmp_path, pg_url):
    business = make_business(tmp_path / "b", state_url=pg_url)
    assert business.sync().outcome == "ok"
    assert business.sync().created == []
    assert totals(business.ledger) == EXPECTED_TOTALS
    doc = next(d for d in business.ledger.documents() if d.total == Decimal("8160.00"))
    business.ledger.record_payment(doc.ledger_id, Decimal("8160.00"), business.sync().as_of)
    business.sync()
    states = {r.number: r.state for r in business.state().invoice_rows()}
    assert states[doc.number] == "paid"
    assert business.state().version() == schema.SCHEMA_VERSION


def test_postgres_crash_anywhere(tmp_path, pg_url):
    names = checkpoints(make_business(tmp_path / "probe", state_url=pg_url))
    for n in range(1, len(names) + 1):
        with create_engine(pg_url).begin() as conn:  # a fresh state for each crash point
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        business = make_business(tmp_path / f"crash{n}", state_url=pg_url)
        with pytest.raises(Crash):
            business.sync(checkpoint=crash_at(n))
        business.sync()
        assert totals(business.ledger) == EXPECTED_TOTALS, names[n - 1]


def test_postgres_state_is_locked_in_the_database_across_machines(tmp_path, pg_url):
    """Another machine sharing the state database holds the business: the file lock cannot see
    it, the database's advisory lock does, and the refusal names who holds it."""
    import psycopg

    from connector.errors import LockHeld
    from connector.sync.lock import ADVISORY_NAMESPACE, _advisory_key

    business = make_business(tmp_path / "b", state_url=pg_url)
    plain = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(
        plain, autocommit=True, application_name="connector run (pid 7 on books2)"
    ) as other:
        key = _advisory_key("Northwind Studio")
        assert other.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", (ADVISORY_NAMESPACE, key)
        ).fetchone()[0]
        with pytest.raises(LockHeld, match=r"connector run \(pid 7 on books2\)"):
            business.sync()
    assert business.sync().outcome == "ok"  # released when the other machine let go
    assert business.sync().created == []


def test_amounts_read_from_rows_are_from_minor_exactly():
    """The rows' fast conversion gives the same Decimal as `money.from_minor`, exponent and
    sign of zero included, for currencies of 0, 2 and 3 decimals."""
    from connector.money import from_minor
    from connector.sync.rows import amount_of

    for currency in ("JPY", "USD", "KWD"):
        for minor in (0, 1, -1, 5, -250, 123456789, -987654321012, 10**15):
            fast, exact = amount_of(minor, currency), from_minor(minor, currency)
            assert (fast, str(fast), fast.as_tuple()) == (exact, str(exact), exact.as_tuple())
