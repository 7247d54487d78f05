"""`connector ledger pay`: a client's payment recorded in the practice (local) ledger, as a
bookkeeper would record it in QuickBooks or Xero, so the whole cycle (bill, pay, `sync` pulls
the payment, `status` shows it) can be tried without editing the ledger's JSON.

Only the `local` ledger kind: a real ledger's payments are recorded in the ledger itself. Bad
input (an unknown invoice, an amount that is not a positive decimal, more than the balance) is
one message and exit 2, and the ledger file is left as it was. Never touches the state.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from connector import config as config_mod
from connector.adapters.local import MemoryLedger
from connector.cli.common import ConfigOpt, about, out
from connector.errors import MoneyError, UserError
from connector.money import check_places, fmt, parse_decimal
from connector.sync.lock import business_lock

ledger_app = typer.Typer(
    no_args_is_help=True,
    help="Act in the practice (local) ledger as a bookkeeper would in a real one.",
)


def register(app: typer.Typer) -> None:
    """`connector ledger ...`, after the other command groups."""
    app.add_typer(ledger_app, name="ledger")


# "-5" is an amount to refuse in words, not an unknown option
@ledger_app.command(context_settings={"ignore_unknown_options": True})
def pay(
    invoice: Annotated[
        str,
        typer.Argument(
            metavar="INVOICE", help="The invoice's number (INV-1001) or reference (MC-...)."
        ),
    ],
    amount: Annotated[
        str, typer.Argument(metavar="AMOUNT", help="What the client paid, e.g. 400.00.")
    ],
    config: ConfigOpt,
    on: Annotated[
        str | None,
        typer.Option("--date", help="The day it was paid (YYYY-MM-DD); default: today."),
    ] = None,
) -> None:
    """Record a payment on an invoice of the practice ledger; the next `connector sync` pulls
    it into the state, and `connector status` shows it."""
    with about(config):
        cfg = config_mod.load(config)
        _must_be_practice(cfg, config)
    with about(config), business_lock(cfg):  # a sync of the business writes the file too
        ledger = cfg.ledger()  # read under the lock
        assert isinstance(ledger, MemoryLedger)
        doc = ledger.document(invoice)
        if doc is None:
            raise UserError(
                f"{ledger.path}: no invoice {invoice!r} in the practice ledger; give its "
                "number (as `connector status` shows it) or its reference"
            )
        paid = _amount(amount, doc.currency)
        day = _day(on, cfg)
        remote = doc.remote()
        if doc.is_credit or doc.voided:
            what = "a credit note" if doc.is_credit else "voided"
            raise UserError(f"{doc.number} is {what}: a payment is recorded on an open invoice")
        if paid > remote.balance:
            raise UserError(
                f"{paid} {doc.currency} is more than the balance of {doc.number} "
                f"({fmt(remote.balance)} {doc.currency}); record at most the balance"
            )
        payment = ledger.record_payment(doc.id, paid, day)
    left = ledger.docs[doc.id].remote().balance
    out.print(
        f"payment {payment.id} of {fmt(paid)} {doc.currency} recorded on {doc.number} "
        f"({day.isoformat()}); balance {fmt(left)} {doc.currency}. `connector sync --config "
        f"{config}` pulls it into the state.",
        markup=False,
        highlight=False,
    )


def _must_be_practice(cfg: config_mod.Config, path: Path) -> None:
    if cfg.ledger_kind != "local":
        raise UserError(
            f"{path}: [ledger] kind is {cfg.ledger_kind!r}; `connector ledger pay` records "
            'payments in the practice ledger (kind = "local") only: record this one in the '
            "ledger itself, and `connector sync` pulls it"
        )


def _amount(raw: str, currency: str) -> Decimal:
    try:
        value = parse_decimal(raw, "an amount")
        if value <= 0:
            raise MoneyError(f"expected an amount more than zero, got {raw!r}")
        return check_places(value, currency, raw)
    except MoneyError as exc:
        raise UserError(f"AMOUNT: {exc}") from None


def _day(raw: str | None, cfg: config_mod.Config) -> date:
    if raw is None:
        return datetime.now(cfg.zone).date()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise UserError(f"--date: expected a date like 2026-11-26, got {raw!r}") from None
