"""One QuickBooks company (realm): what it holds and the operations the v3 API runs on it.

Objects are kept in their wire form (Decimal amounts) with Id, SyncToken and MetaData. Payments
are applied through an application table, so an invoice's Balance is always TotalAmt - Deposit -
what is applied to it, and a change of Balance bumps the invoice's SyncToken and LastUpdatedTime
(which is how CDC sees a payment land). Timestamps have whole-second resolution, as QuickBooks'
MetaData does. The caller holds `lock` around every operation.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from connector_sandbox import quickbooks_tax as tax
from connector_sandbox.quickbooks_applications import Applications
from connector_sandbox.quickbooks_entities import (
    build_customer,
    build_item,
    build_payment,
    reject_unknown,
)
from connector_sandbox.quickbooks_faults import (
    QboFault,
    business,
    duplicate_name,
    not_found,
    required,
    stale,
    text,
)
from connector_sandbox.quickbooks_lists import build_named
from connector_sandbox.quickbooks_query import QueryError, parse, run
from connector_sandbox.quickbooks_sales import build_sales_txn
from connector_sandbox.quickbooks_schema import (
    ENTITIES,
    FILTERABLE,
    QUERYABLE,
    READ_ONLY,
    READ_ONLY_ENTITIES,
    TXNS,
)
from connector_sandbox.quickbooks_settings import CompanySettings, company_info, preferences
from connector_sandbox.server import Clock, Response

_PLURAL = {"Class": "classes", "ExchangeRate": "exchangerates"}


class Company(Applications):
    def __init__(self, settings: CompanySettings, clock: Clock):
        self.settings = settings
        self.lock = threading.RLock()
        self._clock = clock
        self._tz = ZoneInfo(settings.timezone)
        self.objects: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in ENTITIES}
        self._updated: dict[tuple[str, str], datetime] = {}
        self._deleted: dict[tuple[str, str], datetime] = {}
        self._applications: dict[str, list[tuple[str, str, Decimal]]] = {}
        self._ids = {name: 0 for name in ENTITIES if name not in TXNS}
        self._ids["txn"] = 0
        self._replies: dict[str, Response] = {}
        self.sent: list[dict[str, Any]] = []

    # --- helpers the builders use ---

    def now(self) -> datetime:
        return self._clock.now().replace(microsecond=0)

    def today(self) -> date:
        return self._clock.now().astimezone(self._tz).date()

    def stamp(self, moment: datetime) -> str:
        """MetaData times: whole seconds, in the company's time zone, as QuickBooks shows them."""
        return moment.astimezone(self._tz).isoformat(timespec="seconds")

    def check_unique_name(self, entity: str, name: str, own_id: str | None, kind: str) -> None:
        """Names are unique per list, ignoring case (U: QuickBooks also checks vendors and
        employees, which this sandbox does not hold)."""
        field_name = "DisplayName" if entity == "Customer" else "Name"
        for other_id, other in self.objects[entity].items():
            if other_id != own_id and str(other[field_name]).casefold() == name.casefold():
                raise duplicate_name(kind)

    def custom_fields(self, sent: Any) -> list[dict[str, Any]]:
        """Values for the custom fields the company defines; others are dropped, as QuickBooks
        cannot create definitions through the API."""
        given = {
            str(f.get("DefinitionId")): text(f.get("StringValue"))
            for f in sent or []
            if isinstance(f, Mapping)
        }
        out = []
        for number, name in enumerate(self.settings.custom_fields, start=1):
            entry: dict[str, Any] = {
                "DefinitionId": str(number),
                "Name": name,
                "Type": "StringType",
            }
            if given.get(str(number)):
                entry["StringValue"] = given[str(number)]
            out.append(entry)
        return out

    def next_doc_number(self, kind: str) -> str:
        numbers = [
            int(o["DocNumber"])
            for o in self.objects[kind].values()
            if str(o.get("DocNumber", "")).isdigit()
        ]
        return str(max([1000, *numbers]) + 1)

    def set_customer_email(self, display_name: str, email: str) -> dict[str, Any]:
        """The admin side of a bookkeeper typing a customer's email: a sparse update."""
        found = [
            c
            for c in self.objects["Customer"].values()
            if str(c["DisplayName"]).casefold() == display_name.casefold()
        ]
        if not found:
            raise ValueError(f"no customer named {display_name!r}")
        body = {"Id": found[0]["Id"], "SyncToken": found[0]["SyncToken"], "sparse": True}
        return self.update("Customer", {**body, "PrimaryEmailAddr": {"Address": email}})

    def has_transactions(self, customer_id: str) -> bool:
        return any(
            o["CustomerRef"]["value"] == customer_id
            for kind in TXNS
            for o in self.objects[kind].values()
        )

    # --- the v3 operations ---

    def read(self, entity: str, obj_id: str) -> dict[str, Any]:
        obj = self.objects[entity].get(obj_id)
        if obj is None:
            raise not_found(f"{entity} {obj_id}")
        return self.present(entity, obj)

    def create(
        self, entity: str, body: Mapping[str, Any], obj_id: str | None = None
    ) -> dict[str, Any]:
        """A new object; `obj_id` only when the sandbox seeds one with a fixed Id (the US
        pseudo tax codes TAX and NON)."""
        fields, applications = self._build(entity, body, None)
        new_id = obj_id or self._next_id(entity)
        now = self.now()
        obj = {
            "domain": "QBO",
            "sparse": False,
            "Id": new_id,
            "SyncToken": "0",
            "MetaData": {"CreateTime": self.stamp(now), "LastUpdatedTime": self.stamp(now)},
            **fields,
        }
        self.objects[entity][new_id] = obj
        self._updated[(entity, new_id)] = now
        self._settle(entity, new_id, applications)
        return self.present(entity, obj)

    def update(self, entity: str, body: Mapping[str, Any]) -> dict[str, Any]:
        current = self._current(entity, body)
        if entity in READ_ONLY_ENTITIES:
            raise reject_unknown(f"update on {entity}")
        if body.get("sparse") is True:
            # the stored tax detail is not sent again: it is recomputed unless the body has one
            merged = {
                k: v for k, v in current.items() if k not in READ_ONLY and k != "TxnTaxDetail"
            }
            merged.update({k: v for k, v in body.items() if k not in READ_ONLY})
        else:
            merged = dict(body)
        fields, applications = self._build(entity, merged, current["Id"])
        if entity in ("Invoice", "CreditMemo"):
            applied = self._applied_to(entity, current["Id"])
            if fields["TotalAmt"] - fields.get("Deposit", Decimal(0)) < applied:
                raise business(
                    f"The new total of {entity} {current['Id']} is less than the {applied} "
                    "applied to it"
                )
        keep = {k: current[k] for k in ("domain", "sparse", "Id", "SyncToken", "MetaData")}
        self.objects[entity][current["Id"]] = {**keep, **fields}
        self._touch(entity, current["Id"])
        self._settle(entity, current["Id"], applications)
        return self.present(entity, self.objects[entity][current["Id"]])

    def delete(self, entity: str, body: Mapping[str, Any]) -> dict[str, Any]:
        if entity not in TXNS:
            raise reject_unknown(f"delete on {entity}")
        current = self._current(entity, body)
        obj_id = current["Id"]
        if entity != "Payment" and self._payments_applying(entity, obj_id):
            raise business(f"{entity} {obj_id} has payments linked to it; unlink them first")
        self._unapply(obj_id)
        del self.objects[entity][obj_id]
        self._updated.pop((entity, obj_id), None)
        self._deleted[(entity, obj_id)] = self.now()
        return {"status": "Deleted", "domain": "QBO", "Id": obj_id}

    def void(self, entity: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Void keeps the record with every amount zeroed and "Voided" in its PrivateNote;
        payments applied to a voided invoice go back to being unapplied credit."""
        if entity not in ("Invoice", "Payment"):
            raise reject_unknown(f"void on {entity}")
        current = self._current(entity, body)
        obj_id = current["Id"]
        if entity == "Invoice":
            for pid in self._payments_applying(entity, obj_id):
                self._applications[pid] = [a for a in self._applications[pid] if a[1] != obj_id]
                self._refresh_payment(pid)
            for line in current["Line"]:
                line["Amount"] = Decimal(0)
                detail = line.get("SalesItemLineDetail")
                if detail is not None:
                    detail.pop("UnitPrice", None)
                    detail["Qty"] = Decimal(0)
            current.update(TotalAmt=Decimal(0), Deposit=Decimal(0))
            current["TxnTaxDetail"] = tax.zero(current.get("TxnTaxDetail") or {})
            if "HomeTotalAmt" in current:
                current["HomeTotalAmt"] = Decimal(0)
            self._refresh_balance(entity, obj_id, touch=False)
        else:
            self._unapply(obj_id)
            current.update(TotalAmt=Decimal(0), UnappliedAmt=Decimal(0), Line=[])
        note = current.get("PrivateNote")
        current["PrivateNote"] = f"Voided - {note}" if note else "Voided"
        self._touch(entity, obj_id)
        return self.present(entity, current)

    def query(self, statement: str) -> dict[str, Any]:
        try:
            query = parse(statement)
            entity = next((e for e in QUERYABLE if e.lower() == query.entity.lower()), None)
            if entity is None:
                raise QueryError("4001", f"QueryValidationError: Unsupported entity {query.entity}")
            page, total = run(query, self._rows(entity), FILTERABLE[entity])
        except QueryError as e:
            message = "Error parsing query" if e.code == "4000" else "Invalid query"
            raise QboFault(e.code, message, e.detail) from None
        if query.count:
            return {"totalCount": total}
        if not page:
            return {}
        return {entity: page, "startPosition": query.start, "maxResults": len(page)}

    def _rows(self, entity: str) -> list[dict[str, Any]]:
        if entity == "CompanyInfo":
            return [company_info(self.settings)]
        if entity == "Preferences":
            return [preferences(self.settings)]
        return [self.present(entity, o) for o in self._sorted(entity)]

    def changed_since(self, entity: str, since: datetime) -> list[dict[str, Any]]:
        """What CDC returns for one entity: objects changed at or after `since`, oldest first,
        then the ones deleted since, as QuickBooks' bare "Deleted" stubs."""
        live = sorted((m, i) for (e, i), m in self._updated.items() if e == entity and m >= since)
        gone = sorted((m, i) for (e, i), m in self._deleted.items() if e == entity and m >= since)
        found = [self.present(entity, self.objects[entity][i]) for _, i in live]
        for moment, obj_id in gone:
            found.append(
                {
                    "status": "Deleted",
                    "domain": "QBO",
                    "Id": obj_id,
                    "MetaData": {"LastUpdatedTime": self.stamp(moment)},
                }
            )
        return found

    # --- requestid replay ---

    def replay(self, request_id: str) -> Response | None:
        return self._replies.get(request_id)

    def remember(self, request_id: str, response: Response) -> None:
        self._replies[request_id] = response

    def forget_request_ids(self) -> None:
        """As if the (undocumented) requestid retention window had passed."""
        self._replies.clear()

    # --- admin views ---

    def snapshot(self) -> dict[str, Any]:
        return {
            "realm_id": self.settings.realm_id,
            "currency": self.settings.currency,
            **{
                _PLURAL.get(e, f"{e.lower()}s"): [self.present(e, o) for o in self._sorted(e)]
                for e in ENTITIES
            },
            "sent_emails": [dict(s) for s in self.sent],
        }

    def present(self, entity: str, obj: Mapping[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(dict(obj))
        if entity == "Customer":
            balance = sum(
                (
                    inv["Balance"]
                    for inv in self.objects["Invoice"].values()
                    if inv["CustomerRef"]["value"] == obj["Id"]
                ),
                Decimal(0),
            )
            out["Balance"] = out["BalanceWithJobs"] = balance
        return out

    # --- internals ---

    def _next_id(self, entity: str) -> str:
        key = "txn" if entity in TXNS else entity
        self._ids[key] += 1
        return str(self._ids[key])

    def _sorted(self, entity: str) -> list[dict[str, Any]]:
        keys = sorted(
            self.objects[entity], key=lambda k: (0, int(k), "") if k.isdigit() else (1, 0, k)
        )
        return [self.objects[entity][k] for k in keys]

    def _build(
        self, entity: str, body: Mapping[str, Any], own_id: str | None
    ) -> tuple[dict[str, Any], list[tuple[str, str, Decimal]]]:
        if entity == "Payment":
            return build_payment(self, body, own_id)
        if entity in ("Invoice", "CreditMemo"):
            return build_sales_txn(self, entity, body, own_id), []
        if entity in ("Class", "Department"):
            return build_named(self, entity, body, own_id), []
        if entity in READ_ONLY_ENTITIES:  # only the sandbox's own seeding gets here
            return {k: v for k, v in body.items() if k != "Id"}, []
        if entity not in ("Customer", "Item"):
            raise reject_unknown(f"create on {entity}")
        build = build_customer if entity == "Customer" else build_item
        return build(self, body, own_id), []

    def _current(self, entity: str, body: Mapping[str, Any]) -> dict[str, Any]:
        obj_id = text(body.get("Id"))
        if obj_id is None:
            raise required("Id")
        current = self.objects[entity].get(obj_id)
        if current is None:
            raise not_found(f"{entity} {obj_id}")
        token = body.get("SyncToken")
        if token is None or token == "":
            raise required("SyncToken")
        if str(token) != current["SyncToken"]:
            raise stale()
        return current

    def touch(self, entity: str, obj_id: str) -> None:
        """A change the API made itself (a send): new SyncToken and LastUpdatedTime."""
        self._touch(entity, obj_id)

    def _touch(self, entity: str, obj_id: str) -> None:
        obj = self.objects[entity][obj_id]
        now = self.now()
        obj["SyncToken"] = str(int(obj["SyncToken"]) + 1)
        obj["MetaData"] = {**obj["MetaData"], "LastUpdatedTime": self.stamp(now)}
        self._updated[(entity, obj_id)] = now
