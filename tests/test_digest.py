"""The morning digest, from books made by real syncs (the practice ledger), sent through a real
SMTP server (aiosmtpd) and read back as a mail client reads it: headers, the plain-text part,
the HTML part, the figures; the HTML looked at as a picture with headless Chromium.
"""

from __future__ import annotations

import email.message
import email.utils
import os
import re
import shutil
import struct
import subprocess
import tempfile
import zlib
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connector.digest import Mark, Section, business_digest, digest_of
from connector.digest_html import render_html
from connector.digest_render import render_text
from connector.digest_send import Recipient, send_digest
from connector.forecast.chart import HEADLESS
from connector.sync.state import State
from tests.conftest import AS_OF, MILESTONES, Business, make_business
from tests.test_notify import Collector, settings, smtp  # noqa: F401  (smtp: a fixture)

LINK = "https://pay.ledger.example/invoice/1003?locale=en_US&token=abc"
ARTIFACTS = Path(os.environ.get("CONNECTOR_TEST_ARTIFACTS") or Path(tempfile.gettempdir()))

# ACME-M3 done but not accepted (so it waits, and the retainage is held), a title a browser
# would run if it were not escaped, and a milestone of a contract the config does not know.
NIGHT = MILESTONES.replace(
    'title = "Build"\npercent = "50"\nstatus = "done"\ncompleted = 2026-11-20\n'
    "accepted = 2026-11-25",
    'title = "Build <script>alert(1)</script>"\npercent = "50"\nstatus = "done"\n'
    "completed = 2026-11-20",
) + (
    '\n[[milestones]]\nid = "GAMMA-1"\ncontract = "GAMMA-X"\ntitle = "Orphan"\n'
    'amount = "1500.00"\nstatus = "done"\ncompleted = 2026-11-01\naccepted = 2026-11-02\n'
)


def two_nights(root: Path) -> Business:
    """Night one bills; the client pays 3,000.00 on INV-1002; night two pulls the payment."""
    business = make_business(root, milestones=NIGHT)
    business.sync()
    rows = {r.number: r for r in business.state().invoice_rows()}
    business.ledger.record_payment(rows["INV-1002"].ledger_id, Decimal("3000.00"), AS_OF)
    assert business.sync(as_of=date(2026, 11, 27)).payments_pulled == 1
    return business


def recipient(port: int, **kw: Any) -> Recipient:
    return Recipient("Northwind Studio", settings(port, **kw), None)


def subject(msg: email.message.EmailMessage) -> str:
    """As a mail client shows it: a long subject is folded onto the line after `Subject:`."""
    return str(msg["Subject"]).strip()


def parts(msg: email.message.EmailMessage) -> tuple[str, str]:
    plain, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert plain is not None and html is not None
    return str(plain.get_content()), str(html.get_content())


def test_the_digest_of_a_real_night_arrives_whole(
    tmp_path: Path,
    smtp: tuple[Collector, int],  # noqa: F811
) -> None:
    handler, port = smtp
    business = two_nights(tmp_path / "northwind")
    state = business.state()
    rows = {r.number: r for r in state.invoice_rows()}
    state.update_invoices(
        [
            (rows["INV-1003"].key, {"payment_link": LINK}),
            (rows["INV-1004"].key, {"payment_link": "javascript:alert(1)"}),
        ]
    )
    now = datetime.now().astimezone()
    assert send_digest(recipient(port), [business.config()], now) == []
    [msg] = handler.messages

    assert msg.get_content_type() == "multipart/alternative"
    assert email.utils.parsedate_to_datetime(msg["Date"]).tzinfo is not None
    assert re.fullmatch(r"<[^@<>]+@northwind\.test>", msg["Message-ID"].strip())
    assert msg["From"] == "connector@northwind.test" and msg["To"] == "books@northwind.test"
    assert subject(msg) == (
        "Morning digest, 1 business: 1 payment, 4 invoices created, 1 needs a person"
    )
    text, html = parts(msg)
    for part in (text, html):
        assert "Acme Corporation" in part and "INV-1002" in part
        assert "3,000.00 USD" in part  # who paid how much on which invoice
        assert "4,800.00 USD" in part and "due 2026-09-16" in part  # the deposit, overdue
        assert "GAMMA-X" in part  # what needs a person
        assert "27,000.00 USD" in part  # ACME-M3 waits for acceptance: 50% of 54,000.00
        assert "1,290.00 USD" in part  # ACME-WEB's retainage held until ACME-M3 is accepted
        assert "23,730.00 USD" in part and "4,000.00 EUR" in part  # outstanding per currency
        assert "13,770.00 USD" in part  # INV-1003 in 1-30 days past due
    # invoices dated when their milestones were accepted, weeks back, were due already
    assert text.count("OVERDUE WHEN CREATED") == 4
    assert html.count("overdue when created") == 4
    assert "- Acme Corporation paid 3,000.00 USD on INV-1002 (ACME-WEB), 2026-11-26" in text
    assert "- EUR: 4,000.00 EUR outstanding, 4,000.00 EUR overdue" in text
    assert "Build <script>alert(1)</script>" in text  # plain text as it is
    assert "<script>" not in html and "Build &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<table" in html and "style=" in html and "<style" not in html
    assert f"\n  pay online: {LINK}\n" in text.replace("\r\n", "\n")  # whole, on its own line
    assert f'href="{LINK.replace("&", "&amp;")}"' in html
    assert "javascript:" not in text and "javascript:" not in html
    assert max(len(line) for line in text.splitlines()) < 200  # no wide tables
    assert "  " not in "".join(line.strip() for line in text.splitlines())  # no column padding


def test_the_next_digest_tells_only_what_is_new(
    tmp_path: Path,
    smtp: tuple[Collector, int],  # noqa: F811
) -> None:
    handler, port = smtp
    business = two_nights(tmp_path / "northwind")
    who = recipient(port)
    assert send_digest(who, [business.config()], datetime.now().astimezone()) == []
    business.sync(as_of=date(2026, 11, 28))
    assert send_digest(who, [business.config()], datetime.now().astimezone()) == []
    first, second = handler.messages
    text, _ = parts(second)
    assert "Payments received" not in text and "Invoices created" not in text
    assert subject(second) == "Morning digest, 1 business: 1 needs a person"
    assert "What happened since" in text and "GAMMA-X" in text  # still needs a person
    assert first["Message-ID"] != second["Message-ID"]


def test_a_quiet_night_sends_a_heartbeat_and_none_when_turned_off(
    tmp_path: Path,
    smtp: tuple[Collector, int],  # noqa: F811
) -> None:
    handler, port = smtp
    business = make_business(tmp_path / "northwind")
    business.sync()
    cfg = business.config()
    assert send_digest(recipient(port), [cfg], datetime.now().astimezone()) == []
    business.sync(as_of=date(2026, 11, 27))  # nothing new
    assert send_digest(recipient(port), [cfg], datetime.now().astimezone()) == []
    assert len(handler.messages) == 2
    heartbeat = handler.messages[1]
    assert subject(heartbeat) == "Morning digest, 1 business: all quiet (1 business synced)"
    text, html = parts(heartbeat)
    assert "All quiet" in text and "All quiet" in html
    assert "Last sync:" in text and "outstanding" in text  # the standing figures still there

    business.sync(as_of=date(2026, 11, 28))
    assert send_digest(recipient(port, heartbeat=False), [cfg], datetime.now().astimezone()) == []
    assert len(handler.messages) == 2  # quiet, and no heartbeat asked: nothing


def test_a_business_whose_books_cannot_be_read_is_said_so(tmp_path: Path) -> None:
    business = make_business(tmp_path / "northwind")
    business.sync()
    (tmp_path / "northwind" / "state.db").write_bytes(b"not a database")
    now = datetime.now().astimezone()
    part = business_digest(business.config(), Mark(), now)
    assert part.error and not part.quiet
    digest = digest_of("1 business", [part], [Mark()], now)
    assert "NEEDS A PERSON: its books could not be read" in render_text(digest)


def test_the_forecast_has_its_place(tmp_path: Path) -> None:
    """Another module's section (the expected receipts of the next 4 weeks) under a business."""
    business = make_business(tmp_path / "northwind")
    business.sync()
    now = datetime.now().astimezone()

    def forecast(cfg: object, state: State, as_of: date) -> Section:
        return Section("Expected in the next 4 weeks", ("Acme <Corp>: 24,570.00 USD by 12-10",))

    part = business_digest(business.config(), Mark(), now, extras=[forecast])
    digest = digest_of("Northwind Studio", [part], [Mark()], now)
    assert "- Acme <Corp>: 24,570.00 USD by 12-10" in render_text(digest)
    assert "Acme &lt;Corp&gt;: 24,570.00 USD by 12-10" in render_html(digest)


def test_the_digest_says_what_the_forecast_expects_in_the_next_4_weeks(tmp_path: Path) -> None:
    """By default a business's part ends with `connector forecast`'s next 4 weeks, per currency,
    the same figures as `connector.forecast.next_weeks` for the same day."""
    from connector.digest_render import money
    from connector.forecast import next_weeks

    business = make_business(tmp_path / "northwind")
    business.sync()
    now = datetime.now().astimezone()
    part = business_digest(business.config(), Mark(), now)
    expected = next_weeks(business.config(), part.as_of, weeks=4)
    assert expected, "the example business expects receipts"
    (section,) = [x for x in part.extra if x.title == "Expected receipts in the next 4 weeks"]
    assert section.lines == tuple(money(v, c) for c, v in sorted(expected.items()))
    text = render_text(digest_of("Northwind Studio", [part], [Mark()], now))
    assert "Expected receipts in the next 4 weeks" in text
    assert all(line in text for line in section.lines)


# -- the HTML as a picture ------------------------------------------------------------------------


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            raise AssertionError("CI installs Debian's chromium (.ci/run); it is missing")
        pytest.skip("headless Chromium is not installed (apt-get install chromium)")
    return found


def screenshot(html: Path, png: Path, width: int, height: int) -> None:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium(),
                *HEADLESS,
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--screenshot={png}",
                f"--window-size={width},{height}",
                html.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


def png_pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and the RGB(A) rows of an 8-bit PNG (what Chromium writes), by zlib."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6)
    bpp = 3 if colour == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytes(width * bpp)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = bytes(line)
    return width, height, [bytes(r[i : i + 3]) for r in rows for i in range(0, stride, bpp)]


def test_the_digest_reads_as_a_picture_at_phone_width(
    tmp_path: Path,
    smtp: tuple[Collector, int],  # noqa: F811
) -> None:
    handler, port = smtp
    business = two_nights(tmp_path / "northwind")
    assert send_digest(recipient(port), [business.config()], datetime.now().astimezone()) == []
    _, html = parts(handler.messages[0])  # the HTML as the mail client received it
    out = ARTIFACTS / "connector-digest"
    out.mkdir(parents=True, exist_ok=True)
    page = out / "digest.html"
    page.write_text(html, encoding="utf-8")
    for width, height in ((390, 1800), (900, 1400)):
        png = out / f"digest-{width}.png"
        screenshot(page, png, width, height)
        print(f"digest screenshot: {png}")
        w, h, pixels = png_pixels(png)
        assert (w, h) == (width, height)
        inked = [p for p in pixels if max(p) < 160]  # text
        red = [p for p in pixels if p[0] > 150 and p[1] < 80 and p[2] < 80]  # overdue
        green = [p for p in pixels if p[1] > 90 and p[0] < 60 and p[2] < 90]  # a payment
        amber = [p for p in pixels if p[0] > 230 and 130 < p[1] < 160 and p[2] < 30]  # needs
        assert len(inked) > 0.01 * len(pixels), "hardly any text on the page"
        assert red and green and amber
        # the page is as tall as its content: the lowest inked row is well down the picture
        lowest = max(i // w for i, p in enumerate(pixels) if max(p) < 160)
        assert lowest > (0.5 if width < 500 else 0.4) * h
    # at phone width the column shrinks to the window: nothing runs into its right edge
    w, _, pixels = png_pixels(out / "digest-390.png")
    edge = [p for i, p in enumerate(pixels) if i % w >= w - 4 and max(p) < 160]
    assert not edge, "something is wider than a phone's screen"


def test_a_night_in_the_quickbooks_sandbox(
    tmp_path: Path,
    qbo: Any,
    smtp: tuple[Collector, int],  # noqa: F811
) -> None:
    """The books a real QuickBooks night left: the payments as the ledger reported them, on the
    invoice numbers it gave, and the receivables that are left."""
    from connector_sandbox.quickbooks import DEFAULT_REALM
    from tests import qbo_support

    handler, port = smtp
    business = qbo_support.qbo_business(tmp_path / "b", qbo)
    who = recipient(port)
    business.sync()
    assert send_digest(who, [business.config()], datetime.now().astimezone()) == []
    by_total = {f"{Decimal(str(i['TotalAmt'])):.2f}": i for i in qbo.invoices()}
    deposit, first = by_total["4800.00"], by_total["8160.00"]
    qbo.record_payment(DEFAULT_REALM, deposit["Id"], "4800.00", date(2026, 11, 20))
    qbo.record_payment(DEFAULT_REALM, first["Id"], "1000.00", date(2026, 11, 21))
    assert business.sync().outcome == "ok"
    assert send_digest(who, [business.config()], datetime.now().astimezone()) == []

    night_one, night_two = handler.messages
    assert subject(night_one) == "Morning digest, 1 business: 6 invoices created"
    assert subject(night_two) == "Morning digest, 1 business: 2 payments"
    text, html = parts(night_two)
    text = text.replace("\r\n", "\n")
    assert f"- Acme Corporation paid 4,800.00 USD on {deposit['DocNumber']} (ACME-WEB)" in text
    assert f"- Acme Corporation paid 1,000.00 USD on {first['DocNumber']} (ACME-WEB)" in text
    assert "Payments received (2), 5,800.00 USD:" in text
    assert "- USD: 48,200.00 USD outstanding" in text  # 54,000.00 billed less 5,800.00 paid
    assert "- EUR: 4,000.00 EUR outstanding" in text
    assert "5,800.00 USD" in html and first["DocNumber"] in html


def test_what_a_refused_customer_holds_up_is_in_the_digest(
    tmp_path: Path,
    qbo: Any,
    smtp: tuple[Collector, int],  # noqa: F811
) -> None:
    """The issue's case: Beta Bakery is set up in USD in QuickBooks, the contract bills EUR, so
    BETA-1 is never invoiced; the digest says so with the 4,000.00 EUR it holds up."""
    from tests import qbo_support

    handler, port = smtp
    qbo_support.ledger(qbo).find_or_create_customers([("Beta Bakery Ltd", "USD")])
    business = qbo_support.qbo_business(tmp_path / "b", qbo)
    assert business.sync().outcome == "problems"
    assert send_digest(recipient(port), [business.config()], datetime.now().astimezone()) == []
    [msg] = handler.messages
    assert subject(msg) == "Morning digest, 1 business: 5 invoices created, 1 needs a person"
    text, html = parts(msg)
    text = text.replace("\r\n", "\n")
    assert "\nNeeds a person (1), holding up 4,000.00 EUR:\n- " in text
    [line] = [ln for ln in text.splitlines() if "is set up in USD in QuickBooks" in ln]
    assert line.endswith("[holds up 4,000.00 EUR]")
    assert "is set up in USD in QuickBooks" in html and "holding up 4,000.00 EUR" in html
