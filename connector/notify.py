"""Tell the bookkeeper what a nightly run did, by email and/or webhook.

A daemon run happens while nobody watches; this is how its outcome reaches a person in the
morning. Sending is best effort: a failed notification is returned as a problem string, never
raised, so it can never turn a good sync into a failed one. The SMTP password lives only in the
OS keyring (service "milestone-connector", user "<business>/smtp"), never in the config, and
no secret ever appears in a message, payload or problem.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import keyring
import requests
from keyring.errors import KeyringError, NoKeyringError
from pydantic import BaseModel, ConfigDict, model_validator

from connector.credentials import SERVICE
from connector.money import fmt

if TYPE_CHECKING:  # the report module imports the config, which imports this one
    from connector.sync.report import SyncReport
    from connector.sync.rows import InvoiceRow

# The webhook's body, JSON at the edge: only `webhook_payload` builds one, for `requests` to send.
Json = dict[str, Any]

SMTP_TIMEOUT = 30.0
WEBHOOK_TIMEOUT = 10.0


class NotifySettings(BaseModel):
    """The `[notify]` config section. Unknown keys are errors, like everywhere in the config."""

    model_config = ConfigDict(extra="forbid")

    email_to: list[str] = []
    email_from: str | None = None
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_username: str | None = None
    webhook_url: str | None = None
    only_when: Literal["activity", "always"] = "activity"

    @model_validator(mode="after")
    def _email_needs_server(self) -> NotifySettings:
        # Caught when the config is checked, not at 3 a.m. when the first email would go out.
        if self.email_to and not (self.smtp_host and self.email_from):
            raise ValueError("email_to needs smtp_host and email_from")
        return self


# -- the SMTP password, in the keyring only -----------------------------------------------------


# The daemon-wide [notify] (`connector run --notify-config`) keeps its SMTP password under this
# name; the parentheses keep it apart from any business's name.
DAEMON_SMTP_KEY = "(daemon)"


def smtp_keyring_user(business: str) -> str:
    return f"{business}/smtp"


def load_smtp_password(business: str) -> str | None:
    """The business's SMTP password from the OS keyring, or None when none is stored."""
    return keyring.get_password(SERVICE, smtp_keyring_user(business))


def save_smtp_password(business: str, password: str) -> None:
    """Store the SMTP password where `send` looks for it (for an auth command, and tests)."""
    keyring.set_password(SERVICE, smtp_keyring_user(business), password)


# -- what to say --------------------------------------------------------------------------------


def should_notify(report: SyncReport, settings: NotifySettings) -> bool:
    """Whether this run is worth a message: a quiet night stays quiet unless asked otherwise."""
    if not (settings.email_to or settings.webhook_url):
        return False
    if settings.only_when == "always":
        return True
    return bool(
        report.created
        or report.voided
        or report.payments_pulled
        or report.resolved
        or report.problems()
    )


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _number(row: InvoiceRow, number: str | None) -> str:
    return number or row.number or row.reference


def _invoice_json(row: InvoiceRow, number: str | None) -> Json:
    """One invoice as the webhook sends it: JSON-safe, amounts as text."""
    return {
        "number": _number(row, number),
        # lines that net below zero went to the ledger as a credit note, for -total
        "document": "credit_note" if row.is_credit_note else "invoice",
        "contract": row.contract,
        "customer": row.customer,
        "kind": str(row.kind),
        "milestones": list(row.milestones),
        "currency": row.currency,
        "total": fmt(row.total),
        "date": row.invoice_date.isoformat(),
        "due_date": row.due_date.isoformat(),
    }


def subject(report: SyncReport) -> str:
    """One line a bookkeeper can triage from the inbox list."""
    if report.outcome == "failed":
        return f"{report.business}: sync FAILED"
    parts = ["stopped early, the next run goes on"] if report.outcome == "stopped" else []
    if report.created:
        parts.append(_plural(len(report.created), "invoice created", "invoices created"))
    if report.voided:
        parts.append(_plural(len(report.voided), "invoice voided", "invoices voided"))
    if report.payments_pulled:
        parts.append(_plural(report.payments_pulled, "payment seen", "payments seen"))
    n = len(report.problems())
    if n:
        parts.append(f"{n} {'needs' if n == 1 else 'need'} attention")
    return f"{report.business}: {', '.join(parts) or 'nothing new'}"


def render_body(report: SyncReport) -> str:
    run = f" (run {report.run_id})" if report.run_id else " (it could not start)"
    lines = [f"Sync of {report.business} for {report.as_of.isoformat()}{run}"]
    if report.fatal:
        lines += ["", f"The sync FAILED and did not finish: {report.fatal}"]
    if report.created:
        lines += ["", "Invoices created:"]
        lines += [_created(row, number) for row, number in report.created]
    if report.voided:
        lines += ["", "Invoices voided:"]
        lines += [
            f"  {_number(row, number)}  {row.contract}  {', '.join(row.milestones)}"
            for row, number in report.voided
        ]
    lines += ["", f"Payments seen: {report.payments_pulled}"]
    if report.resolved:
        lines.append(f"Unconfirmed invoices resolved: {report.resolved}")
    problems = report.problems()
    if problems:
        lines += ["", "Needs attention:"]
        lines += [f"  - {p}" for p in problems]
    else:
        lines += ["", "Nothing needs attention."]
    return "\n".join(lines) + "\n"


def _created(row: InvoiceRow, number: str | None) -> str:
    """One created invoice as the email lists it; a credit note is for the positive amount."""
    what = " ".join([str(row.kind), ", ".join(row.milestones)]).strip()
    who = f" ({row.customer})" if row.customer else ""
    total = fmt(row.total)
    if row.is_credit_note:
        amount = f"credit note for {total.lstrip('-')} {row.currency}"
    else:
        amount = f"{total} {row.currency}  due {row.due_date.isoformat()}"
    return f"  {_number(row, number)}  {row.contract}{who}  {what}  {amount}"


def render_email(report: SyncReport) -> EmailMessage:
    """The plain-text email; To/From are set by `send`, from the settings."""
    msg = EmailMessage()
    msg["Subject"] = subject(report)
    msg.set_content(render_body(report))
    return msg


def webhook_payload(report: SyncReport) -> Json:
    """JSON-safe: amounts as strings, dates as ISO text, never floats (like `plan --json`)."""
    return {
        "business": report.business,
        "as_of": report.as_of.isoformat(),
        "run_id": report.run_id or None,
        "outcome": report.outcome,
        "exit_code": report.exit_code,
        "summary": subject(report),
        "counts": report.counts(),
        "created": [_invoice_json(row, number) for row, number in report.created],
        "voided": [_invoice_json(row, number) for row, number in report.voided],
        "payments_pulled": report.payments_pulled,
        "problems": report.problems(),
    }


# -- sending ------------------------------------------------------------------------------------


def _redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _send_email(
    report: SyncReport,
    settings: NotifySettings,
    business: str,
    tls_context: ssl.SSLContext | None,
) -> list[str]:
    password: str | None = None
    try:
        if settings.smtp_username:
            try:
                password = load_smtp_password(business)
            except (NoKeyringError, KeyringError) as exc:
                return [f"email not sent: the OS keyring could not be read ({type(exc).__name__})"]
            if password is None:
                return [
                    f"email not sent: no SMTP password in the OS keyring (service {SERVICE!r}, "
                    f"user {smtp_keyring_user(business)!r})"
                ]
        msg = render_email(report)
        msg["From"] = settings.email_from
        msg["To"] = ", ".join(settings.email_to)
        assert settings.smtp_host is not None  # the validator guarantees it with email_to
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=tls_context or ssl.create_default_context())
            if settings.smtp_username and password is not None:
                smtp.login(settings.smtp_username, password)
            smtp.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        where = f"{settings.smtp_host}:{settings.smtp_port}"
        detail = _redact(f"{type(exc).__name__}: {exc}", [password or ""])
        return [f"email not sent via {where}: {detail}"]
    return []


def _send_webhook(report: SyncReport, url: str) -> list[str]:
    # A webhook URL often is itself a secret (Slack, Teams): name only its scheme and host.
    parts = urlsplit(url)
    where = f"{parts.scheme}://{parts.hostname}"
    tail = parts.path + (f"?{parts.query}" if parts.query else "")
    hidden = [url] + [s for s in (tail, parts.query) if len(s) > 1]
    try:
        response = requests.post(url, json=webhook_payload(report), timeout=WEBHOOK_TIMEOUT)
    except requests.RequestException as exc:
        return [f"webhook to {where} failed: {_redact(f'{type(exc).__name__}: {exc}', hidden)}"]
    if not response.ok:
        return [f"webhook to {where} failed: HTTP {response.status_code}"]
    return []


def send(
    report: SyncReport,
    settings: NotifySettings,
    business: str,
    *,
    tls_context: ssl.SSLContext | None = None,
) -> list[str]:
    """Send what `settings` asks for; return problems instead of raising, so a broken mail
    server never fails a sync. `tls_context` is for a private CA (and tests)."""
    if not should_notify(report, settings):
        return []
    problems: list[str] = []
    if settings.email_to:
        problems += _send_email(report, settings, business, tls_context)
    if settings.webhook_url:
        problems += _send_webhook(report, settings.webhook_url)
    return problems
