"""What the config asks of the books, compared with what the company has, before any push."""

from __future__ import annotations

from connector.adapters.base import Booking, LedgerProfile
from connector.sync.preflight import ContractBooking, problems

CANADA = LedgerProfile(
    country="CA",
    home_currency="CAD",
    multicurrency=True,
    currencies=("CAD", "USD"),
    needs_tax_code=True,
    tax_codes=("HST ON", "GST", "Exempt"),
    classes=("Renovation", "New build"),
    locations=None,
)
XERO_UK = LedgerProfile(
    country="GB",
    home_currency="GBP",
    multicurrency=False,
    tracking=(("Region", ("North", "South")), ("Project", ("Alpha",))),
)


def contract(currency: str = "CAD", **booking: object) -> ContractBooking:
    return ContractBooking("ACME-1", currency, Booking(**booking))  # type: ignore[arg-type]


def test_a_right_booking_has_no_problem() -> None:
    assert problems(CANADA, [contract(tax_code="hst on", class_name="Renovation")]) == []
    assert problems(XERO_UK, [contract("GBP", tracking=(("region", "north"),))]) == []


def test_a_missing_tax_code_lists_the_codes_the_company_has() -> None:
    assert problems(CANADA, [contract()]) == [
        "contract ACME-1 has no tax_code, and every line in this company (CA) needs one: set "
        'tax_code in [billing] or on the contract to one of "Exempt", "GST", "HST ON"'
    ]


def test_a_wrong_tax_code_and_a_us_only_setting_are_each_one_sentence() -> None:
    wrong = problems(CANADA, [contract(tax_code="VAT 20")])
    assert wrong == [
        'contract ACME-1: tax_code "VAT 20" is not one of the company\'s active tax codes: '
        '"Exempt", "GST", "HST ON"'
    ]
    us_only = problems(CANADA, [contract(taxable=True)])
    assert len(us_only) == 1 and "taxable = true/false is for US" in us_only[0]


def test_currency_the_company_cannot_invoice_in() -> None:
    off = problems(XERO_UK, [contract("EUR")])
    assert off == [
        "contract ACME-1 bills in EUR, but the company's home currency is GBP and "
        "multicurrency is off: turn multicurrency on in the ledger's settings, or bill this "
        "contract in GBP"
    ]
    missing = problems(CANADA, [contract("EUR", tax_code="GST")])
    assert missing == [
        "contract ACME-1 bills in EUR, which the company does not use: add it to the ledger's "
        'currencies (it has "CAD", "USD")'
    ]


def test_classes_and_locations_off_or_unknown() -> None:
    found = problems(CANADA, [contract(tax_code="GST", class_name="Roofing", location="East")])
    assert found == [
        'contract ACME-1: class "Roofing" is not in the company\'s list: "New build", "Renovation"',
        'contract ACME-1 sets location = "East", but location tracking is off in the company: '
        "turn it on in the ledger's settings, or remove location",
    ]


def test_tracking_unknown_category_or_option_and_too_many() -> None:
    found = problems(XERO_UK, [contract("GBP", tracking=(("Region", "West"), ("Team", "Blue")))])
    assert found == [
        'contract ACME-1: "West" is not an active option of tracking category "Region" (it '
        'has "North", "South")',
        'contract ACME-1: tracking category "Team" does not exist in the ledger (it has '
        '"Project", "Region")',
    ]
    three = (("Region", "North"), ("Project", "Alpha"), ("Team", "Blue"))
    assert problems(XERO_UK, [contract("GBP", tracking=three)]) == [
        "contract ACME-1 names 3 tracking categories; the ledger takes at most 2 on a line"
    ]
