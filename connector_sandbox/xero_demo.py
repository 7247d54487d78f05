"""The Xero side of `connector demo`: a sandbox organisation (USD, with EUR subscribed) the
example business connects to through the real OAuth code flow, and the customer payments the
story records in it.

With a country, the organisation is of that region (GB or AU: the sandbox's regions with a
sales tax, `xero_setup.REGIONS`) and the contracts name its TaxTypes; Xero has no Canadian
region here, and its US organisations charge no tax on a line.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

from connector.adapters.xero.auth import connect_xero
from connector.adapters.xero.session import XeroSettings
from connector.config import Config
from connector.credentials import TokenStore
from connector.demo import Locale
from connector.errors import UserError
from connector_sandbox.demo_stage import SandboxStage, follow_consent
from connector_sandbox.xero import (
    CLIENT_ID,
    CLIENT_SECRET,
    DEFAULT_TENANT,
    Observer,
    XeroSandbox,
)

# Each region's organisation as the demo bills it: TaxTypes of `xero_setup.REGIONS`.
LOCALES = {
    "GB": Locale(
        "a UK organisation, VAT",
        "GBP",
        "Europe/London",
        'tax_code = "OUTPUT2"             # 20% (VAT on Income)',
        'tax_code = "ZERORATEDOUTPUT"     # Zero Rated Income',
    ),
    "AU": Locale(
        "an Australian organisation, GST",
        "AUD",
        "Australia/Sydney",
        'tax_code = "OUTPUT"              # GST on Income, 10%',
        'tax_code = "EXEMPTEXPORT"        # GST Free Exports',
    ),
}


class XeroDemoLedger(SandboxStage[XeroSandbox]):
    label = "Xero"
    # sees every API exchange of the demo's sandbox (the test suite checks them against
    # Xero's OpenAPI description); None outside tests
    observer: Observer | None = None

    def __init__(self, country: str | None = None, port: int = 0) -> None:
        if country is not None and country not in LOCALES:
            raise UserError(
                f"--country {country}: the Xero sandbox has organisations of "
                f"{' and '.join(LOCALES)} with a sales tax; use one of them, or --ledger "
                "quickbooks"
            )
        self.sandbox = XeroSandbox(port=port)
        self.sandbox.observer = type(self).observer
        self.country = country
        self.locale = None if country is None else LOCALES[country]

    def seed(self) -> None:
        if self.locale is None:
            self.sandbox.seed_organisation(
                DEFAULT_TENANT, name="Northwind Studio (demo)", currencies=["EUR"]
            )
            return
        self.sandbox.seed_organisation(
            DEFAULT_TENANT,
            name=f"Northwind Studio (demo, {self.country})",
            base_currency=self.locale.currency,
            currencies=["EUR"],
            country=str(self.country),
        )

    def ledger_section(self) -> str:
        return "\n".join(
            [
                "[ledger]",
                'kind = "xero"',
                f'api_url = "{self.sandbox.api_url}"  # the local Xero sandbox',
                f'identity_url = "{self.sandbox.identity_url}"           # its sign-in',
                "retry_first_wait = 0.1",
                "retry_max_wait = 1.0",
            ]
        )

    def about(self) -> list[str]:
        """What `connector sandbox xero` tells the person who started it."""
        return [
            f"Xero sandbox on {self.url}: one organisation (USD, EUR subscribed, an item Services)",
            # the sandbox's own fixed test credentials, nobody's secret: `connector auth` asks
            f"  client id / secret for `connector auth xero`: {CLIENT_ID} / {CLIENT_SECRET}",
            f"  tenant id: {DEFAULT_TENANT}",
            "  admin: POST /admin/organisations, GET /admin/organisations/<tenant>",
        ]

    def connect(self, cfg: Config, show: Callable[[str], None]) -> None:
        settings = cfg.ledger_settings
        assert isinstance(settings, XeroSettings)
        connect_xero(
            settings,
            TokenStore(cfg.business.name, "xero"),
            CLIENT_ID,
            CLIENT_SECRET,
            lambda url: show("Connecting to Xero through OAuth..."),
            follow_consent,
        )

    def invoices(self) -> dict[str, tuple[str, Decimal]]:
        """Our reference -> (Xero's InvoiceID, total)."""
        return {
            doc["Reference"]: (doc["InvoiceID"], doc["Total"])
            for doc in self.sandbox.invoices(DEFAULT_TENANT)
        }

    def pay(self, invoice_id: str, amount: Decimal, on: date) -> None:
        self.sandbox.record_payment(DEFAULT_TENANT, invoice_id, str(amount), on)
