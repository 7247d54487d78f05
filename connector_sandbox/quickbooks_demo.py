"""The QuickBooks side of `connector demo`: a sandbox company the example business connects to
through the real OAuth code flow, and the customer payments the story records in it.

With a country, the company is one of that country (`seed_company(country=...)`) with the tax
codes the sandbox gives it (`quickbooks_tax.STANDARD_CODES`): the example's contracts name
one of them, as a business there must (QuickBooks answers 6000 for a line without one outside
the US), and the client abroad gets the zero-rated one. A US company has Automated Sales Tax
on and taxable lines, so QuickBooks computes the tax itself.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

from connector.adapters.quickbooks.auth import connect_quickbooks
from connector.adapters.quickbooks.session import QuickBooksSettings
from connector.config import Config
from connector.credentials import TokenStore
from connector.demo import Locale
from connector_sandbox.demo_stage import SandboxStage, follow_consent
from connector_sandbox.quickbooks import CLIENT_ID, CLIENT_SECRET, DEFAULT_REALM, QuickBooksSandbox
from connector_sandbox.quickbooks_tax import STANDARD_CODES

# Each country's company as the demo bills it: codes by their names in STANDARD_CODES.
LOCALES = {
    "US": Locale(
        "a US company with Automated Sales Tax",
        "USD",
        "America/Chicago",
        "taxable = true                   # US: lines taxable; Automated Sales Tax computes it",
        "taxable = false",
    ),
    "CA": Locale(
        "a Canadian company, GST/HST",
        "CAD",
        "America/Toronto",
        'tax_code = "HST ON"              # Ontario HST, 13%',
        'tax_code = "Zero-rated"          # an export of services',
    ),
    "GB": Locale(
        "a UK company, VAT",
        "GBP",
        "Europe/London",
        'tax_code = "20.0% S"             # standard-rated VAT',
        'tax_code = "0.0% Z"',
    ),
    "AU": Locale(
        "an Australian company, GST",
        "AUD",
        "Australia/Sydney",
        'tax_code = "GST"                 # 10%',
        'tax_code = "GST free"            # an export',
    ),
}
# A rate of the day for the EUR client (home units per euro), so the books show a real one.
EUR_RATES = {"US": "1.08", "CA": "1.47", "GB": "0.85", "AU": "1.62"}


class QuickBooksDemoLedger(SandboxStage[QuickBooksSandbox]):
    label = "QuickBooks"

    def __init__(self, country: str | None = None, port: int = 0) -> None:
        self.sandbox = QuickBooksSandbox(port=port)
        self.country = country
        self.locale = None if country is None else LOCALES[country]

    def seed(self) -> None:
        if self.country is None:
            self.sandbox.seed_company(
                DEFAULT_REALM, currencies=["EUR"], company_name="Northwind Studio (demo)"
            )
            return
        assert self.country == "US" or STANDARD_CODES[self.country], self.country
        self.sandbox.seed_company(
            DEFAULT_REALM,
            country=self.country,
            currencies=["EUR"],
            exchange_rates={"EUR": EUR_RATES[self.country]},
            automated_sales_tax=self.country == "US",
            company_name=f"Northwind Studio (demo, {self.country})",
        )

    def ledger_section(self) -> str:
        return "\n".join(
            [
                "[ledger]",
                'kind = "quickbooks"',
                'environment = "sandbox"',
                f'api_url = "{self.sandbox.api_url}"              # the local QuickBooks sandbox',
                f'discovery_url = "{self.sandbox.discovery_url}"  # its OAuth sign-in',
                "retry_first_wait = 0.1",
            ]
        )

    def about(self) -> list[str]:
        """What `connector sandbox quickbooks` tells the person who started it."""
        return [
            f"QuickBooks sandbox on {self.url}: one company (USD, multicurrency with EUR, "
            "an item Services)",
            # the sandbox's own fixed test credentials, nobody's secret: `connector auth` asks
            f"  client id / secret for `connector auth quickbooks`: {CLIENT_ID} / {CLIENT_SECRET}",
            f"  realm id: {DEFAULT_REALM}",
            "  admin: POST /admin/companies, GET /admin/companies/<realm>",
        ]

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
