"""How payments apply to invoices and credit memos, and what that does to their balances.

A payment's applications are kept in one table, so an invoice's Balance is always TotalAmt -
Deposit - what is applied to it; a change of Balance bumps the invoice's SyncToken and
LastUpdatedTime (which is how CDC sees a payment land), and LinkedTxn lists the payments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from connector_sandbox.quickbooks_faults import ref_value


class Applications:
    """The part of a company that keeps payment applications; `Company` is the rest."""

    objects: dict[str, dict[str, dict[str, Any]]]
    _applications: dict[str, list[tuple[str, str, Decimal]]]

    def _touch(self, entity: str, obj_id: str) -> None:
        raise NotImplementedError

    def open_balance(
        self, txn_type: str, txn_id: str, excluding_payment: str | None = None
    ) -> Decimal:
        obj = self.objects[txn_type][txn_id]
        applied = self._applied_to(txn_type, txn_id, excluding_payment)
        return obj["TotalAmt"] - obj.get("Deposit", Decimal(0)) - applied

    def _applied_to(
        self, txn_type: str, txn_id: str, excluding_payment: str | None = None
    ) -> Decimal:
        return sum(
            (
                amount
                for pid, apps in self._applications.items()
                if pid != excluding_payment
                for t, i, amount in apps
                if (t, i) == (txn_type, txn_id)
            ),
            Decimal(0),
        )

    def _payments_applying(self, txn_type: str, txn_id: str) -> list[str]:
        return [
            pid
            for pid, apps in self._applications.items()
            if any((t, i) == (txn_type, txn_id) for t, i, _ in apps)
        ]

    def _settle(
        self, entity: str, obj_id: str, applications: Sequence[tuple[str, str, Decimal]]
    ) -> None:
        """Record what a payment applies, then recompute every balance it touches."""
        if entity == "Payment":
            before = {(t, i) for t, i, _ in self._applications.get(obj_id, [])}
            self._applications[obj_id] = list(applications)
            for t, i in before | {(t, i) for t, i, _ in applications}:
                self._refresh_balance(t, i, touch=True)
        elif entity in ("Invoice", "CreditMemo"):
            self._refresh_balance(entity, obj_id, touch=False)

    def _unapply(self, payment_id: str) -> None:
        for t, i, _ in self._applications.pop(payment_id, []):
            if i in self.objects[t]:
                self._refresh_balance(t, i, touch=True)

    def _refresh_payment(self, payment_id: str) -> None:
        payment = self.objects["Payment"][payment_id]
        apps = self._applications[payment_id]
        payment["Line"] = [
            {"Amount": a, "LinkedTxn": [{"TxnId": i, "TxnType": t}]} for t, i, a in apps
        ]
        net = sum((a if t == "Invoice" else -a for t, _, a in apps), Decimal(0))
        payment["UnappliedAmt"] = payment["TotalAmt"] - net
        self._touch("Payment", payment_id)

    def _refresh_balance(self, txn_type: str, txn_id: str, touch: bool) -> None:
        obj = self.objects[txn_type][txn_id]
        balance = self.open_balance(txn_type, txn_id)
        links = [
            {"TxnId": pid, "TxnType": "Payment"}
            for pid in self._payments_applying(txn_type, txn_id)
        ]
        changed = obj.get("Balance") != balance or obj.get("LinkedTxn") != links
        obj["Balance"] = balance
        obj["LinkedTxn"] = links
        if txn_type == "CreditMemo":
            obj["RemainingCredit"] = balance
        if "HomeTotalAmt" in obj:
            obj["HomeBalance"] = (balance * obj.get("ExchangeRate", Decimal(1))).quantize(
                Decimal("0.01")
            )
        if touch and changed:
            self._touch(txn_type, txn_id)


def payment_body(
    invoice: Mapping[str, Any], amount: Decimal, txn_date: date | None
) -> dict[str, Any]:
    """The Payment a customer's payment against one invoice becomes (for the admin API)."""
    body: dict[str, Any] = {
        "CustomerRef": {"value": ref_value(invoice["CustomerRef"])},
        "TotalAmt": amount,
        "Line": [{"Amount": amount, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}],
    }
    if txn_date is not None:
        body["TxnDate"] = txn_date.isoformat()
    return body
