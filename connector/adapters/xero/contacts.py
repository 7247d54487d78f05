"""Xero contacts for the adapter: found by name (trimmed, any case, as Xero compares them) or
created, all new ones in one call just before the first batch that needs them.

Every name is compared through `folded` so that a name typed with a stray space or other
capitals finds the same contact whichever path it takes. Answers are matched by name, never by
position.
"""

from __future__ import annotations

from collections.abc import Sequence

from xero_python.accounting import Contact, Contacts

from connector.adapters.base import CustomerKey, CustomerRef, Customers
from connector.adapters.xero.mapping import folded, messages, request_key
from connector.adapters.xero.reads import PAGE, pages
from connector.adapters.xero.session import XeroSession
from connector.errors import SkippableLedgerError

PENDING = "pending:"  # a contact to be created with the next batch


class ContactBook:
    """The organisation's contacts as this run knows them, and the ones it is about to add."""

    def __init__(self, session: XeroSession):
        self.session = session
        self._contacts: dict[str, CustomerRef] | None = None  # folded name -> contact
        self._pending: dict[str, CustomerRef] = {}

    def find_or_create(self, name: str, currency: str) -> CustomerRef:
        found = self.find(name, currency)
        if isinstance(found, SkippableLedgerError):
            raise found
        if found is not None:
            return found
        pending = CustomerRef(PENDING + name.strip(), name.strip(), currency)
        self._pending[folded(name)] = pending
        return pending

    def find(self, name: str, currency: str) -> CustomerRef | SkippableLedgerError | None:
        """The contact by this name (or the one about to be created), None when there is
        none; one whose default currency is another is the problem, never a guess."""
        key = folded(name)
        known = self.known().get(key) or self._pending.get(key)
        if known is None:
            return None
        if known.currency and known.currency != currency:
            return SkippableLedgerError(
                f"customer {name!r} is set up in {known.currency} in Xero, but the contract is "
                f"in {currency}; change the contact's default currency in Xero or the "
                "contract's currency"
            )
        return CustomerRef(known.id, known.name, currency)

    def find_all(self, wanted: Sequence[CustomerKey]) -> Customers:
        """`FindsCustomers.find_customers`: the ones the organisation has."""
        found: Customers = {}
        for name, currency in dict.fromkeys(wanted):
            answer = self.find(name, currency)
            if answer is not None:
                found[(name, currency)] = answer
        return found

    def create(self, wanted: Sequence[CustomerKey]) -> Customers:
        """`FindsCustomers.create_customers`: every one of `wanted` in one call (`flush`)."""
        for name, currency in wanted:
            if self.find(name, currency) is None:
                self._pending[folded(name)] = CustomerRef(
                    PENDING + name.strip(), name.strip(), currency
                )
        failed = self.flush()
        out: Customers = {}
        for name, currency in wanted:
            found = self.find(name, currency)
            if found is None or (isinstance(found, CustomerRef) and found.id.startswith(PENDING)):
                why = failed.get(folded(name), "it could not be created")
                found = SkippableLedgerError(f"contact {name!r}: {why}")
            out[(name, currency)] = found
        return out

    def known(self) -> dict[str, CustomerRef]:
        """Every active contact, read once per run (a page holds 1,000)."""
        if self._contacts is None:
            contacts: dict[str, CustomerRef] = {}
            for c in pages(
                self.session,
                lambda api, t, page: (
                    api.get_contacts(t, page=page, page_size=PAGE, summary_only=True).contacts
                ),
            ):
                currency = c.default_currency.value if c.default_currency else ""
                contacts[folded(c.name)] = CustomerRef(c.contact_id, c.name, currency)
            self._contacts = contacts
        return self._contacts

    def flush(self) -> dict[str, str]:
        """Create every pending contact in one call; returns the folded names that failed,
        with Xero's reason."""
        if not self._pending:
            return {}
        pending = list(self._pending.values())
        body = Contacts(
            contacts=[Contact(name=c.name, default_currency=c.currency) for c in pending]
        )
        names = [f"{c.name}|{c.currency}" for c in pending]
        key = request_key("mc-contacts", [self.session.tenant(), *names])
        answer = self.session.call(
            lambda api, t: api.create_contacts(t, body, summarize_errors=False, idempotency_key=key)
        )
        returned = {folded(got.name or ""): got for got in answer.contacts or []}
        failed: dict[str, str] = {}
        known = self.known()
        for want in pending:
            got = returned.get(folded(want.name))
            if got is None:
                failed[folded(want.name)] = "Xero returned no result for it"
            elif got.has_validation_errors or not got.contact_id:
                failed[folded(want.name)] = messages(got)
            else:
                known[folded(want.name)] = CustomerRef(got.contact_id, got.name, want.currency)
        if failed:  # created meanwhile by someone else, or left out of the answer: read again
            self._contacts = None
            known = self.known()
            failed = {k: v for k, v in failed.items() if k not in known}
        self._pending.clear()
        return failed

    def contact_id(self, customer: CustomerRef) -> str | None:
        if not customer.id.startswith(PENDING):
            return customer.id
        found = self.known().get(folded(customer.name))
        return found.id if found else None
