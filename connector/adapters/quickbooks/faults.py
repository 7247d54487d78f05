"""A QuickBooks `Fault` that arrives inside an answer (one batch item's), read the way
`session.classify` reads the SDK's exceptions.

A batch answers 200 with each item's own Fault, so python-quickbooks raises nothing for them;
this module gives them the same codes, words and error classes as a failed single request.
"""

from __future__ import annotations

from typing import Any

from quickbooks.exceptions import QuickbooksException

from connector.adapters.quickbooks.session import classify


def fault_code(fault: dict[str, Any]) -> int:
    """The first error's code, 0 when it has none or it is not a number."""
    errors = fault.get("Error") or [{}]
    try:
        return int(errors[0].get("code", 0))
    except (TypeError, ValueError):
        return 0


def fault_text(fault: dict[str, Any]) -> str:
    """QuickBooks' own words for the first error: message (code): detail."""
    errors = fault.get("Error") or [{}]
    e = errors[0]
    return f"{e.get('Message', 'error')} ({e.get('code', '?')}): {e.get('Detail', '')}".strip()


def classify_fault(fault: dict[str, Any]) -> Exception:
    """The connector's error for a Fault body, as if the SDK had raised it."""
    errors = fault.get("Error") or [{}]
    return classify(
        QuickbooksException(
            errors[0].get("Message", ""), fault_code(fault), errors[0].get("Detail", "")
        )
    )
