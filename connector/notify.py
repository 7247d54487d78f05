"""Tell the bookkeeper what a nightly run did, by email and/or webhook.

A daemon run happens while nobody watches; this is how its outcome reaches a person in the
morning. Sending is best effort: a failed notification is returned as a problem string, never
raised, so it can never turn a good sync into a failed one. The SMTP password lives only in the
OS keyring (service "milestone-connector", user "<business>/smtp"), never in the config, and
no secret ever appears in a message, payload or problem.

Besides the run, the message lists the business's invoices as the state holds them after it
(`current_invoices`, handed to `send` as `invoices`): each open invoice's online payment link,
and each invoice the ledger would not email to the client, with its reason. Without them, the
invoices the run created stand in.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from keyring.errors import KeyringError, NoKeyringError
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from connector.credentials import SERVICE, read_secret, write_secret
from connector.money import fmt

if TYPE_CHECKING:  # the report module imports the config, which imports this one
    from connector.config import Config
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
    # `connector run`: one morning digest (true) instead of an email after every run (false).
    # The webhook is told after every run either way.
    digest: bool = True
    # A digest on a night with nothing new, so that no email at all means the daemon is down.
    heartbeat: bool = True
    # The digest goes once every business it covers has had its run; at this time of day (in
    # `digest_timezone`, else the business's zone, else the machine's) at the latest.
    digest_by: str = "08:00"
    digest_timezone: str | None = None

    @model_validator(mode="after")
    def _email_needs_server(self) -> NotifySettings:
        # Caught when the config is checked, not at 3 a.m. when the first email would go out.
        if self.email_to and not (self.smtp_host and self.email_from):
            raise ValueError("email_to needs smtp_host and email_from")
        return self

    @field_validator("digest_by")
    @classmethod
    def _time_of_day(cls, value: str) -> str:
        hour, _, minute = value.partition(":")
        if not (hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60):
            raise ValueError(f"expected a time of day like 08:00, got {value!r}")
        return f"{int(hour):02d}:{int(minute):02d}"

    @field_validator("digest_timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"expected an IANA time zone like America/Chicago, got {value!r}"
                ) from None
        return value


# -- the SMTP password, in the keyring only -----------------------------------------------------


# The daemon-wide [notify] (`connector run --notify-config`) keeps its SMTP password under this
# name; the parentheses keep it apart from any business's name.
DAEMON_SMTP_KEY = "(daemon)"


def smtp_keyring_user(business: str) -> str:
    return f"{business}/smtp"


def load_smtp_password(business: str) -> str | None:
    """The business's SMTP password from the OS keyring, or None when none is stored."""
    return read_secret(smtp_keyring_user(business))


def save_smtp_password(business: str, password: str) -> None:
    """Store the SMTP password where `send` looks for it (for an auth command, and tests)."""
    write_secret(smtp_keyring_user(business), password)


# -- the invoices as they stand ------------------------------------------------------------------

# Outbox states (`connector.sync.schema.OutboxState`) of an invoice the client still has to pay,
# and a refused `Delivery`, spelt as text: importing `connector.sync` loads the engine and the
# config, and the config imports this module.
OPEN_STATES = ("pushed", "partially_paid")
REFUSED = "refused"
CREATE = "create"  # `OutboxAction.CREATE`: an invoice or credit note, not a void


def current_invoices(cfg: Config) -> tuple[InvoiceRow, ...]:
    """The business's invoices as its state holds them, for `send(..., invoices=...)`; none
    when the state cannot be read (the message then shows what the run itself created)."""
    from sqlalchemy.exc import SQLAlchemyError

    from connector.errors import ConnectorError
    from connector.sync.state import State

    try:
        state = State.open(cfg.state_url, cfg.business.name, path=cfg.state_path, read_only=True)
        return tuple(state.invoice_rows())
    except (ConnectorError, OSError, SQLAlchemyError):
        return ()


def _invoices(report: SyncReport, invoices: Sequence[InvoiceRow] | None) -> list[InvoiceRow]:
    """The invoices (not credit notes, not voids) to look at: those given, else the run's own
    with the numbers the ledger gave them."""
    if invoices is None:
        invoices = [row._replace(number=row.number or n) for row, n in report.created]
    return [r for r in invoices if r.action == CREATE and not r.is_credit_note]


def payable_online(rows: Sequence[InvoiceRow]) -> list[InvoiceRow]:
    """Open invoices the ledger gave an online payment link for."""
    return [r for r in rows if r.payment_link and r.state in OPEN_STATES]


def not_emailed(rows: Sequence[InvoiceRow]) -> list[InvoiceRow]:
    """Open invoices the ledger would not email to the client (`Delivery.REFUSED`)."""
    return [r for r in rows if r.delivery == REFUSED and r.state in OPEN_STATES]


def _why(row: InvoiceRow) -> str:
    """The ledger's reason, where the row keeps it; else where a person finds it."""
    return row.error or "the ledger refused to send it (the run's problems give its words)"


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
        or report.sent
        or report.payments_pulled
        or report.payments_withdrawn
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
    if report.sent:
        parts.append(_plural(len(report.sent), "invoice emailed", "invoices emailed"))
    if report.payments_pulled:
        parts.append(_plural(report.payments_pulled, "payment seen", "payments seen"))
    if report.payments_withdrawn:
        deleted = ("payment deleted in the ledger", "payments deleted in the ledger")
        parts.append(_plural(report.payments_withdrawn, *deleted))
    n = len(report.problems())
    if n:
        parts.append(f"{n} {'needs' if n == 1 else 'need'} attention")
    return f"{report.business}: {', '.join(parts) or 'nothing new'}"


def render_body(report: SyncReport, invoices: Sequence[InvoiceRow] | None = None) -> str:
    """The email's text; `invoices` are the business's invoices after the run
    (`current_invoices`), None for those the run created."""
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
    if report.sent:
        lines += ["", "Invoices emailed to the client by the ledger:"]
        lines += [f"  {_number(row, number)}  {_whose(row)}" for row, number in report.sent]
    lines += ["", f"Payments seen: {report.payments_pulled}"]
    if report.payments_withdrawn:
        deleted = report.payments_withdrawn
        lines.append(f"Payments deleted in the ledger since they were seen: {deleted}")
    if report.resolved:
        lines.append(f"Unconfirmed invoices resolved: {report.resolved}")
    lines += _client_lines(_invoices(report, invoices))
    problems = report.problems()
    if problems:
        lines += ["", "Needs attention:"]
        lines += [f"  - {p}" for p in problems]
    else:
        lines += ["", "Nothing needs attention."]
    return "\n".join(lines) + "\n"


def _whose(row: InvoiceRow) -> str:
    return f"{row.contract} ({row.customer})" if row.customer else row.contract


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


def _client_lines(rows: Sequence[InvoiceRow]) -> list[str]:
    """What the client can pay online, and what never reached them: a link on a line of its
    own, whole, so a mail reader can open it."""
    lines: list[str] = []
    linked = payable_online(rows)
    if linked:
        lines += ["", "Open invoices the client can pay online:"]
        for row in linked:
            lines += [f"  {_due(row)}", f"    {row.payment_link}"]
    refused = not_emailed(rows)
    if refused:
        lines += ["", "Not emailed to the client (the ledger would not send them):"]
        lines += [f"  {_due(row)}: {_why(row)}" for row in refused]
    return lines


def _due(row: InvoiceRow) -> str:
    who = f" ({row.customer})" if row.customer else ""
    amount = f"{fmt(row.balance)} {row.currency} due {row.due_date.isoformat()}"
    return f"{_number(row, None)}  {row.contract}{who}  {amount}"


def render_email(report: SyncReport, invoices: Sequence[InvoiceRow] | None = None) -> EmailMessage:
    """The plain-text email; To/From are set by `send`, from the settings, with the Date and
    Message-ID (`stamp`)."""
    msg = EmailMessage()
    msg["Subject"] = subject(report)
    msg.set_content(render_body(report, invoices))
    return msg


MESSAGE_ID_DOMAIN = "milestone-connector.invalid"  # for a sender address without a domain


def stamp(msg: EmailMessage, settings: NotifySettings) -> EmailMessage:
    """From, To, Date (local time, RFC 5322) and a Message-ID under the sender's own domain,
    so mail clients sort, thread and de-duplicate the messages as they should."""
    sender = settings.email_from or ""
    domain = sender.rpartition("@")[2].strip("> ") or MESSAGE_ID_DOMAIN
    msg["From"] = sender
    msg["To"] = ", ".join(settings.email_to)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=domain)  # short enough never to be folded
    return msg


def _client_json(rows: Sequence[InvoiceRow]) -> Json:
    return {
        "pay_online": [
            {**_invoice_json(r, None), "balance": fmt(r.balance), "payment_link": r.payment_link}
            for r in payable_online(rows)
        ],
        "not_emailed": [{**_invoice_json(r, None), "reason": _why(r)} for r in not_emailed(rows)],
    }


def webhook_payload(report: SyncReport, invoices: Sequence[InvoiceRow] | None = None) -> Json:
    """JSON-safe: amounts as strings, dates as ISO text, never floats (like `plan --json`).
    `pay_online` and `not_emailed` are as in the email (`render_body`)."""
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
        "sent": [_invoice_json(row, number) for row, number in report.sent],
        "payments_pulled": report.payments_pulled,
        "problems": report.problems(),
        **_client_json(_invoices(report, invoices)),
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
    invoices: Sequence[InvoiceRow] | None,
) -> list[str]:
    return deliver(render_email(report, invoices), settings, business, tls_context)


def deliver(
    msg: EmailMessage,
    settings: NotifySettings,
    business: str,
    tls_context: ssl.SSLContext | None = None,
) -> list[str]:
    """Send `msg` (From, To, Date and Message-ID added here) to `settings.email_to`, logging in
    with the password the keyring keeps for `business`; problems returned, never raised."""
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
        stamp(msg, settings)
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


def _send_webhook(report: SyncReport, url: str, invoices: Sequence[InvoiceRow] | None) -> list[str]:
    # A webhook URL often is itself a secret (Slack, Teams): name only its scheme and host.
    parts = urlsplit(url)
    where = f"{parts.scheme}://{parts.hostname}"
    tail = parts.path + (f"?{parts.query}" if parts.query else "")
    hidden = [url] + [s for s in (tail, parts.query) if len(s) > 1]
    import requests  # here, not at the top: every command reads the notify settings

    try:
        payload = webhook_payload(report, invoices)
        response = requests.post(url, json=payload, timeout=WEBHOOK_TIMEOUT)
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
    invoices: Sequence[InvoiceRow] | None = None,
    email: bool = True,
) -> list[str]:
    """Send what `settings` asks for; return problems instead of raising, so a broken mail
    server never fails a sync. `tls_context` is for a private CA (and tests); `invoices` are
    the business's invoices after the run (`current_invoices(cfg)`), for the payment links and
    the emails the ledger refused; None: those the run created. `email` False: the webhook
    only (the daemon's morning digest takes the email's place)."""
    if not should_notify(report, settings):
        return []
    problems: list[str] = []
    if settings.email_to and email:
        problems += _send_email(report, settings, business, tls_context, invoices)
    if settings.webhook_url:
        problems += _send_webhook(report, settings.webhook_url, invoices)
    return problems
