"""One `InvoiceRequest` as the Xero invoice or credit note the adapter sends.

Every line carries the booking's TaxType (the request's tax code mapped through the
organisation's rates, else `XeroSettings.tax_type`) and its tracking; the document carries its
currency always (Xero would otherwise take the contact's or the base currency) and its
LineAmountTypes. A booking that says nothing about tax (no tax code, `amounts` None) keeps
`XeroSettings.line_amount_types`, so that a business set up before bookings existed books
exactly as it did; one with a tax code and no `amounts` is Exclusive, Xero's default.
Building refuses (`BookingRefused`) what the organisation cannot take.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from xero_python.accounting import Contact, CreditNote, Invoice, LineItem

from connector.adapters.base import AmountsAre, Booking, InvoiceRequest
from connector.adapters.xero.books import OrgBooks
from connector.adapters.xero.session import XeroSettings

# ledger-apis.md, Tax row: Xero LineAmountTypes Exclusive|Inclusive|NoTax
LINE_AMOUNT_TYPES = {
    AmountsAre.EXCLUSIVE: "Exclusive",
    AmountsAre.INCLUSIVE: "Inclusive",
    AmountsAre.NO_TAX: "NoTax",
}


def line_amount_types(booking: Booking, settings: XeroSettings) -> str:
    if booking.amounts is not None:
        return LINE_AMOUNT_TYPES[booking.amounts]
    if booking.tax_code is None:
        return settings.line_amount_types
    return LINE_AMOUNT_TYPES[AmountsAre.EXCLUSIVE]  # Xero's own default (ledger-apis.md, Tax)


def document(
    r: InvoiceRequest, contact_id: str, settings: XeroSettings, item: str, books: OrgBooks
) -> Invoice | CreditNote:
    """The document for `r`; credit notes keep their amounts positive, as Xero does."""
    credit = r.is_credit_note
    booking = r.booking
    tax_type = books.tax_type(booking.tax_code) if booking.tax_code else settings.tax_type
    tracking = books.tracking(booking.tracking)
    lines = [
        LineItem(
            description=line.description,
            quantity=Decimal(1),
            unit_amount=-line.amount if credit else line.amount,
            item_code=item or None,
            account_code=settings.account_code,
            tax_type=tax_type,
            tracking=tracking,
        )
        for line in r.lines
    ]
    common: dict[str, Any] = {
        "contact": Contact(contact_id=contact_id),
        "line_items": lines,
        "date": r.date,
        "line_amount_types": line_amount_types(booking, settings),
        "reference": r.reference,
        "currency_code": r.currency,
        "status": settings.invoice_status,
    }
    if credit:
        return CreditNote(type="ACCRECCREDIT", **common)
    return Invoice(type="ACCREC", due_date=r.due_date, **common)
