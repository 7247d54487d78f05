"""QuickBooks Online ledger adapter, on python-quickbooks.

Invoices and credit memos go out through `/batch`, up to 30 per call, with a `requestid` derived
from their idempotency keys; each carries the connector's reference as its DocNumber so that an
invoice whose response was lost is found by a query before anything is sent again. Payment status
comes back through Change Data Capture since the stored cursor. This module translates; it never
decides what to bill and never touches the state database.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from quickbooks.mixins import DecimalEncoder
from quickbooks.objects.base import Ref
from quickbooks.objects.creditmemo import CreditMemo
from quickbooks.objects.customer import Customer
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
from quickbooks.objects.invoice import Invoice

from connector.adapters.base import (
    CustomerRef,
    InvoiceRequest,
    PaymentChanges,
    PushResult,
    RemoteInvoice,
    RemotePayment,
    RemoteStatus,
)
from connector.adapters.quickbooks.session import (
    QuickBooksSession,
    QuickBooksSettings,
    classify,
    escape,
)
from connector.credentials import TokenStore, refresh_token_credentials
from connector.errors import FatalLedgerError, RetriableLedgerError, SkippableLedgerError
from connector.plugins import CommandGroups, Credentials, PluginContext

log = logging.getLogger("connector.ledger.quickbooks")

CDC_OVERLAP = timedelta(minutes=5)  # re-read the boundary: two changes in one second are not lost
CDC_LIMIT = timedelta(days=29)  # QuickBooks answers CDC for the last 30 days only
PAGE = 1000
NOTE_LOOKBACK = timedelta(days=60)  # how far back a reference kept only in a note is searched


class QuickBooksLedger:
    name = "quickbooks"
    batch_size = 30  # QuickBooks' /batch limit

    def __init__(self, session: QuickBooksSession, item: str):
        self.session = session
        self.item = item
        self._item_ref: Ref | None = None
        self._custom_numbers: bool | None = None
        self._unbounded_lookup = False  # lookup_window promised "no limit" without knowing

    def check(self) -> str:
        """For `connector doctor`: the stored token works and the company answers."""
        numbering = "ours" if self.custom_numbers() else "QuickBooks' own (reference in notes)"
        return f"company {self.session.client().company_id} reachable; invoice numbers: {numbering}"

    @property
    def lookup_window(self) -> timedelta | None:
        """How old an unconfirmed invoice may be and still be found by `find_invoices`.

        The engine reads this outside its per-call error handling, so it never raises a ledger
        error that a lookup would survive: when the company's numbering cannot be read now
        (429, 5xx, a refused request), the answer is "no limit", and `find_invoices` keeps
        that promise by searching every document if the numbering turns out to be
        QuickBooks' own. Most often it still cannot read it then, and its error leaves the
        intents in doubt for the next run, reported. A fatal error (the connection refused)
        still stops the run."""
        try:
            return None if self.custom_numbers() else NOTE_LOOKBACK
        except (RetriableLedgerError, SkippableLedgerError) as exc:
            log.warning(
                "QuickBooks invoice numbering not known yet (%s); looking up unbounded", exc
            )
            self._unbounded_lookup = True
            return None

    def custom_numbers(self) -> bool:
        """Whether the company lets us set invoice numbers (DocNumber). When it does not, the
        reference lives only in the private note, and lookups scan recent documents."""
        if self._custom_numbers is None:
            prefs = self.session.get("preferences").get("Preferences", {})
            self._custom_numbers = bool(
                prefs.get("SalesFormsPrefs", {}).get("CustomTxnNumbers", True)
            )
        return self._custom_numbers

    # -- customers and items -------------------------------------------------------------------

    def find_or_create_customer(self, name: str, currency: str) -> CustomerRef:
        found = self.session.query(
            f"select * from Customer where DisplayName = {escape(name)}"
        ).get("Customer", [])
        if found:
            existing = found[0]
            theirs = (existing.get("CurrencyRef") or {}).get("value") or currency
            if theirs != currency:
                raise SkippableLedgerError(
                    f"customer {name!r} is set up in {theirs} in QuickBooks, but the contract is "
                    f"in {currency}; QuickBooks cannot invoice a customer in another currency"
                )
            return CustomerRef(str(existing["Id"]), name, currency)
        customer = Customer()
        customer.DisplayName = name
        customer.CurrencyRef = _ref(currency)
        key = "mc-cust-" + hashlib.sha256(f"{name}|{currency}".encode()).hexdigest()[:32]
        created = self.session.post("customer", customer.to_json(), request_id=key)
        return CustomerRef(str(created["Customer"]["Id"]), name, currency)

    def item_ref(self) -> Ref:
        if self._item_ref is None:
            items = self.session.query(f"select * from Item where Name = {escape(self.item)}").get(
                "Item", []
            )
            if not items:
                raise FatalLedgerError(
                    f"QuickBooks has no item named {self.item!r} for the invoice lines; create it "
                    "in QuickBooks or change [billing] item in the config"
                )
            self._item_ref = _ref(str(items[0]["Id"]), items[0].get("Name"))
        return self._item_ref

    # -- invoices --------------------------------------------------------------------------------

    def create_invoices(self, requests: Sequence[InvoiceRequest]) -> list[PushResult]:
        if len(requests) > self.batch_size:
            raise ValueError(f"at most {self.batch_size} documents per batch")
        items = []
        for r in requests:
            entity = "CreditMemo" if r.is_credit_note else "Invoice"
            items.append(
                {
                    "bId": r.key,
                    "operation": "create",
                    entity: json.loads(self._document(r).to_json(), parse_float=Decimal),
                }
            )
        batch_id = (
            "mc-b-" + hashlib.sha256("|".join(r.key for r in requests).encode()).hexdigest()[:40]
        )
        body = json.dumps({"BatchItemRequest": items}, cls=DecimalEncoder)
        answer = self.session.post("batch", body, request_id=batch_id)
        by_id = {item["bId"]: item for item in answer.get("BatchItemResponse", [])}
        results = []
        duplicates = []
        for r in requests:
            item = by_id.get(r.key)
            if item is None:
                results.append(
                    PushResult(r.key, error="QuickBooks returned no result for it", retriable=True)
                )
            elif "Fault" in item:
                code = _fault_code(item["Fault"])
                if code == 6140:  # the DocNumber exists: it is this very invoice, sent before
                    duplicates.append(r)
                    results.append(PushResult(r.key))
                else:
                    results.append(
                        PushResult(
                            r.key, error=_fault_text(item["Fault"]), retriable=code in (3001, 3003)
                        )
                    )
            else:
                data = item.get("Invoice") or item.get("CreditMemo")
                results.append(PushResult(r.key, invoice=self._remote(data, "CreditMemo" in item)))
        if duplicates:
            found = self.find_invoices([r.reference for r in duplicates])
            keyed = {r.key: found.get(r.reference) for r in duplicates}
            results = [
                PushResult(
                    p.key,
                    invoice=keyed[p.key],
                    error=None
                    if keyed[p.key]
                    else "QuickBooks reports the number as taken but it was not found",
                )
                if p.key in keyed
                else p
                for p in results
            ]
        return results

    def _document(self, r: InvoiceRequest) -> Invoice | CreditMemo:
        credit = r.is_credit_note
        doc = CreditMemo() if credit else Invoice()
        doc.CustomerRef = _ref(r.customer.id, r.customer.name)
        doc.CurrencyRef = _ref(r.currency)
        doc.TxnDate = r.date.isoformat()
        if self.custom_numbers():
            doc.DocNumber = r.reference
        doc.PrivateNote = f"{r.reference} {r.memo}".strip()
        if not credit:
            doc.DueDate = r.due_date.isoformat()
        doc.Line = []
        for line in r.lines:
            amount = -line.amount if credit else line.amount  # credit memo amounts are positive
            detail = SalesItemLineDetail()
            detail.ItemRef = self.item_ref()
            detail.Qty = 1
            detail.UnitPrice = amount
            item = SalesItemLine()
            item.Amount = amount
            item.Description = line.description
            item.SalesItemLineDetail = detail
            doc.Line.append(item)
        return doc

    def find_invoices(self, references: Sequence[str]) -> dict[str, RemoteInvoice]:
        if not self.custom_numbers():
            lookback = None if self._unbounded_lookup else NOTE_LOOKBACK
            return self._find_by_note(set(references), lookback)
        found: dict[str, RemoteInvoice] = {}
        wanted = list(dict.fromkeys(references))
        for start in range(0, len(wanted), self.batch_size // 2):
            chunk = wanted[start : start + self.batch_size // 2]
            queries = [
                {
                    "bId": f"{entity}:{ref}",
                    "Query": f"select * from {entity} where DocNumber = {escape(ref)}",
                }
                for ref in chunk
                for entity in ("Invoice", "CreditMemo")
            ]
            answer = self.session.post("batch", json.dumps({"BatchItemRequest": queries}))
            for item in answer.get("BatchItemResponse", []):
                if "Fault" in item:
                    raise classify_fault(item["Fault"])
                entity = item["bId"].split(":", 1)[0]
                for data in item.get("QueryResponse", {}).get(entity, []):
                    remote = self._remote(data, entity == "CreditMemo")
                    found[remote.reference] = remote
        return found

    def _find_by_note(
        self, references: set[str], lookback: timedelta | None = NOTE_LOOKBACK
    ) -> dict[str, RemoteInvoice]:
        """Private notes cannot be queried: read the documents created lately (within
        `lookback`; None: all of them) and match them. An intent left in `pushing` is resolved
        on the next night, well inside the window."""
        where = ""
        if lookback is not None:
            where = f"MetaData.CreateTime >= '{(datetime.now(UTC) - lookback).isoformat()}'"
        found: dict[str, RemoteInvoice] = {}
        for entity in ("Invoice", "CreditMemo"):
            for data in self._all(entity, where):
                remote = self._remote(data, entity == "CreditMemo")
                if remote.reference in references:
                    found[remote.reference] = remote
        return found

    def _all(self, entity: str, where: str) -> list[Any]:
        """Every `entity` matching `where` (all of them when it is ""), page by page (QuickBooks
        answers 1,000 at most)."""
        rows: list[Any] = []
        start = 1
        condition = f" where {where}" if where else ""
        while True:
            page = self.session.query(
                f"select * from {entity}{condition} STARTPOSITION {start} MAXRESULTS {PAGE}"
            ).get(entity, [])
            rows += page
            if len(page) < PAGE:
                return rows
            start += PAGE

    def void_invoice(self, ledger_id: str, key: str) -> RemoteInvoice:
        for attempt in (1, 2):
            data = self.session.get(f"invoice/{ledger_id}")["Invoice"]
            current = self._remote(data, False)
            if current.status is RemoteStatus.VOIDED:
                return current
            if current.balance != current.total:
                raise SkippableLedgerError(
                    f"invoice {current.number} has payments applied; QuickBooks would unapply "
                    "them on void, so it is left for a person (issue a credit memo instead)"
                )
            body = json.dumps({"Id": data["Id"], "SyncToken": data["SyncToken"]})
            try:
                answer = self.session.post(
                    "invoice",
                    body,
                    params={"operation": "void"},
                    request_id=f"{key}-void-{attempt}"[:50],
                )
                return self._remote(answer["Invoice"], False)
            except SkippableLedgerError as exc:
                if exc.code != "5010" or attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    # -- payments ------------------------------------------------------------------------------

    def payment_changes(self, cursor: str | None) -> PaymentChanges:
        now = datetime.now(UTC)
        if cursor is None:
            return PaymentChanges([], now.isoformat())
        since = datetime.fromisoformat(cursor) - CDC_OVERLAP
        if now - since > CDC_LIMIT:
            invoices, payments = self._changed_by_query(since)
        else:
            answer = self.session.get(
                "cdc", {"entities": "Invoice,Payment", "changedSince": since.isoformat()}
            )
            invoices, payments = [], []
            for block in answer.get("CDCResponse", [{}])[0].get("QueryResponse", []):
                invoices += block.get("Invoice", [])
                payments += block.get("Payment", [])
        applied = _payments_by_invoice(payments)
        changed = []
        for data in invoices:
            if data.get("status") == "Deleted":
                changed.append(
                    RemoteInvoice(
                        str(data["Id"]), "", "", "", Decimal(0), Decimal(0), RemoteStatus.DELETED
                    )
                )
                continue
            remote = self._remote(data, False)
            changed.append(_with_payments(remote, applied.get(remote.ledger_id, ())))
        seen = {r.ledger_id for r in changed}
        for invoice_id in set(applied) - seen:  # a payment changed, its invoice did not show up
            data = self.session.get(f"invoice/{invoice_id}")["Invoice"]
            changed.append(_with_payments(self._remote(data, False), applied[invoice_id]))
        return PaymentChanges(changed, now.isoformat())

    def _changed_by_query(self, since: datetime) -> tuple[list[Any], list[Any]]:
        """The cursor is older than CDC allows: page through a query instead."""
        where = f"MetaData.LastUpdatedTime > '{since.isoformat()}'"
        return self._all("Invoice", where), self._all("Payment", where)

    # -- mapping -------------------------------------------------------------------------------

    def _remote(self, data: dict[str, Any], credit: bool) -> RemoteInvoice:
        total = _dec(data.get("TotalAmt"))
        balance = _dec(data.get("Balance")) if not credit else _dec(data.get("RemainingCredit"))
        voided = "Voided" in (data.get("PrivateNote") or "") and total == 0
        if voided:
            status = RemoteStatus.VOIDED
        elif credit:
            status = RemoteStatus.OPEN
        elif balance <= 0 < total:
            status = RemoteStatus.PAID
        elif balance < total:
            status = RemoteStatus.PARTIALLY_PAID
        else:
            status = RemoteStatus.OPEN
        number = data.get("DocNumber") or str(data.get("Id"))
        currency = (data.get("CurrencyRef") or {}).get("value", "")
        note = data.get("PrivateNote") or ""
        # our reference: the DocNumber, or, where QuickBooks numbers invoices itself, the note
        reference = note.split()[0] if note.startswith("MC-") else data.get("DocNumber") or ""
        return RemoteInvoice(
            str(data["Id"]),
            number,
            reference,
            currency,
            total,
            balance,
            status,
            credit,
        )


def _ref(value: str, name: str | None = None) -> Ref:
    ref = Ref()
    ref.value = value
    if name:
        ref.name = name
    return ref


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def _fault_code(fault: dict[str, Any]) -> int:
    errors = fault.get("Error") or [{}]
    try:
        return int(errors[0].get("code", 0))
    except (TypeError, ValueError):
        return 0


def _fault_text(fault: dict[str, Any]) -> str:
    errors = fault.get("Error") or [{}]
    e = errors[0]
    return f"{e.get('Message', 'error')} ({e.get('code', '?')}): {e.get('Detail', '')}".strip()


def classify_fault(fault: dict[str, Any]) -> Exception:
    from quickbooks.exceptions import QuickbooksException

    errors = fault.get("Error") or [{}]
    return classify(
        QuickbooksException(
            errors[0].get("Message", ""), _fault_code(fault), errors[0].get("Detail", "")
        )
    )


def _payments_by_invoice(payments: list[Any]) -> dict[str, tuple[RemotePayment, ...]]:
    out: dict[str, list[RemotePayment]] = {}
    for p in payments:
        deleted = p.get("status") == "Deleted"
        paid_on = date.fromisoformat(p["TxnDate"]) if p.get("TxnDate") else date.today()
        for line in p.get("Line", []):
            for linked in line.get("LinkedTxn", []):
                if linked.get("TxnType") == "Invoice":
                    out.setdefault(str(linked["TxnId"]), []).append(
                        RemotePayment(str(p["Id"]), _dec(line.get("Amount")), paid_on, deleted)
                    )
    return {k: tuple(v) for k, v in out.items()}


def _with_payments(remote: RemoteInvoice, payments: tuple[RemotePayment, ...]) -> RemoteInvoice:
    return RemoteInvoice(
        remote.ledger_id,
        remote.number,
        remote.reference,
        remote.currency,
        remote.total,
        remote.balance,
        remote.status,
        remote.is_credit,
        payments,
    )


class QuickBooksPlugin:
    """`[ledger] kind = "quickbooks"`."""

    name = "quickbooks"
    label = "QuickBooks"
    rank = 1
    settings = QuickBooksSettings

    def create(self, settings: QuickBooksSettings, context: PluginContext) -> QuickBooksLedger:
        session = QuickBooksSession(
            settings,
            TokenStore(context.business, "quickbooks"),
            retry_wait=(settings.retry_first_wait, settings.retry_max_wait),
        )
        return QuickBooksLedger(session, context.item)

    def credentials(self, context: PluginContext) -> Credentials:
        return refresh_token_credentials(context.business, self.name)

    def add_commands(self, groups: CommandGroups) -> None:
        from connector.adapters.quickbooks.cli import register

        register(groups)
