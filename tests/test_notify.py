"""Notifications against a real SMTP server (aiosmtpd) and a real HTTP server on 127.0.0.1.

No smtplib or requests mocks: what the bookkeeper receives is what is asserted.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import email.utils
import ipaddress
import json
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from connector.models import Kind
from connector.notify import (
    NotifySettings,
    current_invoices,
    render_email,
    save_smtp_password,
    send,
    should_notify,
    webhook_payload,
)
from connector.sync.report import SyncReport
from connector.sync.rows import InvoiceRow
from connector.sync.schema import Delivery, OutboxAction, OutboxState
from tests.conftest import Business, Hook

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")
aiosmtpd_smtp = pytest.importorskip("aiosmtpd.smtp")

PASSWORD = "s3cret-Pa55word!"
AS_OF = dt.date(2026, 11, 26)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Collector:
    """aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(msg)  # type: ignore[arg-type]
        return "250 OK"


class Authenticator:
    """Accepts only user 'books' with PASSWORD; records whether login happened."""

    def __init__(self) -> None:
        self.logins: list[str] = []

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, auth: Any) -> Any:
        ok = auth.login == b"books" and auth.password == PASSWORD.encode()
        if ok:
            self.logins.append(auth.login.decode())
        return aiosmtpd_smtp.AuthResult(success=ok, handled=False)  # False: server sends 535


@pytest.fixture
def smtp() -> Iterator[tuple[Collector, int]]:
    handler = Collector()
    port = free_port()
    controller = aiosmtpd_controller.Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


def settings(port: int, **kw: Any) -> NotifySettings:
    base: dict[str, Any] = {
        "email_to": ["books@northwind.test"],
        "email_from": "connector@northwind.test",
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_starttls": False,
    }
    return NotifySettings(**(base | kw))


def body(msg: email.message.EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def test_real_sync_is_emailed(business: Business, smtp: tuple[Collector, int]) -> None:
    handler, port = smtp
    report = business.sync()
    assert report.created
    assert send(report, settings(port), "Northwind Studio") == []
    assert len(handler.messages) == 1
    msg = handler.messages[0]
    n = len(report.created)
    assert msg["Subject"].startswith(f"Northwind Studio: {n} invoices created")
    assert msg["To"] == "books@northwind.test"
    # a mail client sorts by Date and threads and de-duplicates by Message-ID
    assert email.utils.parsedate_to_datetime(msg["Date"]).tzinfo is not None
    assert str(msg["Message-ID"]).strip().endswith("@northwind.test>")
    text = body(msg)
    for row, number in report.created:
        assert number in text
        assert row.contract in text
        for m in row.milestones:
            assert m in text
    assert "8160.00 USD" in text  # ACME-M1 total, as the README's plan shows it
    assert "EUR" in text
    assert "Payments seen: 0" in text


def report_with_problems() -> SyncReport:
    row = InvoiceRow(
        key="mc-1",
        reference="MC-1",
        action=OutboxAction.CREATE,
        contract="ACME-WEB",
        customer="Acme Corporation",
        kind=Kind.MILESTONE,
        milestones=("ACME-M1", "ACME-M2"),
        milestone_hashes=(),
        revision=0,
        currency="USD",
        invoice_date=dt.date(2026, 11, 2),
        due_date=dt.date(2026, 11, 17),
        lines=(),
        total_minor=1234567,
    )
    return SyncReport(
        business="Northwind Studio",
        as_of=AS_OF,
        run_id=7,
        created=[(row, "1042")],
        payments_pulled=2,
        failures=["MC-9 (BETA-APP): rejected by the ledger: customer inactive"],
    )


def test_subject_and_body_for_problems() -> None:
    msg = render_email(report_with_problems())
    assert msg["Subject"] == (
        "Northwind Studio: 1 invoice created, 2 payments seen, 1 needs attention"
    )
    text = body(msg)
    assert (
        "1042  ACME-WEB (Acme Corporation)  milestone ACME-M1, ACME-M2  "
        "12345.67 USD  due 2026-11-17" in text
    )
    assert "Payments seen: 2" in text
    assert "customer inactive" in text


def test_failed_run_subject() -> None:
    report = SyncReport(business="Northwind Studio", as_of=AS_OF, fatal="local: refused")
    msg = render_email(report)
    assert msg["Subject"] == "Northwind Studio: sync FAILED"
    assert "local: refused" in body(msg)


def test_webhook_payload_is_json_safe() -> None:
    payload = webhook_payload(report_with_problems())

    def no_floats(value: Any) -> None:
        assert not isinstance(value, float)
        if isinstance(value, dict):
            for v in value.values():
                no_floats(v)
        elif isinstance(value, list):
            for v in value:
                no_floats(v)

    no_floats(payload)
    assert json.loads(json.dumps(payload)) == payload
    assert payload["as_of"] == "2026-11-26"
    assert payload["created"][0]["total"] == "12345.67"
    assert payload["created"][0]["milestones"] == ["ACME-M1", "ACME-M2"]
    assert payload["outcome"] == "problems"


def test_webhook_receives_json(webhook: str) -> None:
    s = NotifySettings(webhook_url=f"{webhook}/hooks/abc")
    assert send(report_with_problems(), s, "Northwind Studio") == []
    [(path, data)] = Hook.received
    assert path == "/hooks/abc"
    assert data == webhook_payload(report_with_problems())


def test_a_night_whose_only_news_is_a_deleted_payment_is_told() -> None:
    """A payment a person deleted in the ledger opens its invoice again: that night is news,
    said in the subject and the body, not a quiet night."""
    night = SyncReport(business="Northwind Studio", as_of=AS_OF, run_id=8, payments_withdrawn=1)
    assert should_notify(night, NotifySettings(webhook_url="http://127.0.0.1:9/h"))
    msg = render_email(night)
    assert msg["Subject"] == "Northwind Studio: 1 payment deleted in the ledger"
    assert "Payments deleted in the ledger since they were seen: 1" in body(msg)


def test_quiet_run_sends_nothing(
    business: Business, smtp: tuple[Collector, int], webhook: str
) -> None:
    handler, port = smtp
    business.sync()
    quiet = business.sync()  # second sync: every invoice exists already
    assert not quiet.created and not quiet.problems()
    s = settings(port, webhook_url=webhook)
    assert not should_notify(quiet, s)
    assert send(quiet, s, "Northwind Studio") == []
    assert handler.messages == [] and Hook.received == []
    # "always" reports a quiet night too
    assert send(quiet, settings(port, only_when="always"), "Northwind Studio") == []
    assert handler.messages[0]["Subject"] == "Northwind Studio: nothing new"


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_login_with_keyring_password(memory_keyring: Any) -> None:
    handler, auth = Collector(), Authenticator()
    port = free_port()
    controller = aiosmtpd_controller.Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        authenticator=auth,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    try:
        s = settings(port, smtp_username="books")
        # no password stored yet: a problem, not an exception, and nothing sent
        [problem] = send(report_with_problems(), s, "Northwind Studio")
        assert "Northwind Studio/smtp" in problem and handler.messages == []
        save_smtp_password("Northwind Studio", PASSWORD)
        assert send(report_with_problems(), s, "Northwind Studio") == []
        assert auth.logins == ["books"]
        assert len(handler.messages) == 1
        raw = handler.envelopes[0].content
        assert PASSWORD.encode() not in raw
        # a wrong password is reported without the password in it
        save_smtp_password("Northwind Studio", PASSWORD + "x")
        [problem] = send(report_with_problems(), s, "Northwind Studio")
        assert "SMTPAuthenticationError" in problem
        assert PASSWORD not in problem
    finally:
        controller.stop()


def self_signed(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) TLS contexts for 127.0.0.1 from a fresh self-signed certificate."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = tmp_path / "cert.pem"
    key_pem = tmp_path / "key.pem"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_pem, key_pem)
    client = ssl.create_default_context(cafile=str(cert_pem))
    return server, client


def test_starttls_then_login(tmp_path: Path, memory_keyring: Any) -> None:
    server_ctx, client_ctx = self_signed(tmp_path)
    handler, auth = Collector(), Authenticator()
    port = free_port()
    controller = aiosmtpd_controller.Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_ctx,
        require_starttls=True,
        authenticator=auth,
        auth_required=True,
        auth_require_tls=True,
    )
    controller.start()
    try:
        save_smtp_password("Northwind Studio", PASSWORD)
        s = settings(port, smtp_starttls=True, smtp_username="books")
        assert send(report_with_problems(), s, "Northwind Studio", tls_context=client_ctx) == []
        assert auth.logins == ["books"] and len(handler.messages) == 1
        # the default context does not trust the self-signed server: reported, not raised
        [problem] = send(report_with_problems(), s, "Northwind Studio")
        assert "SSL" in problem and PASSWORD not in problem
    finally:
        controller.stop()


def test_unreachable_smtp_is_a_problem(memory_keyring: Any) -> None:
    save_smtp_password("Northwind Studio", PASSWORD)
    port = free_port()  # nothing listens there
    s = settings(port, smtp_username="books")
    [problem] = send(report_with_problems(), s, "Northwind Studio")
    assert f"127.0.0.1:{port}" in problem
    assert PASSWORD not in problem


def test_unreachable_webhook_hides_its_path() -> None:
    port = free_port()
    s = NotifySettings(webhook_url=f"http://127.0.0.1:{port}/services/T0/B0/XyzSecretToken")
    [problem] = send(report_with_problems(), s, "Northwind Studio")
    assert "webhook to http://127.0.0.1" in problem
    assert "XyzSecretToken" not in problem


def test_settings_validation() -> None:
    with pytest.raises(ValidationError):
        NotifySettings(email_to=["a@b.test"])  # no smtp_host / email_from
    with pytest.raises(ValidationError):
        NotifySettings.model_validate({"smtp_password": "x"})  # extra="forbid"
    assert NotifySettings().only_when == "activity"
    assert (
        NotifySettings().digest and NotifySettings().heartbeat
    )  # the morning digest is the default
    assert NotifySettings(digest_by="7:5").digest_by == "07:05"
    for bad in ({"digest_by": "25:00"}, {"digest_by": "seven"}, {"digest_timezone": "Mars/Base"}):
        with pytest.raises(ValidationError, match="expected"):
            NotifySettings.model_validate(bad)


# -- the client's side: payment links and emails the ledger refused --------------------------------

LINK = "https://pay.ledger.example/invoice/1002?locale=en_US&cta=v3&token=abc"


def invoices_as_a_ledger_left_them(business: Business) -> dict[str, InvoiceRow]:
    """After a sync, the rows carry what a ledger said: links on two invoices (one since
    paid), and an email it refused to send for want of an address."""
    state = business.state()
    rows = {r.milestones[0] if r.milestones else str(r.kind): r for r in state.invoice_rows()}
    state.update_invoices(
        [
            (rows["ACME-M1"].key, {"payment_link": LINK, "delivery": Delivery.SENT}),
            (
                rows["deposit"].key,
                {"payment_link": "https://pay.ledger.example/paid", "state": OutboxState.PAID},
            ),
            (
                rows["BETA-1"].key,
                {
                    "delivery": Delivery.REFUSED,
                    "error": "customer 'Beta Bakery Ltd' has no email address in the ledger",
                },
            ),
        ]
    )
    return {k: v.key for k, v in rows.items()}  # type: ignore[misc]


def test_the_morning_email_has_payment_links_and_refused_emails(
    business: Business, smtp: tuple[Collector, int], webhook: str
) -> None:
    handler, port = smtp
    report = business.sync()
    invoices_as_a_ledger_left_them(business)
    now = current_invoices(business.config())
    by_key = {r.key: r for r in now}
    m1 = next(r for r in now if r.milestones == ("ACME-M1",))
    beta = next(r for r in now if r.milestones == ("BETA-1",))
    assert send(report, settings(port, webhook_url=webhook), "Northwind Studio", invoices=now) == []
    text = body(handler.messages[0])
    lines = text.splitlines()
    paying = lines.index("Open invoices the client can pay online:")
    assert lines[paying + 1 : paying + 4] == [
        f"  {m1.number}  ACME-WEB (Acme Corporation)  8160.00 USD due 2026-10-07",
        f"    {LINK}",  # whole, on a line of its own
        "",
    ]
    assert "https://pay.ledger.example/paid" not in text  # paid: nothing to pay online
    refused = lines.index("Not emailed to the client (the ledger would not send them):")
    assert lines[refused + 1 : refused + 3] == [
        f"  {beta.number}  BETA-APP (Beta Bakery Ltd)  4000.00 EUR due 2026-11-05: customer "
        "'Beta Bakery Ltd' has no email address in the ledger",
        "",
    ]
    [(_, data)] = Hook.received
    assert [(i["number"], i["payment_link"], i["balance"]) for i in data["pay_online"]] == [
        (m1.number, LINK, "8160.00")
    ]
    assert [(i["number"], i["reason"]) for i in data["not_emailed"]] == [
        (beta.number, "customer 'Beta Bakery Ltd' has no email address in the ledger")
    ]
    assert by_key  # every invoice of the state was handed over


def test_without_the_state_the_nights_invoices_stand_in() -> None:
    """A caller that hands no invoices gets the links of those the run created."""
    report = report_with_problems()
    row, number = report.created[0]
    report.created[0] = (row._replace(state=OutboxState.PUSHED, payment_link=LINK), number)
    lines = body(render_email(report)).splitlines()
    paying = lines.index("Open invoices the client can pay online:")
    assert lines[paying + 1].startswith("  1042  ACME-WEB (Acme Corporation)  12345.67 USD")
    assert lines[paying + 2] == f"    {LINK}"
    text = "\n".join(lines)
    assert webhook_payload(report)["not_emailed"] == []
    assert "Not emailed" not in text


def test_a_state_that_cannot_be_read_gives_no_invoices(business: Business) -> None:
    cfg = business.config()
    assert not cfg.state_path.exists()  # never synced; the email must not create it
    assert current_invoices(cfg) == ()
    assert not cfg.state_path.exists()


def test_invoices_the_ledger_emailed_tonight_are_listed() -> None:
    report = report_with_problems()
    report.sent = [report.created[0]]
    msg = render_email(report)
    assert msg["Subject"] == (
        "Northwind Studio: 1 invoice created, 1 invoice emailed, 2 payments seen, 1 needs attention"
    )
    lines = body(msg).splitlines()
    emailed = lines.index("Invoices emailed to the client by the ledger:")
    assert lines[emailed + 1] == "  1042  ACME-WEB (Acme Corporation)"
    assert [i["number"] for i in webhook_payload(report)["sent"]] == ["1042"]
    quiet = SyncReport(business="Northwind Studio", as_of=AS_OF, sent=report.sent)
    assert should_notify(quiet, NotifySettings(webhook_url="http://127.0.0.1:9/h"))


def test_a_real_night_in_xero_is_emailed_with_links_and_the_refused(
    tmp_path: Path, xero_books: Any, smtp: tuple[Collector, int]
) -> None:
    """Through xero-python against the sandbox: the invoices Xero emailed, each open one's
    online invoice link, and Beta Bakery's invoice it could not send (no email address)."""
    from tests.test_status import a_uk_night

    handler, port = smtp
    business, night = a_uk_night(tmp_path, xero_books)
    invoices = current_invoices(business.config())
    assert send(night, settings(port), "Northwind Studio", invoices=invoices) == []
    lines = body(handler.messages[0]).splitlines()
    emailed = lines.index("Invoices emailed to the client by the ledger:")
    links = [ln.strip() for ln in lines if ln.strip().startswith("https://in.xero.com/")]
    open_acme = [r for r in invoices if r.contract == "ACME-WEB" and r.state == "pushed"]
    assert len(links) == len(open_acme) == len(night.sent)  # all ACME-WEB's, each sent tonight
    assert lines[emailed + 1].endswith("(Acme Corporation)")
    refused = lines.index("Not emailed to the client (the ledger would not send them):")
    assert "BETA-APP (Beta Bakery Ltd)" in lines[refused + 1]
    assert any("was not emailed" in ln and "Beta Bakery" in ln for ln in lines)  # its words
