"""The reference ledger: an in-memory (optionally file-backed) ledger that honours idempotency keys.

It is what the engine is tested against, what every real adapter is compared with, and, as the
`local` ledger kind, what a bookkeeper can try the tool on before connecting real books. It must
never hold test controls: failures and call counts are injected by a subclass on the emulator
side (`connector_sandbox.local.FaultyLocalLedger`), through the one seam `_remember`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import replace
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
    find_then_create,
)
from connector.adapters.local import ledger_file
from connector.adapters.local.documents import Doc, doc_from, doc_record
from connector.errors import SkippableLedgerError, UserError
from connector.plugins import PluginContext


class MemoryLedger:
    """A ledger in a dict, optionally kept in a file (`ledger_file`: JSON Lines, appended).

    A file-backed ledger reads its file only when a call needs what is in it: a night on which
    nothing changed in the ledger asks `payment_changes` for what changed since the last run,
    and that is answered from the file's last line. Each write appends what it changed."""

    name = "memory"
    batch_size = 30

    def __init__(self, path: Path | None = None):
        self.path = path
        self._docs: dict[str, Doc] = {}
        self._customers: dict[str, CustomerRef] = {}
        self._keys: dict[str, tuple[str, str]] = {}  # key -> (fingerprint, doc id)
        self._by_reference: dict[str, str] = {}  # reference -> doc id
        self._seq = 0
        self._loaded = True
        self._size = self._lines = 0  # the file's committed bytes and record lines
        self._rewrite = False  # a format 1 file, or a new one: the next write is whole
        self._dirty: dict[tuple[str, str], dict[str, Any]] = {}  # what the next write appends
        if path is not None and path.exists():
            if ledger_file.is_format_2(path):
                self._loaded = False  # read when a call needs it
            else:
                self._load()
        elif path is not None:
            self._rewrite = True

    @property
    def docs(self) -> dict[str, Doc]:
        self._ensure()
        return self._docs

    @property
    def customers(self) -> dict[str, CustomerRef]:
        self._ensure()
        return self._customers

    @property
    def keys(self) -> dict[str, tuple[str, str]]:
        self._ensure()
        return self._keys

    @property
    def seq(self) -> int:
        self._ensure()
        return self._seq

    @seq.setter
    def seq(self, value: int) -> None:
        self._ensure()
        self._seq = value

    def _ensure(self) -> None:
        if not self._loaded:
            self._loaded = True
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
        self._touch(doc)
        self._save()
        return payment

    def delete_payment(self, ledger_id: str, payment_id: str) -> None:
        doc = self.docs[ledger_id]
        doc.payments = [replace(p, deleted=True) if p.id == payment_id else p for p in doc.payments]
        self.seq += 1
        doc.changed = self.seq
        self._touch(doc)
        self._save()

    def document(self, number_or_reference: str) -> Doc | None:
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
        self._dirty[("customer", name.casefold())] = {"customer": [ref.id, ref.name, ref.currency]}
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
        doc = Doc(
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
        self._by_reference[doc.reference] = doc.id
        self._touch(doc)
        self._remember(r.key, fingerprint, doc.id)
        return PushResult(r.key, invoice=doc.remote())

    def _remember(self, key: str, fingerprint: str, doc_id: str) -> None:
        """Keep the idempotency key of a document just created, so a resend returns it."""
        self.keys[key] = (fingerprint, doc_id)
        self._dirty[("key", key)] = {"key": [key, fingerprint, doc_id]}

    def find_invoices(self, references: Sequence[str]) -> dict[str, RemoteInvoice]:
        docs = self.docs
        found = (self._by_reference.get(ref) for ref in dict.fromkeys(references))
        return {docs[i].reference: docs[i].remote() for i in found if i is not None}

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
            self._touch(doc)
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
            self._touch(doc)
            self._save()
        return doc.remote()

    def payment_changes(self, cursor: str | None) -> PaymentChanges:
        since = int(cursor or 0)
        if not self._loaded and self.path is not None:
            last = ledger_file.last_seq(self.path)
            if last is not None and last <= since:  # nothing changed: the file is not read
                return PaymentChanges([], str(last))
        changed = [d.remote() for d in self.docs.values() if d.changed > since]
        return PaymentChanges(changed, str(self.seq))

    # -- persistence for the `local` ledger (`ledger_file`) ------------------------------------

    def _touch(self, doc: Doc) -> None:
        self._dirty[("document", doc.id)] = {"document": doc}  # as it is when written

    def _records(self) -> Iterator[dict[str, Any]]:
        """Every record of the ledger, as a whole file holds them."""
        for c in self._customers.values():
            yield {"customer": [c.id, c.name, c.currency]}
        for d in self._docs.values():
            yield {"document": doc_record(d)}
        for k, (fingerprint, doc_id) in self._keys.items():
            yield {"key": [k, fingerprint, doc_id]}

    def _save(self) -> None:
        """Append what changed since the last write; write the file afresh when it is new, of
        format 1, or holds more superseded lines than live ones."""
        if self.path is None:
            self._dirty.clear()
            return
        live = len(self._docs) + len(self._customers) + len(self._keys)
        changed = [
            {"document": doc_record(r["document"])} if "document" in r else r
            for r in self._dirty.values()
        ]
        self._dirty.clear()
        grown = self._lines + len(changed) + 1 > 2 * live + 64  # lines, with their marks
        if self._rewrite or grown or not self.path.exists():
            self._size, self._lines = ledger_file.rewrite(self.path, self._records(), self._seq)
            self._rewrite = False
        elif changed:
            self._size = ledger_file.append(self.path, self._size, changed, self._seq)
            self._lines += len(changed) + 1

    def _load(self) -> None:
        """Read the ledger file, or refuse in one sentence: a file that cannot be read is never
        replaced by an empty ledger (that would lose every invoice in it)."""
        assert self.path is not None
        loaded = ledger_file.load(self.path)
        try:
            if loaded.legacy is not None:
                self._read(loaded.legacy)
                self._rewrite = True  # format 1: its first write is the whole file, format 2
            else:
                self._read_records(loaded)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            raise UserError(
                f"the local ledger {self.path} (ledger.path) is JSON but not a ledger this "
                "connector wrote (a key is missing or of the wrong kind); restore it from a "
                "backup, it was left as it is"
            ) from None
        self._by_reference = {}
        for doc in self._docs.values():
            self._by_reference[doc.reference] = doc.id

    def _read_records(self, loaded: ledger_file.Loaded) -> None:
        self._seq, self._size, self._lines = loaded.seq, loaded.size, loaded.lines
        for record in loaded.records:
            if "document" in record:
                doc = doc_from(record["document"])
                self._docs[doc.id] = doc
            elif "customer" in record:
                cid, name, currency = record["customer"]
                self._customers[name.casefold()] = CustomerRef(cid, name, currency)
            elif "key" in record:
                key, fingerprint, doc_id = record["key"]
                self._keys[key] = (fingerprint, doc_id)
            else:
                raise KeyError("a line of an unknown kind")

    def _read(self, data: Any) -> None:
        """Format 1: one JSON object holding the whole ledger."""
        self._seq = int(data["seq"])
        for cid, name, currency in data["customers"]:
            self._customers[name.casefold()] = CustomerRef(cid, name, currency)
        self._keys = {k: (v[0], v[1]) for k, v in data["keys"].items()}
        for d in data["documents"]:
            doc = doc_from(d)
            self._docs[doc.id] = doc


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
