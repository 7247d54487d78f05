"""The reference ledger: an in-memory (optionally file-backed) ledger that honours idempotency keys.

It is what the engine is tested against, what every real adapter is compared with, and, as the
`local` ledger kind, what a bookkeeper can try the tool on before connecting real books. It must
never hold test controls: failures and call counts are injected by a subclass on the emulator
side (`connector_sandbox.local.FaultyLocalLedger`), through the one seam `_remember`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from connector.adapters.base import (
    CustomerKey,
    CustomerRef,
    Customers,
    InvoiceRequest,
    PaymentChanges,
    PushResult,
    RemoteInvoice,
    RemotePayment,
    RemoteStatus,
    find_then_create,
)
from connector.errors import SkippableLedgerError, UserError
from connector.plugins import PluginContext


@dataclass
class _Doc:
    id: str
    number: str
    reference: str
    key: str
    customer: str
    currency: str
    is_credit: bool
    date: dt.date  # dt.: the field's name would shadow the type
    due_date: dt.date
    total: Decimal
    lines: list[tuple[str, Decimal]]
    voided: bool = False
    payments: list[RemotePayment] = field(default_factory=list)
    changed: int = 0
    credits: str | None = None  # a credit note: the id of the invoice it credits
    sent: bool = False

    def remote(self) -> RemoteInvoice:
        paid = sum((p.amount for p in self.payments if not p.deleted), Decimal(0))
        balance = Decimal(0) if self.voided else self.total - paid
        if self.voided:
            status = RemoteStatus.VOIDED
        elif balance <= 0 and self.total > 0:
            status = RemoteStatus.PAID
        elif paid > 0:
            status = RemoteStatus.PARTIALLY_PAID
        else:
            status = RemoteStatus.OPEN
        return RemoteInvoice(
            self.id,
            self.number,
            self.reference,
            self.currency,
            self.total,
            balance,
            status,
            self.is_credit,
            tuple(self.payments),
            sent=self.sent,
        )


class MemoryLedger:
    """A ledger in a dict, optionally kept in a JSON file."""

    name = "memory"
    batch_size = 30

    def __init__(self, path: Path | None = None):
        self.path = path
        self.docs: dict[str, _Doc] = {}
        self.customers: dict[str, CustomerRef] = {}
        self.keys: dict[str, tuple[str, str]] = {}  # key -> (fingerprint, doc id)
        self.seq = 0
        if path is not None and path.exists():
            self._load()

    # -- admin, as a person would act in the ledger ----------------------------------------

    def record_payment(self, ledger_id: str, amount: Decimal, on: date) -> RemotePayment:
        doc = self.docs[ledger_id]
        if doc.voided:
            raise ValueError(f"invoice {doc.number} is voided")
        self.seq += 1
        payment = RemotePayment(f"P{self.seq}", amount, on)
        doc.payments.append(payment)
        doc.changed = self.seq
        self._save()
        return payment

    def delete_payment(self, ledger_id: str, payment_id: str) -> None:
        doc = self.docs[ledger_id]
        doc.payments = [replace(p, deleted=True) if p.id == payment_id else p for p in doc.payments]
        self.seq += 1
        doc.changed = self.seq
        self._save()

    def document(self, number_or_reference: str) -> _Doc | None:
        """The document a person names by its number (INV-1001) or its reference, in any case."""
        wanted = number_or_reference.strip().casefold()
        for doc in self.docs.values():
            if wanted in (doc.number.casefold(), doc.reference.casefold()):
                return doc
        return None

    def documents(self) -> list[RemoteInvoice]:
        return [doc.remote() for doc in self.docs.values()]

    # -- the LedgerAdapter calls -----------------------------------------------------------

    def find_or_create_customer(self, name: str, currency: str) -> CustomerRef:
        existing = self._customer(name, currency)
        if isinstance(existing, SkippableLedgerError):
            raise existing
        if existing is not None:
            return existing
        ref = CustomerRef(f"C{len(self.customers) + 1}", name, currency)
        self.customers[name.casefold()] = ref
        self._save()
        return ref

    def find_customers(self, wanted: Sequence[CustomerKey]) -> Customers:
        """`FindsCustomers`, as the remote ledgers answer it: the ones it has."""
        found: Customers = {}
        for name, currency in wanted:
            existing = self._customer(name, currency)
            if existing is not None:
                found[(name, currency)] = existing
        return found

    def _customer(self, name: str, currency: str) -> CustomerRef | SkippableLedgerError | None:
        existing = self.customers.get(name.casefold())
        if existing is None or existing.currency == currency:
            return existing
        return SkippableLedgerError(
            f"customer {name!r} is set up in {existing.currency} in the ledger, but the "
            f"contract is in {currency}"
        )

    def create_customers(self, wanted: Sequence[CustomerKey]) -> Customers:
        """`FindsCustomers`: each through `find_or_create_customer`, the one seam a test
        double wraps (a practice ledger has no calls to save)."""
        made: Customers = {}
        for name, currency in wanted:
            try:
                made[(name, currency)] = self.find_or_create_customer(name, currency)
            except SkippableLedgerError as exc:
                made[(name, currency)] = exc
        return made

    def find_or_create_customers(self, wanted: Sequence[CustomerKey]) -> Customers:
        return find_then_create(self, wanted)

    def create_invoices(self, requests: Sequence[InvoiceRequest]) -> list[PushResult]:
        if len(requests) > self.batch_size:
            raise ValueError(f"at most {self.batch_size} invoices per call")
        results = [self._create_one(r) for r in requests]
        self._save()
        return results

    def _create_one(self, r: InvoiceRequest) -> PushResult:
        fingerprint = json.dumps(
            [
                r.reference,
                r.customer.id,
                r.currency,
                [[ln.description, str(ln.amount)] for ln in r.lines],
            ]
        )
        if r.key in self.keys:
            seen, doc_id = self.keys[r.key]
            if seen != fingerprint:
                return PushResult(r.key, error="idempotency key reused with a different request")
            return PushResult(r.key, invoice=self.docs[doc_id].remote())
        is_credit = r.is_credit_note
        sign = Decimal(-1) if is_credit else Decimal(1)
        total = r.total * sign
        if total < 0:
            return PushResult(r.key, error="an invoice total cannot be negative")
        self.seq += 1
        number = f"{'CN' if is_credit else 'INV'}-{1000 + len(self.docs) + 1}"
        doc = _Doc(
            id=str(len(self.docs) + 1),
            number=number,
            reference=r.reference,
            key=r.key,
            customer=r.customer.id,
            currency=r.currency,
            is_credit=is_credit,
            date=r.date,
            due_date=r.due_date,
            total=total,
            lines=[(ln.description, ln.amount * sign) for ln in r.lines],
            changed=self.seq,
            credits=r.credits_ledger_id if is_credit else None,
        )
        self.docs[doc.id] = doc
        self._remember(r.key, fingerprint, doc.id)
        return PushResult(r.key, invoice=doc.remote())

    def _remember(self, key: str, fingerprint: str, doc_id: str) -> None:
        """Keep the idempotency key of a document just created, so a resend returns it."""
        self.keys[key] = (fingerprint, doc_id)

    def find_invoices(self, references: Sequence[str]) -> dict[str, RemoteInvoice]:
        wanted = set(references)
        return {d.reference: d.remote() for d in self.docs.values() if d.reference in wanted}

    def void_invoice(self, ledger_id: str, key: str) -> RemoteInvoice:
        doc = self.docs.get(ledger_id)
        if doc is None:
            raise SkippableLedgerError(f"invoice {ledger_id} not found")
        if not doc.voided:
            if any(not p.deleted for p in doc.payments):
                raise SkippableLedgerError(
                    f"invoice {doc.number} has payments applied and cannot be voided"
                )
            doc.voided = True
            self.seq += 1
            doc.changed = self.seq
            self._save()
        return doc.remote()

    def send_invoice(self, ledger_id: str, key: str) -> RemoteInvoice:
        """`SendsInvoices`: a practice ledger has no mail server, so sending only marks the
        document sent (what `status` then shows); sending it again changes nothing."""
        doc = self.docs.get(ledger_id)
        if doc is None:
            raise SkippableLedgerError(f"invoice {ledger_id} not found")
        if not doc.sent:
            doc.sent = True
            self.seq += 1
            doc.changed = self.seq
            self._save()
        return doc.remote()

    def payment_changes(self, cursor: str | None) -> PaymentChanges:
        since = int(cursor or 0)
        changed = [d.remote() for d in self.docs.values() if d.changed > since]
        return PaymentChanges(changed, str(self.seq))

    # -- persistence for the `local` ledger --------------------------------------------------

    def _save(self) -> None:
        if self.path is None:
            return
        data = {
            "seq": self.seq,
            "customers": [[c.id, c.name, c.currency] for c in self.customers.values()],
            "keys": {k: list(v) for k, v in self.keys.items()},
            "documents": [
                {
                    "id": d.id,
                    "number": d.number,
                    "reference": d.reference,
                    "key": d.key,
                    "customer": d.customer,
                    "currency": d.currency,
                    "is_credit": d.is_credit,
                    "date": d.date.isoformat(),
                    "due_date": d.due_date.isoformat(),
                    "total": str(d.total),
                    "voided": d.voided,
                    "sent": d.sent,
                    "changed": d.changed,
                    "lines": [[text, str(amount)] for text, amount in d.lines],
                    "payments": [
                        [p.id, str(p.amount), p.date.isoformat(), p.deleted] for p in d.payments
                    ],
                }
                for d in self.docs.values()
            ],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".ledger-")
        with os.fdopen(fd, "w") as handle:  # mkstemp creates the file with mode 0600
            json.dump(data, handle, indent=1)
        os.replace(tmp, self.path)

    def _load(self) -> None:
        """Read the ledger file, or refuse in one sentence: a file that cannot be read is never
        replaced by an empty ledger (that would lose every invoice in it)."""
        assert self.path is not None
        where = f"{self.path} (ledger.path)"
        if self.path.is_dir():
            raise UserError(f"{where} is a folder; ledger.path must name the ledger's JSON file")
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
            raise UserError(f"cannot read the local ledger {where}: {reason}") from None
        try:
            self._read(json.loads(text, parse_float=Decimal))
        except json.JSONDecodeError as exc:
            raise UserError(
                f"the local ledger {where} is not valid JSON (line {exc.lineno}, column "
                f"{exc.colno}: {exc.msg}); restore it from a backup, it was left as it is"
            ) from None
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            raise UserError(
                f"the local ledger {where} is JSON but not a ledger this connector wrote (a "
                "key is missing or of the wrong kind); restore it from a backup, it was left as "
                "it is"
            ) from None

    def _read(self, data: Any) -> None:
        self.seq = int(data["seq"])
        for cid, name, currency in data["customers"]:
            self.customers[name.casefold()] = CustomerRef(cid, name, currency)
        self.keys = {k: (v[0], v[1]) for k, v in data["keys"].items()}
        for d in data["documents"]:
            self.docs[d["id"]] = _Doc(
                id=d["id"],
                number=d["number"],
                reference=d["reference"],
                key=d["key"],
                customer=d["customer"],
                currency=d["currency"],
                is_credit=d["is_credit"],
                date=date.fromisoformat(d["date"]),
                due_date=date.fromisoformat(d["due_date"]),
                total=Decimal(d["total"]),
                voided=d["voided"],
                sent=bool(d.get("sent", False)),  # files written before sending existed
                changed=d["changed"],
                lines=[(text, Decimal(amount)) for text, amount in d["lines"]],
                payments=[
                    RemotePayment(pid, Decimal(amount), date.fromisoformat(on), deleted)
                    for pid, amount, on, deleted in d["payments"]
                ],
            )


class LocalLedgerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="JSON file holding the practice ledger, relative to the config")


class LocalLedgerPlugin:
    """`[ledger] kind = "local"`: a practice ledger in a JSON file, no account needed."""

    name = "local"
    label = "Local ledger"
    rank = 0
    settings = LocalLedgerSettings

    def create(self, settings: LocalLedgerSettings, context: PluginContext) -> MemoryLedger:
        ledger = MemoryLedger((context.base_dir / settings.path).resolve())
        ledger.name = "local"
        return ledger
