"""The forecast as a picture a bookkeeper reads at a glance: per currency, a bar per week of
the expected receipts, with the early-late band drawn over it, the weeks' first days under
the bars and amounts up the side.

Generated SVG (no plotting library: the picture is bars and lines, and an SVG file opens in
every browser); a PNG is a screenshot of that SVG by headless Chromium, which must be
installed. Every text is escaped; no script, no external reference.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
from decimal import Decimal
from pathlib import Path
from xml.sax.saxutils import escape

from connector.errors import UserError
from connector.forecast.records import CurrencyForecast, Forecast

WIDTH = 960
PANEL = 340  # height of one currency's chart
TOP = 56  # the title's room
LEFT, RIGHT, PLOT_TOP, PLOT_BOTTOM = 92, 24, 44, 56  # margins inside a panel
BAR = "#2f6fb0"
BAND = "#f0a030"


def _nice_step(top: Decimal) -> Decimal:
    """1, 2 or 5 times a power of ten, so that about five gridlines cover `top`."""
    if top <= 0:
        return Decimal(1)
    raw = top / 5
    power = Decimal(10) ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= power * factor:
            return power * factor
    return power * 10


def _amount(value: Decimal) -> str:
    """12,500 or 12.5k-free: whole units with separators (cents do not fit a chart)."""
    return f"{value.quantize(Decimal(1)):,}"


def _text(x: float, y: float, body: str, size: int = 12, anchor: str = "middle", **kw: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{escape(v)}"' for k, v in kw.items())
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}"{extra}>'
        f"{escape(body)}</text>"
    )


def _panel(c: CurrencyForecast, top: float) -> list[str]:
    weeks = c.weeks
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = PANEL - PLOT_TOP - PLOT_BOTTOM
    y0 = top + PLOT_TOP + plot_h  # the zero line
    highest = max([w.high for w in weeks] + [w.expected.amount for w in weeks] + [Decimal(0)])
    step = _nice_step(highest)
    ceiling = step * max(1, math.ceil(highest / step)) if highest > 0 else step * 5

    def y(v: Decimal) -> float:
        return y0 - float(v / ceiling) * plot_h

    total = c.total()
    out = [
        _text(
            LEFT,
            top + 24,
            f"{c.currency}: {_amount(total)} expected in {len(weeks)} weeks",
            15,
            "start",
            font_weight="bold",
        )
    ]
    n = 0
    tick = Decimal(0)
    while tick <= ceiling and n < 12:
        yy = y(tick)
        out.append(
            f'<line x1="{LEFT}" y1="{yy:.1f}" x2="{WIDTH - RIGHT}" y2="{yy:.1f}" '
            f'stroke="{"#444" if tick == 0 else "#ddd"}" stroke-width="1"/>'
        )
        out.append(_text(LEFT - 8, yy + 4, _amount(tick), 11, "end", fill="#444"))
        tick += step
        n += 1
    slot = plot_w / max(len(weeks), 1)
    bar_w = slot * 0.62
    for i, w in enumerate(weeks):
        x = LEFT + slot * i + (slot - bar_w) / 2
        mid = x + bar_w / 2
        ye = y(w.expected.amount)
        if w.expected.amount > 0:
            out.append(
                f'<rect x="{x:.1f}" y="{ye:.1f}" width="{bar_w:.1f}" '
                f'height="{y0 - ye:.1f}" fill="{BAR}"><title>{escape(_tip(c, i))}</title></rect>'
            )
            top_y = min(ye, y(w.high))  # above the band too, so neither hides the other
            out.append(_text(mid, top_y - 6, _amount(w.expected.amount), 10, fill="#222"))
        if w.high > 0:  # the band, a line when early and late agree
            yl, yh = y(w.low), y(w.high)
            band_w = bar_w * 0.36
            out.append(
                f'<rect x="{mid - band_w / 2:.1f}" y="{yh:.1f}" width="{band_w:.1f}" '
                f'height="{max(yl - yh, 1.5):.1f}" fill="{BAND}" fill-opacity="0.55" '
                f'stroke="{BAND}" stroke-width="1.5"/>'
            )
        out.append(_text(mid, y0 + 16, w.start.strftime("%b %d"), 10, fill="#333"))
        out.append(_text(mid, y0 + 30, f"wk {w.number}", 9, fill="#777"))
    return out


def _tip(c: CurrencyForecast, i: int) -> str:
    w = c.weeks[i]
    return (
        f"{w.start} to {w.end}: expected {w.expected.amount} {c.currency} "
        f"(early {w.early.amount}, late {w.late.amount})"
    )


def height(f: Forecast) -> int:
    return TOP + PANEL * max(len(f.currencies), 1) + 28


def svg(f: Forecast) -> str:
    h = height(f)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{h}" '
        f'viewBox="0 0 {WIDTH} {h}" font-family="Helvetica, Arial, sans-serif">',
        f'<rect width="{WIDTH}" height="{h}" fill="#ffffff"/>',
        _text(
            24,
            32,
            f"{f.business}: expected receipts per week from {f.as_of}",
            18,
            "start",
            font_weight="bold",
        ),
    ]
    lx = WIDTH - 300
    parts += [
        f'<rect x="{lx}" y="20" width="14" height="14" fill="{BAR}"/>',
        _text(lx + 20, 32, "expected", 12, "start"),
        f'<rect x="{lx + 100}" y="20" width="14" height="14" fill="{BAND}" fill-opacity="0.55" '
        f'stroke="{BAND}"/>',
        _text(lx + 120, 32, "early to late", 12, "start"),
    ]
    if not f.currencies:
        parts.append(_text(WIDTH / 2, TOP + PANEL / 2, "Nothing expected in these weeks.", 16))
    for n, c in enumerate(f.currencies):
        parts += _panel(c, TOP + PANEL * n)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


# Headless Chromium as this machine's closed network wants it: no sandbox (root), no GPU, and
# nothing that reaches out at start (background networking, component updates, sync).
HEADLESS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)  # fmt: skip


def chromium() -> str | None:
    """The Chromium to screenshot with: $CONNECTOR_CHROMIUM, else the one on the PATH."""
    named = os.environ.get("CONNECTOR_CHROMIUM")
    if named:
        return named
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def screenshot(svg_text: str, width: int, height: int, target: Path) -> None:
    """`svg_text` as a PNG at `target`, by headless Chromium in a fresh profile."""
    browser = chromium()
    if browser is None:
        raise UserError(
            f"--chart {target}: a PNG is drawn by Chromium, which is not installed; "
            "install it (or set CONNECTOR_CHROMIUM), or ask for an .svg chart"
        )
    with tempfile.TemporaryDirectory(prefix="connector-chart-") as tmp:
        page = Path(tmp) / "chart.html"
        page.write_text(
            '<!doctype html><html><head><meta charset="utf-8"><style>html,body{margin:0;'
            f"background:#fff}}</style></head><body>{svg_text}</body></html>",
            encoding="utf-8",
        )
        command = [
            browser, *HEADLESS, "--hide-scrollbars", f"--user-data-dir={Path(tmp) / 'profile'}",
            f"--window-size={width},{height}", f"--screenshot={target.resolve()}",
            page.as_uri(),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0 or not target.exists():
        raise UserError(
            f"--chart {target}: Chromium could not draw the PNG ({done.stderr.strip()[-300:]})"
        )


def write(f: Forecast, target: Path) -> None:
    """The chart to `target`: .svg as it is, .png through Chromium."""
    suffix = target.suffix.lower()
    if suffix not in (".svg", ".png"):
        raise UserError(f"--chart {target}: expected a file ending in .svg or .png")
    text = svg(f)
    try:
        if suffix == ".svg":
            target.write_text(text, encoding="utf-8")
        else:
            screenshot(text, WIDTH, height(f), target)
    except OSError as exc:
        raise UserError(f"--chart {target}: cannot write the chart: {exc}") from None
