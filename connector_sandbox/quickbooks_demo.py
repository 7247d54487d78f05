"""The QuickBooks side of `connector demo`: a sandbox company the example business connects to
through the real OAuth code flow, and the customer payments the story records in it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

from connector.adapters.quickbooks.auth import connect_quickbooks
from connector.adapters.quickbooks.session import QuickBooksSettings
from connector.config import Config
from connector.credentials import TokenStore
from connector_sandbox.demo_stage import SandboxStage, follow_consent
from connector_sandbox.quickbooks import CLIENT_ID, CLIENT_SECRET, DEFAULT_REALM, QuickBooksSandbox


class QuickBooksDemoLedger(SandboxStage[QuickBooksSandbox]):
    label = "QuickBooks"

    def __init__(self) -> None:
        self.sandbox = QuickBooksSandbox()

    def seed(self) -> None:
        self.sandbox.seed_company(
            DEFAULT_REALM, currencies=["EUR"], company_name="Northwind Studio (demo)"
        )

    def ledger_section(self) -> str:
        return "\n".join(
            [
                "[ledger]",
                'kind = "quickbooks"',
                'environment = "sandbox"',
                f'api_url = "{self.sandbox.api_url}"',
                f'discovery_url = "{self.sandbox.discovery_url}"',
                "retry_first_wait = 0.1",
            ]
        )

    def connect(self, cfg: Config, show: Callable[[str], None]) -> None:
        settings = cfg.ledger_settings
        assert isinstance(settings, QuickBooksSettings)
        connect_quickbooks(
            settings,
            TokenStore(cfg.business.name, "quickbooks"),
            CLIENT_ID,
            CLIENT_SECRET,
            lambda url: show("Connecting to QuickBooks through OAuth..."),
            follow_consent,
        )

    def invoices(self) -> dict[str, tuple[str, Decimal]]:
        return {
            doc["DocNumber"]: (doc["Id"], Decimal(str(doc["TotalAmt"])))
            for doc in self.sandbox.invoices()
        }

    def pay(self, invoice_id: str, amount: Decimal, on: date) -> None:
        self.sandbox.record_payment(DEFAULT_REALM, invoice_id, str(amount), on)
