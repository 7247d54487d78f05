"""The plan: what the next sync will do, decided by the same function the sync uses.

It reads the tracker and, read-only, the state database, and asks the ledger the same
read-only questions the sync asks first (where each unconfirmed intent is, what was paid since
the last run, and, when there is something to create, the company's setup), so that a payment
made today shows as the credit note the sync will issue, not as a void, and a contract the
books cannot take shows as held, as the sync holds it. It writes nothing: not the state, not
the ledger. When the ledger cannot be asked (not connected yet, unreachable), the plan is made
from the state as the last sync left it and says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime

from connector.adapters.base import AmountsAre, LedgerAdapter
from connector.config import Config
from connector.config_books import ContractBooks
from connector.errors import ConnectorError
from connector.models import PlannedInvoice, Skip
from connector.perf import paused_gc
from connector.sources.base import Source
from connector.sync import billing, holding
from connector.sync import state as st
from connector.sync.actions import Void
from connector.sync.outbox import Intent, emailed
from connector.sync.report import DocumentBooks, TaxBy
from connector.sync.snapshot import merge_snapshot
from connector.sync.tonight import Tonight, as_tonight_finds, decide_tonight


@paused_gc()  # 100,000s of small acyclic records (a one-shot command only: `paused_gc`)
def preview(
    config: Config,
    as_of: date | None = None,
    source: Source | None = None,
    ledger: LedgerAdapter | None = None,
) -> tuple[date, billing.Decisions]:
    """The decisions the sync would carry out tonight: held contracts' documents are among the
    skipped (their milestones, with the reason), not among the actions."""
    as_of = as_of or datetime.now(config.zone).date()
    state = st.State.open(
        config.state_url, config.business.name, path=config.state_path, read_only=True
    )
    connect = _once(ledger, config)
    rows = state.invoice_rows()
    resend: list[Intent] = []
    caveats: list[str] = []
    if rows:  # nothing billed yet: nothing to ask the ledger about
        try:
            rows, resend = as_tonight_finds(rows, connect(), state.cursor("payments"))
        except ConnectorError as exc:
            caveats.append(
                f"the ledger was not asked ({exc}); payments since the last sync are not "
                "counted, so a void shown here may be a credit note tonight"
            )
    source = source or config.source()
    batch = source.read(state.cursor("source"))
    good, bad = merge_snapshot(batch, state.snapshot)
    tonight = decide_tonight(config, good, bad, rows, resend, as_of, stored=False)
    tonight, held = _held(config, connect, tonight, caveats)
    decisions = tonight.decisions
    return as_of, billing.Decisions(
        actions=tonight.actions(),
        skipped=decisions.skipped + held,
        notices=decisions.notices,
        caveats=caveats,
    )


def _once(given: LedgerAdapter | None, config: Config) -> Callable[[], LedgerAdapter]:
    """The ledger, made the first time it is needed (a first night may need none)."""
    made: list[LedgerAdapter] = [given] if given is not None else []

    def connect() -> LedgerAdapter:
        if not made:
            made.append(config.ledger())
        return made[0]

    return connect


def _held(
    config: Config, connect: Callable[[], LedgerAdapter], tonight: Tonight, caveats: list[str]
) -> tuple[Tonight, list[Skip]]:
    """Tonight as the sync's preflight leaves it (`holding`); when the company's setup cannot
    be read, the documents are shown with a note, as the sync would hold them."""
    if not holding.to_create(tonight):
        return tonight, []
    try:
        found = holding.holds(config, connect(), tonight)
    except ConnectorError as exc:
        caveats.append(
            f"the company's setup was not read from the ledger ({exc}); the sync checks each "
            "contract against it first, and holds a contract's documents if they do not fit"
        )
        return tonight, []
    return holding.hold(tonight, found)


def document_books(config: Config, documents: Sequence[PlannedInvoice]) -> dict[str, DocumentBooks]:
    """How the ledger books each planned document, by key: who puts the tax on (its
    contract's tax code, taxable and amounts) and whether it is emailed once created. A void
    books nothing and has none."""
    books = books_in_order(config, documents)
    return {d.key: b for d, b in zip(documents, books, strict=True) if b is not None}


def books_in_order(
    config: Config, documents: Sequence[PlannedInvoice]
) -> list[DocumentBooks | None]:
    """`document_books` in the documents' order (None for a void), hashing no key: a large
    plan has 100,000s of documents."""
    out: list[DocumentBooks | None] = []
    books_of: dict[str, ContractBooks] = {}  # asked once per contract, not per document

    def books_for(contract: str) -> ContractBooks:
        found = books_of.get(contract)
        if found is None:
            found = books_of[contract] = config.books_for(contract)
        return found

    def sends(contract: str) -> bool:
        return books_for(contract).send_on_create

    for doc in documents:
        if isinstance(doc, Void):
            out.append(None)
            continue
        b = books_for(doc.contract).booking
        if b.amounts is AmountsAre.NO_TAX or (b.taxable is False and b.tax_code is None):
            tax = TaxBy.NONE
        elif b.tax_code is not None or b.taxable:
            tax = TaxBy.LEDGER
        else:
            tax = TaxBy.LEDGER_SETTINGS
        out.append(DocumentBooks(tax, b.tax_code, b.amounts, emailed(doc, sends)))
    return out
