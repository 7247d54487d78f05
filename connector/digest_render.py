"""The morning digest as an email: a subject to triage from the inbox list, a plain-text part
that reads in any mail client (one item per line, no columns to line up), and the HTML part
(`connector.digest_html`) as its alternative.

Amounts are written with thousands separators and their currency (`12,345.60 USD`); sums are
per currency, never across. No secret is ever in a digest: it is made from the state and the
config, which hold none, and `send` redacts the SMTP password from any problem it returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from email.message import EmailMessage
from typing import TypeVar

from connector.aging import BUCKETS, Bucket, Buckets
from connector.digest import (
    LISTED,
    Awaiting,
    BusinessDigest,
    Created,
    Digest,
    NeedsPerson,
    Received,
    Retainage,
)
from connector.money import grouped

T = TypeVar("T")

BUCKET_NAMES = {
    Bucket.CURRENT: "current",
    Bucket.DAYS_1_30: "1-30 days",
    Bucket.DAYS_31_60: "31-60 days",
    Bucket.DAYS_61_90: "61-90 days",
    Bucket.OVER_90: "over 90 days",
}


def money(amount: Decimal, currency: str) -> str:
    """`12,345.60 USD`: the amount as stored (already to its currency's places), grouped."""
    return f"{grouped(amount)} {currency}"


def sums(items: Iterable[tuple[Decimal, str]]) -> str:
    """Amounts added up one currency at a time: `54,000.00 USD and 4,000.00 EUR`."""
    by: dict[str, Decimal] = {}
    for amount, currency in items:
        by[currency] = by.get(currency, Decimal(0)) + amount
    return " and ".join(money(by[c], c) for c in sorted(by))


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


# -- one line per item, shared by both parts ----------------------------------------------------


def received_line(p: Received) -> str:
    return (
        f"{p.customer} paid {money(p.amount, p.currency)} on {p.invoice} "
        f"({p.contract}), {p.paid_on.isoformat()}"
    )


def created_what(c: Created) -> str:
    if c.is_credit_note:
        return "credit note"
    if c.milestones:
        return f"{c.kind} {', '.join(c.milestones)}"
    return str(c.kind)


def created_line(c: Created) -> str:
    amount = money(abs(c.total), c.currency)
    due = "" if c.is_credit_note else f", due {c.due_date.isoformat()}"
    flags = []
    if c.overdue_when_created:
        flags.append("OVERDUE WHEN CREATED")
    if not c.confirmed:
        flags.append("not yet confirmed by the ledger")
    tail = f" ({'; '.join(flags)})" if flags else ""
    return f"{c.number} {c.customer} ({c.contract}), {created_what(c)}: {amount}{due}{tail}"


def _link(c: Created) -> str:
    """The online payment link on a line of its own, whole, so a mail reader can open it."""
    return f"\n  pay online: {c.payment_link}" if c.payment_link else ""


def needs_line(n: NeedsPerson) -> str:
    held = (
        ""
        if n.amount is None or n.currency is None
        else f" [holds up {money(n.amount, n.currency)}]"
    )
    return n.message + held


def awaiting_line(a: Awaiting) -> str:
    value = "amount not known" if a.value is None else money(a.value, a.currency)
    done = f", done {a.completed.isoformat()}" if a.completed else ""
    title = f" {a.title}" if a.title and a.title != a.milestone else ""
    return f"{a.milestone}{title} ({a.contract}): {value}{done}"


def retainage_line(r: Retainage) -> str:
    who = f" ({r.customer})" if r.customer else ""
    if r.invoice is not None:
        due = f", due {r.due_date.isoformat()}" if r.due_date else ""
        amount = money(r.amount, r.currency)
        return f"{r.contract}{who}: {amount} billed for release on {r.invoice}{due}"
    if r.waiting:
        return (
            f"{r.contract}{who}: {money(r.amount, r.currency)} held, "
            f"released once {waiting_text(r.waiting)}"
        )
    return f"{r.contract}{who}: {money(r.amount, r.currency)} held, due for release now"


def waiting_text(n: int) -> str:
    """What a retainage release waits for: `1 more milestone is done and accepted`."""
    return f"{plural(n, 'more milestone')} {'is' if n == 1 else 'are'} done and accepted"


def held_up(needs: Sequence[NeedsPerson]) -> str:
    return sums((n.amount, n.currency) for n in needs if n.amount is not None and n.currency)


def when(moment: datetime) -> str:
    """`2026-12-02 07:05 CST`: to the minute, with the zone it is in."""
    return moment.strftime("%Y-%m-%d %H:%M %Z").rstrip()


# -- subject ------------------------------------------------------------------------------------


def failed(b: BusinessDigest) -> bool:
    if b.error is not None or b.not_run is not None:
        return True
    return b.last_sync is not None and b.last_sync.outcome == "failed"


def subject(digest: Digest) -> str:
    """`Morning digest, 3 businesses: 2 payments, 6 invoices created, 1 needs a person`."""
    head = f"Morning digest, {digest.title}"
    bad = [b.business for b in digest.businesses if failed(b)]
    parts = [f"sync FAILED for {', '.join(bad)}"] if bad else []
    if digest.cannot_load:
        n = len(digest.cannot_load)
        parts.append(f"{plural(n, 'config')} {'does' if n == 1 else 'do'} not load")
    paid = sum(len(b.received) for b in digest.businesses)
    made = sum(len(b.created) for b in digest.businesses)
    needs = sum(len(b.needs) for b in digest.businesses)
    if paid:
        parts.append(plural(paid, "payment"))
    if made:
        parts.append(plural(made, "invoice") + " created")
    if needs:
        parts.append(f"{needs} {'needs' if needs == 1 else 'need'} a person")
    if not parts:
        parts.append(
            f"all quiet ({plural(len(digest.businesses), 'business', 'businesses')} synced)"
        )
    return f"{head}: {', '.join(parts)}"


# -- the plain-text part ------------------------------------------------------------------------


def aging_lines(totals: Sequence[Buckets]) -> list[str]:
    """Per currency: outstanding and overdue on one line, then a line per bucket with money."""
    lines: list[str] = []
    for t in totals:
        lines.append(
            f"- {t.currency}: {money(t.total, t.currency)} outstanding, "
            f"{money(t.overdue, t.currency)} overdue"
        )
        for bucket in BUCKETS:
            amount = t.amount(bucket)
            if amount:
                lines.append(f"    {BUCKET_NAMES[bucket]}: {money(amount, t.currency)}")
        if t.credit:
            lines.append(f"    unused credit: {money(t.credit, t.currency)}")
    return lines


def listed(items: Sequence[T]) -> tuple[Sequence[T], str]:
    """The first `LISTED` items, and the line that counts the rest ("" when none are left)."""
    more = len(items) - LISTED
    return items[:LISTED], (f"and {more} more: connector status lists them" if more > 0 else "")


def _section(title: str, items: Sequence[str], total: str = "") -> list[str]:
    if not items:
        return []
    head = f"{title} ({len(items)})" + (f", {total}" if total else "") + ":"
    shown, rest = listed(items)
    return ["", head, *(f"- {item}" for item in shown), *([f"- {rest}"] if rest else [])]


def business_text(b: BusinessDigest) -> list[str]:
    lines = ["", f"== {b.business} =="]
    if b.error:
        also = [f"NEEDS A PERSON: the last run could not start: {b.not_run}"] if b.not_run else []
        return [*lines, f"NEEDS A PERSON: {b.error}", *also]
    if b.last_sync is None:
        lines.append("Last sync: none yet")
    else:
        lines.append(f"Last sync: {when(b.last_sync.when)}, {b.last_sync.outcome}")
    if b.quiet:
        lines.append("Nothing new, nothing needs a person.")
    lines += _section(
        "Payments received",
        [received_line(p) for p in b.received],
        sums((p.amount, p.currency) for p in b.received),
    )
    lines += _section(
        "Invoices created",
        [created_line(c) + _link(c) for c in b.created],
        sums((c.total, c.currency) for c in b.created),
    )
    needs = [needs_line(n) for n in b.needs]
    lines += _section(
        "Needs a person", needs, f"holding up {held_up(b.needs)}" if held_up(b.needs) else ""
    )
    lines += _section(
        "Done, waiting for the client's acceptance", [awaiting_line(a) for a in b.awaiting]
    )
    lines += _section("Retainage", [retainage_line(r) for r in b.retainage])
    for extra in b.extra:
        lines += _section(extra.title, list(extra.lines))
    if b.totals:
        lines += ["", "Receivables (outstanding and overdue, by days past due):"]
        lines += aging_lines(b.totals)
    else:
        lines += ["", "Receivables: nothing outstanding."]
    return lines


def render_text(digest: Digest) -> str:
    lines = [f"Morning digest, {digest.title}, {when(digest.made_at)}"]
    if digest.since is not None:
        since = digest.since.astimezone(digest.made_at.tzinfo)
        lines.append(f"What happened since {when(since)}.")
    else:
        lines.append("The first digest: everything the books hold so far.")
    if digest.quiet:
        lines.append("All quiet: every business synced, nothing new, nothing needs a person.")
    lines += _section(
        "Configs that do not load, so their businesses are not synced", digest.cannot_load
    )
    for b in digest.businesses:
        lines += business_text(b)
    if len(digest.businesses) > 1 and digest.totals:
        lines += ["", "== All businesses ==", "Receivables, one currency at a time:"]
        lines += aging_lines(digest.totals)
    lines += ["", "connector status and connector aging give the details."]
    return "\n".join(lines) + "\n"


def render_email(digest: Digest) -> EmailMessage:
    """multipart/alternative: the plain text first, the HTML as the preferred alternative.
    From, To, Date and Message-ID are added when it is sent (`connector.notify.deliver`)."""
    from connector.digest_html import render_html

    msg = EmailMessage()
    msg["Subject"] = subject(digest)
    msg.set_content(render_text(digest))
    msg.add_alternative(render_html(digest), subtype="html")
    return msg
