"""The `local` ledger with the failures real ledgers have, for tests: an error before the write,
a write that commits while its answer is lost, and a key window that has passed. It also counts
the calls made to it, and the emails it would have sent (`emails`); `BooksLocalLedger` adds a
company profile (`Profiled`), for the checks before a push.

The shipped `local` ledger (`connector.adapters.local.MemoryLedger`) holds none of this; this
subclass only wraps its calls, so what is tested is the shipped ledger's own behaviour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Literal

from connector.adapters.base import (
    CustomerRef,
    InvoiceRequest,
    LedgerProfile,
    PaymentChanges,
    PushResult,
    RemoteInvoice,
)
from connector.adapters.local import MemoryLedger
from connector.errors import RetriableLedgerError

Mode = Literal["error", "drop"]


class FaultyLocalLedger(MemoryLedger):
    """`remember_keys=False` forgets idempotency keys, as a ledger whose key window has passed
    would, to prove the engine's lookup-before-resend on its own. `sent_in_changes=False`
    leaves the sent flag out of the payment changes, as a change feed about money alone would,
    to prove the engine's lookup before an email is sent again on its own too."""

    def __init__(
        self,
        path: Path | None = None,
        *,
        remember_keys: bool = True,
        sent_in_changes: bool = True,
    ):
        super().__init__(path)
        self.remember_keys = remember_keys
        self.sent_in_changes = sent_in_changes
        self.calls: dict[str, int] = {}
        self.faults: list[tuple[str, Mode]] = []  # (call name, mode)
        # ledger ids, once per send call that reached the ledger: a ledger that emails on every
        # call (as QuickBooks' send does when asked twice) would have sent this many
        self.emails: list[str] = []

    def fail_next(self, call: str, mode: Mode = "error") -> None:
        """Make the next `call` fail: "error" before anything is written, "drop" after the
        write commits (the caller sees a timeout, as with a lost response)."""
        self.faults.append((call, mode))

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def _fault(self, call: str) -> Mode | None:
        """Count `call`; raise its injected error, or say that its answer is to be lost."""
        self.calls[call] = self.calls.get(call, 0) + 1
        for i, (name, mode) in enumerate(self.faults):
            if name == call:
                del self.faults[i]
                if mode == "error":
                    raise RetriableLedgerError(
                        f"{call}: injected failure (503 Service Unavailable)"
                    )
                return mode
        return None

    def _remember(self, key: str, fingerprint: str, doc_id: str) -> None:
        if self.remember_keys:
            super()._remember(key, fingerprint, doc_id)

    # -- the LedgerAdapter calls, each with its fault ------------------------------------------

    def find_or_create_customer(self, name: str, currency: str) -> CustomerRef:
        self._fault("find_or_create_customer")
        return super().find_or_create_customer(name, currency)

    def create_invoices(self, requests: Sequence[InvoiceRequest]) -> list[PushResult]:
        mode = self._fault("create_invoices")
        results = super().create_invoices(requests)
        if mode == "drop":
            raise RetriableLedgerError(
                "create_invoices: connection reset after the write committed"
            )
        return results

    def find_invoices(self, references: Sequence[str]) -> dict[str, RemoteInvoice]:
        self._fault("find_invoices")
        return super().find_invoices(references)

    def void_invoice(self, ledger_id: str, key: str) -> RemoteInvoice:
        mode = self._fault("void_invoice")
        remote = super().void_invoice(ledger_id, key)
        if mode == "drop":
            raise RetriableLedgerError("void_invoice: connection reset after the write committed")
        return remote

    def send_invoice(self, ledger_id: str, key: str) -> RemoteInvoice:
        mode = self._fault("send_invoice")
        remote = super().send_invoice(ledger_id, key)
        self.emails.append(ledger_id)
        if mode == "drop":
            raise RetriableLedgerError("send_invoice: connection reset after the email went")
        return remote

    def payment_changes(self, cursor: str | None) -> PaymentChanges:
        self._fault("payment_changes")
        changes = super().payment_changes(cursor)
        if self.sent_in_changes:
            return changes
        return replace(changes, invoices=[replace(i, sent=False) for i in changes.invoices])


class BooksLocalLedger(FaultyLocalLedger):
    """A faulty local ledger that describes a company (`Profiled`): the `profile` given, read
    through the same faults ("profile") and counted like every other call."""

    def __init__(self, profile: LedgerProfile, path: Path | None = None, **kw: bool):
        super().__init__(path, **kw)
        self.company = profile

    def profile(self) -> LedgerProfile:
        self._fault("profile")
        return self.company
