"""The organisation's books as the adapter needs them: its tax rates, its tracking categories,
and the `LedgerProfile` that `connector doctor` and the preflight compare the config with.

Each list is read only when something needs it, and kept per organisation in the process for
`SETUP_LIFETIME` (the QuickBooks adapter's reasons, `quickbooks.setup`): a daemon syncing many
businesses of one organisation reads its settings once, not four calls a business against its
60 a minute. A booking the organisation cannot take is a `BookingRefused`, raised before anything
is sent: Xero refuses an unknown TaxType itself, but it drops tracking it cannot match without a
word (bookkeeper-needs.md 1f: calcinai/xero-php#636, XeroAPI/xero-node#86), so tracking is
checked here, against the list as read within that lifetime. Names compare without regard to
case or surrounding spaces.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from enum import Enum
from typing import Any

from xero_python.accounting import LineItemTracking

from connector.adapters.base import LedgerProfile, ProfileNeeds
from connector.adapters.cache import TimedCache
from connector.adapters.xero.session import XeroSession
from connector.errors import SkippableLedgerError

MAX_TRACKING = 2  # xero_accounting.yaml, LineItem.Tracking: "a maximum of 2"
SETUP_LIFETIME = timedelta(minutes=30)
# (API address, tenant, what) -> the SDK's answer, read whole; never changed once kept
_KEPT: TimedCache[tuple[str, str, str], Any] = TimedCache(SETUP_LIFETIME, most=5000)


class BookingRefused(SkippableLedgerError):
    """A tax code or tracking option this organisation does not have; nothing was sent."""


def text(value: Any) -> str:
    """An SDK enum or string as the text Xero sent."""
    if isinstance(value, Enum):
        return str(value.value)
    return "" if value is None else str(value)


def _folded(value: str | None) -> str:
    return (value or "").strip().casefold()


def _active(status: Any) -> bool:
    return text(status) in ("", "ACTIVE")


class OrgBooks:
    """The session's organisation, its tax rates and tracking categories, its currencies:
    each read when first needed, from this process's copy while it is fresh."""

    def __init__(self, session: XeroSession):
        self.session = session

    def _kept(self, what: str, read: Callable[[], Any]) -> Any:
        key = (self.session.settings.api_url, self.session.tenant(), what)
        found = _KEPT.get(key)
        if found is None:
            found = read()
            _KEPT.put(key, found)
        return found

    def organisation(self) -> Any:
        """The organisation as Xero has it now (kept in the process for a while); what it is
        (name, base currency, country) is also kept with the connection, for later runs."""

        def read() -> Any:
            answer = self.session.call(lambda api, t: api.get_organisations(t))
            return self.session.only(answer.organisations, "the organisation")

        org = self._kept("Organisation", read)
        home = text(org.base_currency)
        if home:  # kept too when another business of the organisation read it in this process
            self.session.remember_company(text(org.name), home, text(org.country_code))
        return org

    def currencies(self) -> list[Any]:
        def read() -> list[Any]:
            found = self.session.call(lambda api, t: api.get_currencies(t)).currencies or []
            self.session.take_unreadable()
            return list(found)

        found: list[Any] = self._kept("Currencies", read)
        return found

    def tax_rates(self) -> list[Any]:
        """The active rates a sales line can use."""

        def read() -> list[Any]:
            rates = self.session.call(lambda api, t: api.get_tax_rates(t)).tax_rates or []
            self.session.take_unreadable()  # a rate that cannot be read is not offered
            return [r for r in rates if _active(r.status) and r.tax_type]

        found: list[Any] = self._kept("TaxRates", read)
        return found

    def tracking_categories(self) -> list[Any]:
        """The active categories, each with its active options only."""

        def read() -> list[Any]:
            answer = self.session.call(lambda api, t: api.get_tracking_categories(t))
            self.session.take_unreadable()
            found = [c for c in answer.tracking_categories or [] if _active(c.status)]
            for category in found:
                category.options = [o for o in category.options or [] if _active(o.status)]
            return found

        found: list[Any] = self._kept("TrackingCategories", read)
        return found

    # -- tax ---------------------------------------------------------------------------------

    def tax_type(self, code: str) -> str:
        """The TaxType for `code`: a TaxType itself, or a rate's name as the organisation shows
        it ("20% (VAT on Income)"), which Xero would refuse as a TaxType (XeroAPI/Xero-Java#336)."""
        wanted = _folded(code)
        rates = self.tax_rates()
        found = next((r for r in rates if _folded(r.tax_type) == wanted), None)
        found = found or next((r for r in rates if _folded(r.name) == wanted), None)
        if found is None:
            raise BookingRefused(
                f'tax code "{code}" is not one of this Xero organisation\'s tax rates; it has '
                f"{_rates_listed(rates)}"
            )
        if found.can_apply_to_revenue is False:
            raise BookingRefused(
                f'tax code "{code}" ({found.name}) is for purchases and cannot be used on a '
                f"sales invoice; use one of {_rates_listed(rates)}"
            )
        return str(found.tax_type)

    # -- tracking ----------------------------------------------------------------------------

    def tracking(self, pairs: Sequence[tuple[str, str]]) -> list[LineItemTracking] | None:
        """Tracking for every line of a document: each (category, option) must be active in the
        organisation, at most two, each category once."""
        if not pairs:
            return None
        if len(pairs) > MAX_TRACKING:
            raise BookingRefused(
                f"{len(pairs)} tracking categories are asked for; Xero takes at most "
                f"{MAX_TRACKING} on a line"
            )
        if len({_folded(c) for c, _ in pairs}) < len(pairs):
            raise BookingRefused("a tracking category is named twice; a line takes one option each")
        return [self._one(category, option) for category, option in pairs]

    def _one(self, category: str, option: str) -> LineItemTracking:
        categories = self.tracking_categories()
        found = next((c for c in categories if _folded(c.name) == _folded(category)), None)
        if found is None:
            raise BookingRefused(
                f'tracking category "{category}" does not exist in this Xero organisation (it '
                f"has {_listed(c.name for c in categories)}); Xero would drop it without a word"
            )
        chosen = next((o for o in found.options if _folded(o.name) == _folded(option)), None)
        if chosen is None:
            raise BookingRefused(
                f'"{option}" is not an active option of tracking category "{found.name}" (it '
                f"has {_listed(o.name for o in found.options)}); Xero would drop it without a "
                "word"
            )
        return LineItemTracking(
            tracking_category_id=found.tracking_category_id,
            tracking_option_id=chosen.tracking_option_id,
            name=found.name,
            option=chosen.name,
        )

    # -- profile -----------------------------------------------------------------------------

    def profile(self, needs: ProfileNeeds | None = None) -> LedgerProfile:
        """What the organisation is set up with, from four reads (none while they are kept);
        for `needs`, the organisation alone (not even that once the connection knows its base
        currency), and its currencies, tax rates and tracking only where a contract bills in
        another currency or a booking names a tax code or tracking."""
        known = self.session.known_company() if needs is not None else None
        other: tuple[tuple[str, str], ...] = ()
        if known is not None and known.home_currency:  # all the checks of bookings ask of it
            home, country = known.home_currency, known.country
        else:
            org = self.organisation()
            home, country, other = text(org.base_currency), text(org.country_code), _settings(org)
        foreign = needs is None or any(c != home for c in needs.currencies)
        currencies = self.currencies() if foreign else []
        codes = tuple(sorted({text(c.code) for c in currencies if c.code} | {home}))
        rates = self.tax_rates() if needs is None or needs.tax_codes else []
        sales = [r for r in rates if r.can_apply_to_revenue is not False]
        categories = self.tracking_categories() if needs is None or needs.tracking else []
        return LedgerProfile(
            country=country or None,
            home_currency=home,
            multicurrency=len(codes) > 1,
            currencies=codes,
            tax_codes=tuple(v for r in sales for v in (str(r.tax_type), str(r.name)) if v),
            tracking=tuple(
                (str(c.name), tuple(str(o.name) for o in c.options)) for c in categories
            ),
            other=other,
        )


def _settings(org: Any) -> tuple[tuple[str, str], ...]:
    """The organisation settings worth showing as they are."""
    shown = [
        ("organisation", text(org.name)),
        ("edition", text(org.version)),
        ("registered for tax", {True: "yes", False: "no"}.get(org.pays_tax, "")),
        ("default amounts on sales (LineAmountTypes)", text(org.default_sales_tax)),
        ("sales tax basis", text(org.sales_tax_basis)),
        ("sales tax period", text(org.sales_tax_period)),
        ("period lock date", org.period_lock_date.isoformat() if org.period_lock_date else ""),
    ]
    return tuple((k, v) for k, v in shown if v)


def _listed(names: Iterable[Any]) -> str:
    found = sorted((str(n) for n in names), key=str.casefold)
    return ", ".join(f'"{n}"' for n in found) if found else "none"


def _rates_listed(rates: Iterable[Any]) -> str:
    sales = sorted(
        (r for r in rates if r.can_apply_to_revenue is not False), key=lambda r: str(r.tax_type)
    )
    return ", ".join(f"{r.tax_type} ({r.name})" for r in sales) if sales else "none"
