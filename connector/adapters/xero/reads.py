"""Reading lists from Xero for the adapter: every page of a paged list, and the payment status
pull-back (invoices changed since the cursor, plus `/Payments` to notice deleted payments,
which do not always touch their invoice's `UpdatedDateUTC`).

Reads only: nothing here writes to Xero or decides what a change means for the state database.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.adapters.base import PaymentChanges, RemotePayment
from connector.adapters.xero.mapping import day, server_time, to_remote, with_payments
from connector.adapters.xero.session import XeroSession

PAGE = 1000  # Xero's largest pageSize
OVERLAP = timedelta(minutes=5)  # re-read the boundary: two changes in one second are not lost
# invoices whose payment status may have moved: anything paid, credited, voided or deleted
CHANGED = (
    'Type=="ACCREC" AND (AmountPaid>0 OR AmountCredited>0 OR Status=="VOIDED" OR Status=="DELETED")'
)
# customer payments only: bills' payments and refunds are none of the connector's business
CUSTOMER_PAYMENTS = 'PaymentType=="ACCRECPAYMENT"'
IDS_PER_CALL = 50

Fetch = Callable[[Any, str, int], list[Any] | None]


def pages(session: XeroSession, fetch: Fetch) -> list[Any]:
    """Every row of a paged Xero list: pages of 1,000 until a short one."""
    rows: list[Any] = []
    page = 1
    while True:

        def one(api: Any, tenant: str, page: int = page) -> list[Any] | None:
            return fetch(api, tenant, page)

        chunk = session.call(one) or []
        rows += chunk
        if len(chunk) < PAGE:
            return rows
        page += 1


def payment_changes(session: XeroSession, cursor: str | None) -> PaymentChanges:
    """Invoices whose payments, credits or status moved since `cursor` (every one this app
    created that did, on the first pull), with their payments and the deleted ones."""
    since = datetime.fromisoformat(cursor) - OVERLAP if cursor else None
    stamp: list[datetime] = []

    def invoices(api: Any, tenant: str, page: int) -> list[Any]:
        window: dict[str, Any] = (
            {"if_modified_since": since} if since else {"created_by_my_app": True}
        )
        answer = api.get_invoices(tenant, where=CHANGED, page=page, page_size=PAGE, **window)
        if not stamp:  # the cursor rests on Xero's clock at the first page
            stamp.append(server_time(getattr(session.client(), "last_response", None)))
        return answer.invoices or []

    changed: dict[str, Any] = {doc.invoice_id: doc for doc in pages(session, invoices)}
    deleted: dict[str, list[RemotePayment]] = {}
    if since is not None:
        for p in pages(
            session,
            lambda api, t, page: (
                api.get_payments(
                    t, if_modified_since=since, where=CUSTOMER_PAYMENTS, page=page, page_size=PAGE
                ).payments
            ),
        ):
            if p.invoice is None:
                continue
            if p.status == "DELETED":
                deleted.setdefault(p.invoice.invoice_id, []).append(
                    RemotePayment(p.payment_id, p.amount, day(p.date), deleted=True)
                )
            changed.setdefault(p.invoice.invoice_id, None)
    missing = [i for i, doc in changed.items() if doc is None]
    for start in range(0, len(missing), IDS_PER_CALL):
        ids = missing[start : start + IDS_PER_CALL]

        def by_id(api: Any, tenant: str, ids: list[str] = ids) -> Any:
            return api.get_invoices(tenant, i_ds=ids, page=1, page_size=PAGE)

        answer = session.call(by_id)
        for doc in answer.invoices or []:
            changed[doc.invoice_id] = doc
    out = []
    for invoice_id, doc in changed.items():
        if doc is None:
            continue
        payments = tuple(
            RemotePayment(p.payment_id, p.amount, day(p.date)) for p in doc.payments or []
        ) + tuple(deleted.get(invoice_id, ()))
        out.append(with_payments(to_remote(doc), payments))
    now = stamp[0] if stamp else datetime.now(UTC)
    return PaymentChanges(out, now.isoformat())
