"""Reading lists from Xero for the adapter: every page of a paged list, and the payment status
pull-back (invoices changed since the cursor, plus `/Payments` to notice deleted payments,
which do not always touch their invoice's `UpdatedDateUTC`).

Reads only: nothing here writes to Xero or decides what a change means for the state database.
A document that cannot be read costs that document, never the pull (`lenient`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.adapters.base import PaymentChanges, RemotePayment
from connector.adapters.xero.lenient import Unreadable
from connector.adapters.xero.mapping import day, server_time, to_remote, with_payments
from connector.adapters.xero.session import XeroSession

log = logging.getLogger(__name__)
PAGE = 1000  # Xero's largest pageSize
OVERLAP = timedelta(minutes=5)  # re-read the boundary: two changes in one second are not lost
# invoices whose payment status may have moved: anything paid, credited, voided or deleted
CHANGED = (
    'Type=="ACCREC" AND (AmountPaid>0 OR AmountCredited>0 OR Status=="VOIDED" OR Status=="DELETED")'
)
# customer payments only: bills' payments and refunds are none of the connector's business
CUSTOMER_PAYMENTS = 'PaymentType=="ACCRECPAYMENT"'
IDS_PER_CALL = 50
# A first cursor rests on this machine's clock, which may run hours off Xero's (a hardware clock
# kept in local time): starting a day back covers that, and the invoices changed in that day are
# not the business's, which has none in Xero yet, so the pull passes over them.
FIRST_MARGIN = timedelta(days=1)

Fetch = Callable[[Any, str, int], list[Any] | None]


def pages(session: XeroSession, fetch: Fetch, unread: list[Unreadable] | None = None) -> list[Any]:
    """Every row of a paged Xero list: pages of 1,000 until a short one. A row that could not be
    read still counts towards its page (so a full page is never taken for the last), and is
    added to `unread` when the caller wants to know."""
    rows: list[Any] = []
    page = 1
    while True:

        def one(api: Any, tenant: str, page: int = page) -> list[Any] | None:
            return fetch(api, tenant, page)

        chunk = session.call(one) or []
        left_out = session.take_unreadable()
        if unread is not None:
            unread += left_out
        rows += chunk
        if len(chunk) + len(left_out) < PAGE:
            return rows
        page += 1


def payment_changes(
    session: XeroSession, cursor: str | None
) -> tuple[PaymentChanges, list[Unreadable]]:
    """Invoices whose payments, credits or status moved since `cursor` (every one this app
    created that did, on the first pull), with their payments and the deleted ones.

    A document Xero's answer holds but that cannot be read is left out and named in the log;
    the cursor then stays where it was, so the next pull reads it again and no payment on it
    is lost, while every other invoice's payments are recorded now. Returns the changes and
    the documents that could not be read."""
    since = datetime.fromisoformat(cursor) - OVERLAP if cursor else None
    stamp: list[datetime] = []
    unread: list[Unreadable] = []

    def invoices(api: Any, tenant: str, page: int) -> list[Any]:
        window: dict[str, Any] = (
            {"if_modified_since": since} if since else {"created_by_my_app": True}
        )
        answer = api.get_invoices(tenant, where=CHANGED, page=page, page_size=PAGE, **window)
        if not stamp:  # the cursor rests on Xero's clock at the first page
            stamp.append(server_time(getattr(session.client(), "last_response", None)))
        return answer.invoices or []

    changed: dict[str, Any] = {doc.invoice_id: doc for doc in pages(session, invoices, unread)}
    deleted = _deleted_payments(session, since, changed, unread) if since is not None else {}
    _read_missing(session, changed, unread)
    out = []
    for invoice_id, doc in changed.items():
        if doc is None:
            continue
        payments = tuple(
            RemotePayment(p.payment_id, p.amount, day(p.date)) for p in doc.payments or []
        ) + tuple(deleted.get(invoice_id, ()))
        out.append(with_payments(to_remote(doc), payments))
    for problem in dict.fromkeys(str(u) for u in unread):
        log.warning("payment status: %s; it is read again on the next pull", problem)
    if unread:
        return PaymentChanges(out, cursor), unread
    now = stamp[0] if stamp else datetime.now(UTC)
    return PaymentChanges(out, now.isoformat()), unread


def payments_from_now() -> str:
    """The first cursor of a business with nothing in Xero yet, made without a call: the next
    pull reads every change since a day ago (`FIRST_MARGIN`)."""
    return (datetime.now(UTC) - FIRST_MARGIN).isoformat()


def _deleted_payments(
    session: XeroSession, since: datetime, changed: dict[str, Any], unread: list[Unreadable]
) -> dict[str, list[RemotePayment]]:
    """Customer payments changed since `since`: the deleted ones by invoice; every invoice a
    payment touched goes into `changed` (None: still to be read), including the invoice of a
    payment that could not itself be read."""
    deleted: dict[str, list[RemotePayment]] = {}
    seen: list[Unreadable] = []
    for p in pages(
        session,
        lambda api, t, page: (
            api.get_payments(
                t, if_modified_since=since, where=CUSTOMER_PAYMENTS, page=page, page_size=PAGE
            ).payments
        ),
        seen,
    ):
        if p.invoice is None:
            continue
        if p.status == "DELETED":
            deleted.setdefault(p.invoice.invoice_id, []).append(
                RemotePayment(p.payment_id, p.amount, day(p.date), deleted=True)
            )
        changed.setdefault(p.invoice.invoice_id, None)
    for problem in seen:
        if problem.invoice_id:
            changed.setdefault(problem.invoice_id, None)
    unread += seen
    return deleted


def _read_missing(session: XeroSession, changed: dict[str, Any], unread: list[Unreadable]) -> None:
    """Read the invoices `changed` knows only by id, 50 to a call."""
    missing = [i for i, doc in changed.items() if doc is None]
    for start in range(0, len(missing), IDS_PER_CALL):
        ids = missing[start : start + IDS_PER_CALL]

        def by_id(api: Any, tenant: str, ids: list[str] = ids) -> Any:
            return api.get_invoices(tenant, i_ds=ids, page=1, page_size=PAGE)

        answer = session.call(by_id)
        unread += session.take_unreadable()
        for doc in answer.invoices or []:
            changed[doc.invoice_id] = doc
