"""One Xero organisation (tenant) in memory: contacts, items, invoices, credit notes, payments,
and the rules that tie them together.

Status rules as Xero documents them: documents are created as DRAFT, SUBMITTED or AUTHORISED;
only AUTHORISED documents take payments and credit allocations; AUTHORISED becomes PAID when
nothing is due; VOIDED needs AUTHORISED with no payment or credit applied; DELETED needs DRAFT or
SUBMITTED. AmountDue, AmountPaid, AmountCredited and FullyPaidOnDate follow every payment,
deletion and allocation. Callers hold `lock` around every operation.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from connector_sandbox.server import Clock
from connector_sandbox.xero_entities import (
    ACCOUNTS,
    LINE_AMOUNT_TYPES,
    Document,
    Invalid,
    Line,
    a_date,
    contact_view,
)
from connector_sandbox.xero_lines import parse_lines
from connector_sandbox.xero_payments import PaymentRules
from connector_sandbox.xero_setup import (
    RegionSettings,
    TaxRate,
    rates_for,
    settings_for,
    tracking_categories,
)

EDIT_BLOCKED = "This document cannot be edited as it has a payment or credit note allocated to it."
NOT_MODIFIABLE = "Invoice not of valid status for modification"


@dataclass
class OrgSettings:
    tenant_id: str
    name: str = "Sandbox Organisation"
    base_currency: str = "USD"
    currencies: frozenset[str] = frozenset()
    country: str = "US"
    tracking: Mapping[str, Sequence[str]] = field(default_factory=dict)  # category -> options

    @property
    def all_currencies(self) -> frozenset[str]:
        return self.currencies | {self.base_currency}

    @property
    def region(self) -> RegionSettings:
        return settings_for(self.country)


@dataclass
class Organisation(PaymentRules):
    settings: OrgSettings
    clock: Clock
    lock: threading.RLock = field(default_factory=threading.RLock)
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    documents: dict[str, Document] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    numbers: dict[str, int] = field(default_factory=dict)
    tax_rates: dict[str, TaxRate] = field(default_factory=dict)
    tracking: dict[str, dict[str, Any]] = field(default_factory=dict)  # by TrackingCategoryID

    def __post_init__(self) -> None:
        region = self.settings.region
        for code, account in ACCOUNTS.items():
            tax = region.sales_account_tax if account["Type"] == "REVENUE" else region.no_tax
            self.accounts[code] = {
                "AccountID": str(uuid.uuid4()),
                "Code": code,
                **account,
                "TaxType": tax,
            }
        self.tax_rates = rates_for(self.settings.country)
        self.tracking = tracking_categories(self.settings.tracking)

    @property
    def tenant_id(self) -> str:
        return self.settings.tenant_id

    def now(self) -> datetime:
        return self.clock.now()

    def today(self) -> date:
        return self.clock.now().date()

    # --- contacts and items ---

    def contact_by_name(self, name: str) -> dict[str, Any] | None:
        folded = name.strip().casefold()
        for contact in self.contacts.values():
            if contact["ContactStatus"] == "ACTIVE" and contact["Name"].casefold() == folded:
                return contact
        return None

    def create_contact(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise Invalid("A contact must be an object")
        name = str(body.get("Name") or "").strip()
        if not name:
            raise Invalid("The contact name must be specified.")
        if len(name) > 255:
            raise Invalid("The contact name must be 255 characters or less.")
        if self.contact_by_name(name) is not None:
            raise Invalid(
                f"The contact name {name} is already assigned to another contact. The contact "
                "name must be unique across all active contacts."
            )
        currency = body.get("DefaultCurrency")
        contact: dict[str, Any] = {
            "ContactID": str(uuid.uuid4()),
            "ContactStatus": "ACTIVE",
            "Name": name,
            "UpdatedDateUTC": self.now(),
            "IsCustomer": False,
        }
        for key in ("EmailAddress", "ContactNumber", "FirstName", "LastName"):
            if body.get(key):
                contact[key] = str(body[key])
        persons = body.get("ContactPersons")
        if isinstance(persons, list):
            contact["ContactPersons"] = [dict(p) for p in persons if isinstance(p, dict)]
        if currency:
            contact["DefaultCurrency"] = str(currency)
        self.contacts[contact["ContactID"]] = contact
        return contact_view(contact)

    def create_item(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not body.get("Code"):
            raise Invalid("Item Code must be specified")
        code = str(body["Code"])
        if len(code) > 30:
            raise Invalid("Item Code must be 30 characters or less")
        if any(i["Code"].casefold() == code.casefold() for i in self.items.values()):
            raise Invalid(f"Item code '{code}' already exists")
        sales = body.get("SalesDetails") or {}
        account = sales.get("AccountCode")
        if account and account not in self.accounts:
            raise Invalid(f"Account code '{account}' is not a valid code for this document.")
        item: dict[str, Any] = {
            "ItemID": str(uuid.uuid4()),
            "Code": code,
            "Name": str(body.get("Name") or code),
            "IsSold": True,
            "IsPurchased": False,
            "SalesDetails": {k: v for k, v in sales.items() if v is not None},
            "UpdatedDateUTC": self.now(),
        }
        self.items[item["ItemID"]] = item
        return item

    def item_by_code(self, code: str) -> dict[str, Any] | None:
        return next(
            (i for i in self.items.values() if i["Code"].casefold() == code.casefold()), None
        )

    # --- invoices and credit notes ---

    def create_document(self, body: Any, credit: bool, app: str) -> Document:
        """Validate and store one invoice or credit note; `Invalid` lists every problem."""
        if not isinstance(body, dict):
            raise Invalid("An invoice must be an object")
        problems: list[str] = []
        kind = str(body.get("Type") or "")
        allowed = ("ACCRECCREDIT", "ACCPAYCREDIT") if credit else ("ACCREC", "ACCPAY")
        if kind not in allowed:
            problems.append(f"Type must be one of {', '.join(allowed)}")
        status = str(body.get("Status") or "DRAFT")
        if status not in ("DRAFT", "SUBMITTED", "AUTHORISED"):
            problems.append(f"Invalid status '{status}' for a new document")
        contact = self._contact_for(body.get("Contact"), problems)
        currency, amounts = self._money_terms(body, problems)
        try:
            on = a_date(body.get("Date"), "Date") or self.today()
            due = a_date(body.get("DueDate"), "DueDate")
        except Invalid as exc:
            problems += exc.messages
            on, due = self.today(), None
        lines = self._lines(body.get("LineItems"), status, problems)
        number = self._number(body, credit, kind, problems)
        if problems:
            raise Invalid(*problems)
        assert contact is not None
        doc = Document(
            id=str(uuid.uuid4()),
            type=kind,
            number=number or self._next_number("CN" if credit else "INV"),
            reference=str(body.get("Reference") or ""),
            contact_id=contact["ContactID"],
            contact_name=contact["Name"],
            date=on,
            due_date=due,
            status=status,
            line_amount_types=amounts,
            currency=currency,
            lines=lines,
            updated=self.now(),
            app=app,
        )
        doc.compute()
        # A negative total is refused, as for QuickBooks. Xero's OpenAPI file (shared/specs)
        # does not state this rule and no Xero page found here does either: it is assumed, so
        # that a client never relies on sending one. The message is ours.
        if doc.total < 0:
            raise Invalid("The document total cannot be negative.")
        contact["IsCustomer"] = True
        self.documents[doc.id] = doc
        return doc

    def _number(self, body: dict[str, Any], credit: bool, kind: str, problems: list[str]) -> str:
        """The number asked for, which must be unique for its type ("" lets Xero number it)."""
        number = str(body.get("CreditNoteNumber" if credit else "InvoiceNumber") or "")
        if number and any(
            d.number.casefold() == number.casefold() and d.is_credit == credit
            for d in self.documents.values()
            if d.type == kind
        ):
            problems.append("Invoice # must be unique.")
        return number

    def _money_terms(self, body: dict[str, Any], problems: list[str]) -> tuple[str, str]:
        """The document's currency and LineAmountTypes (default Exclusive: xero_accounting.yaml,
        LineAmountTypes)."""
        currency = str(body.get("CurrencyCode") or self.settings.base_currency)
        # Only a currency the organisation has added (GET /Currencies) can be invoiced in
        # (chargify/docs.chargify.com#86: "the currency ... has been enabled in your Xero
        # Settings"; waynerobinson/xeroizer#401: currencies are "subscribed to"). The words
        # are an assumption.
        if currency not in self.settings.all_currencies:
            problems.append(f"Organisation is not subscribed to currency {currency}")
        amounts = str(body.get("LineAmountTypes") or "Exclusive")
        if amounts not in LINE_AMOUNT_TYPES:
            problems.append(f"LineAmountTypes must be one of {', '.join(LINE_AMOUNT_TYPES)}")
        return currency, amounts

    def _contact_for(self, ref: Any, problems: list[str]) -> dict[str, Any] | None:
        """By ContactID, or by Name: Xero finds the contact with that name or creates it."""
        if not isinstance(ref, dict) or not (ref.get("ContactID") or ref.get("Name")):
            problems.append("A Contact must be specified for this type of transaction")
            return None
        if ref.get("ContactID"):
            contact = self.contacts.get(str(ref["ContactID"]))
            if contact is None:
                problems.append(f"Contact with ID {ref['ContactID']} could not be found")
            return contact
        found = self.contact_by_name(str(ref["Name"]))
        if found is not None:
            return found
        created = self.create_contact({"Name": ref["Name"]})
        return self.contacts[created["ContactID"]]

    def _lines(self, raw: Any, status: str, problems: list[str]) -> list[Line]:
        return parse_lines(self, raw, status, problems)

    def _next_number(self, prefix: str) -> str:
        self.numbers[prefix] = self.numbers.get(prefix, 0) + 1
        return f"{prefix}-{self.numbers[prefix]:04d}"

    def document(self, doc_id: str, credit: bool) -> Document:
        doc = self.documents.get(doc_id)
        if doc is None or doc.is_credit != credit:
            raise KeyError(doc_id)
        return doc

    def update_document(self, doc: Document, body: Any) -> Document:
        """POST to an existing document: status changes and edits, by Xero's rules."""
        if not isinstance(body, dict):
            raise Invalid("An invoice must be an object")
        status = body.get("Status")
        if status and status != doc.status:
            self._transition(doc, str(status))
        for key in ("Reference", "DueDate", "LineItems", "Contact", "Date", "CurrencyCode"):
            if key in body and body[key] is not None:
                self._edit(doc, key, body[key])
        doc.updated = self.now()
        return doc

    def _transition(self, doc: Document, status: str) -> None:
        if status == "VOIDED":  # Xero: only AUTHORISED voids; DRAFT and SUBMITTED are deleted
            if doc.status != "AUTHORISED":
                raise Invalid(NOT_MODIFIABLE)
            if doc.payments or doc.paid or doc.credited:
                raise Invalid(EDIT_BLOCKED)
        elif status in ("DELETED", "SUBMITTED", "AUTHORISED"):
            if doc.status not in ("DRAFT", "SUBMITTED"):
                raise Invalid(NOT_MODIFIABLE)
        else:
            raise Invalid(NOT_MODIFIABLE)
        doc.status = status

    def _edit(self, doc: Document, key: str, value: Any) -> None:
        if doc.status in ("VOIDED", "DELETED", "PAID"):
            raise Invalid(NOT_MODIFIABLE)
        if doc.paid or doc.credited:
            raise Invalid(EDIT_BLOCKED)
        if key == "Reference":
            doc.reference = str(value)
        elif key == "DueDate":
            doc.due_date = a_date(value, "DueDate")
        elif key == "Date":
            doc.date = a_date(value, "Date") or doc.date
        elif key == "LineItems":
            problems: list[str] = []
            lines = self._lines(value, doc.status, problems)
            if problems:
                raise Invalid(*problems)
            doc.lines = lines
            doc.compute()

    # --- reading ---

    def documents_of(self, credit: bool) -> Iterable[Document]:
        return (d for d in self.documents.values() if d.is_credit == credit)
