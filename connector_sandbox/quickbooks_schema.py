"""The shape of the QuickBooks v3 entities the sandbox holds: their names, what a query may
filter on, and the fields a client may send but never sets (QuickBooks computes them)."""

from __future__ import annotations

ENTITIES = (
    "Customer",
    "Item",
    "Invoice",
    "CreditMemo",
    "Payment",
    "TaxCode",
    "TaxRate",
    "Class",
    "Department",
    "ExchangeRate",
)
RESOURCES = {name.lower(): name for name in ENTITIES}
TXNS = ("Invoice", "CreditMemo", "Payment")
# TaxCode and TaxRate are made by the TaxService endpoint, never by a create on the entity
# (Intuit, TaxCode and TaxRate entity references: "Use the TaxService endpoint to create"), and
# CDC does not return them (ChangeDataCapture reference: all objects "except JournalCode,
# TimeActivity, TaxAgency, TaxCode, and TaxRate").
READ_ONLY_ENTITIES = ("TaxCode", "TaxRate")
NOT_IN_CDC = ("TaxCode", "TaxRate", "ExchangeRate")
# the company's own records answer queries too (`select * from CompanyInfo`, `... Preferences`)
QUERYABLE = (*ENTITIES, "CompanyInfo", "Preferences")
_META = ("Id", "MetaData.CreateTime", "MetaData.LastUpdatedTime")
FILTERABLE: dict[str, tuple[str, ...]] = {
    "Customer": (
        *_META,
        "DisplayName",
        "GivenName",
        "FamilyName",
        "CompanyName",
        "Active",
        "Balance",
        "PrimaryEmailAddr",
    ),
    "Item": (*_META, "Name", "Type", "Active", "Sku"),
    "Invoice": (*_META, "DocNumber", "TxnDate", "DueDate", "CustomerRef", "Balance", "TotalAmt"),
    "CreditMemo": (*_META, "DocNumber", "TxnDate", "CustomerRef", "Balance", "TotalAmt"),
    "Payment": (*_META, "TxnDate", "CustomerRef", "TotalAmt", "PaymentRefNum"),
    "TaxCode": (*_META, "Name", "Active", "Taxable", "TaxGroup"),
    "TaxRate": (*_META, "Name", "Active", "RateValue"),
    "Class": (*_META, "Name", "Active", "FullyQualifiedName", "SubClass"),
    "Department": (*_META, "Name", "Active", "FullyQualifiedName", "SubDepartment"),
    # ExchangeRate reference: SourceCurrencyCode and AsOfDate are the filterable fields
    "ExchangeRate": ("SourceCurrencyCode", "AsOfDate", "MetaData.LastUpdatedTime"),
    "CompanyInfo": ("Id",),
    "Preferences": ("Id",),
}
READ_ONLY = frozenset(
    {
        "Id",
        "SyncToken",
        "MetaData",
        "domain",
        "sparse",
        "TotalAmt",
        "Balance",
        "HomeTotalAmt",
        "HomeBalance",
        "UnappliedAmt",
        "RemainingCredit",
        "FullyQualifiedName",
        "LinkedTxn",
        "status",
    }
)
