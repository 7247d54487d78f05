"""The dashboard's pages and their headers, as a Flask application (`make_app`).

Every page is drawn on the server from the typed status; no page runs script, so the
Content-Security-Policy allows none (and no inline style either). Every answer says not to be
framed, not to be sniffed as another type, and not to send a referrer; every page and CSV with
figures says not to be stored (`no-store`). Unknown addresses, an unreadable business and any
unexpected failure are pages with a sentence, never a traceback.

On a loopback address the dashboard answers only requests addressed to a loopback name (a web
page elsewhere cannot point a name of its own at 127.0.0.1 and read it: DNS rebinding); on any
other address, only requests that present the access token (`access`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, render_template, request
from werkzeug.exceptions import HTTPException

from connector.errors import ConnectorError
from connector.forecast import chart
from connector.web import access, pages, pages_books
from connector.web.pages import Filters
from connector.web.plan_view import PlanView
from connector.web.readers import BusinessView, Folder, Unavailable
from connector.web.tables import Table, csv_text

log = logging.getLogger("connector.web")
HERE = Path(__file__).resolve().parent

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
REALM = 'Basic realm="milestone-connector dashboard", charset="UTF-8"'


def make_app(folder: Folder, *, token: str | None = None, loopback: bool = True) -> Flask:
    """`token`: the access token every request must present (None: none asked, which only a
    loopback address may do; `server.Dashboard` refuses the rest)."""
    app = Flask(
        "connector.web",
        root_path=str(HERE),
        template_folder="templates",
        static_folder="static",
    )
    app.config.update(SEND_FILE_MAX_AGE_DEFAULT=300, MAX_CONTENT_LENGTH=16 * 1024)
    app.jinja_env.autoescape = True
    _guard(app, token, loopback)
    _routes(app, folder)
    return app


def _guard(app: Flask, token: str | None, loopback: bool) -> None:
    @app.before_request
    def check() -> Response | None:
        if request.method not in ("GET", "HEAD"):
            return _notice("Read-only", "This dashboard only shows; it takes no input.", 405)
        if loopback and not access.is_loopback(_host_name(request.host)):
            return _notice(
                "Wrong address",
                "This dashboard answers only at 127.0.0.1 or localhost on this machine.",
                421,
            )
        if token is not None and not access.token_matches(
            access.presented(request.headers.get("Authorization")), token
        ):
            answer = _notice("Access token needed", "Give the dashboard's access token.", 401)
            answer.headers["WWW-Authenticate"] = REALM
            return answer
        return None

    @app.after_request
    def headers(answer: Response) -> Response:
        answer.headers.update(HEADERS)
        if request.path.startswith("/static/"):
            answer.headers["Cache-Control"] = "no-cache"
        else:  # figures, or a notice about them: kept by no browser or proxy
            answer.headers["Cache-Control"] = "no-store"
        answer.headers.pop("Server", None)
        return answer

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        return _notice(exc.name, exc.description or exc.name, exc.code or 500)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        log.exception("the dashboard could not draw %s", request.path)
        if isinstance(exc, ConnectorError):
            return _notice("Cannot show this page", exc.for_person(" "), 503)
        return _notice(
            "Cannot show this page",
            f"Something unexpected went wrong ({type(exc).__name__}); the log of the "
            "dashboard has the details. Nothing was changed.",
            500,
        )


def _host_name(host: str) -> str:
    """The name of a Host header without its port: `[::1]:8080` -> `::1`."""
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _routes(app: Flask, folder: Folder) -> None:
    @app.get("/")
    def overview() -> str | Response:
        f = Filters.of(request.args)
        entries, notice = _everyone(folder)
        businesses, attention = pages.overview_tables(entries, f)
        return _page(
            "overview.html",
            "Overview",
            page="overview",
            f=f,
            query=f.query(),
            count=len(entries),
            as_of=folder.as_of,
            folder_notice=notice,
            businesses=_names(entries),
            statuses=pages.OUTCOMES,
            tables={"businesses": businesses, "attention": attention},
        )

    @app.get("/<any(businesses, attention):name>.csv")
    def overview_csv(name: str) -> Response:
        businesses, attention = pages.overview_tables(
            _everyone(folder)[0], Filters.of(request.args)
        )
        return _csv(businesses if name == "businesses" else attention, "all")

    def invoices_table() -> tuple[Table, list[BusinessView], list[Unavailable]]:
        entries, _ = _everyone(folder)
        views = [e for e in entries if isinstance(e, BusinessView)]
        f = Filters.of(request.args)
        return pages.invoice_table(views, f, with_business=True), views, _unavailable(entries)

    @app.get("/invoices")
    def invoices() -> str:
        f = Filters.of(request.args)
        table, views, notices = invoices_table()
        return _page(
            "invoices.html",
            "Invoices",
            page="invoices",
            f=f,
            query=f.query(),
            notices=notices,
            businesses=[v.name for v in views],
            customers=pages.customers_of(views),
            statuses=pages.INVOICE_STATUSES,
            tables={"invoices": table},
        )

    @app.get("/invoices.csv")
    def invoices_csv() -> Response:
        return _csv(invoices_table()[0], "all")

    @app.get("/b/<key>")
    def business(key: str) -> str | Response:
        view = _business(folder, key)
        if isinstance(view, Response):
            return view
        f = Filters.of(request.args)
        return _page(
            "business.html",
            view.name,
            page="business",
            view=view,
            f=f,
            query=f.query(),
            base=pages.page_of(key),
            customers=pages.customers_of([view]),
            statuses=pages.INVOICE_STATUSES,
            tables=pages_books.business_tables(view, f),
        )

    @app.get("/b/<key>/forecast.svg")
    def forecast_chart(key: str) -> Response:
        view = _business(folder, key)
        if isinstance(view, Response):
            return view
        if view.forecast is None:
            abort(404, description=view.forecast_note or "No forecast.")
        return Response(chart.svg(view.forecast), mimetype="image/svg+xml")

    @app.get("/b/<key>/<any(attention, contracts, invoices, aging, forecast, unbilled):name>.csv")
    def business_csv(key: str, name: str) -> Response:
        view = _business(folder, key)
        if isinstance(view, Response):
            return view
        return _csv(pages_books.business_tables(view, Filters.of(request.args))[name], key)

    @app.get("/b/<key>/plan")
    def plan(key: str) -> str | Response:
        found = _plan(folder, key)
        if isinstance(found, Response):
            return found
        f = Filters.of(request.args)
        return _page(
            "plan.html",
            f"{found.business}: plan",
            page="plan",
            plan=found,
            key=key,
            f=f,
            query=f.query(),
            base=pages.page_of(key),
            customers=sorted(set(found.customers.values())),
            tables=pages_books.plan_tables(found, f),
        )

    @app.get("/b/<key>/<any(plan, skipped):name>.csv")
    def plan_csv(key: str, name: str) -> Response:
        found = _plan(folder, key)
        if isinstance(found, Response):
            return found
        return _csv(pages_books.plan_tables(found, Filters.of(request.args))[name], key)


def _everyone(folder: Folder) -> tuple[list[BusinessView | Unavailable], str | None]:
    try:
        return folder.everyone(), None
    except ConnectorError as exc:  # the folder itself is gone or unreadable
        return [], exc.for_person(" ")


def _names(entries: list[BusinessView | Unavailable]) -> list[str]:
    return sorted(e.name for e in entries if isinstance(e, BusinessView))


def _unavailable(entries: list[BusinessView | Unavailable]) -> list[Unavailable]:
    return [e for e in entries if isinstance(e, Unavailable)]


def _found(folder: Folder, key: str, read: Callable[[str, Path], Any]) -> Any:
    try:
        path = folder.find(key)
    except ConnectorError as exc:
        return _notice("Cannot list the businesses", exc.for_person(" "), 503)
    if path is None:
        abort(404, description=f"No business {key!r} in this folder.")
    found = read(key, path)
    if isinstance(found, Unavailable):
        return _notice(f"Cannot show {key} right now", found.message, 503, config=found.config)
    return found


def _business(folder: Folder, key: str) -> BusinessView | Response:
    found: BusinessView | Response = _found(folder, key, folder.business)
    return found


def _plan(folder: Folder, key: str) -> PlanView | Response:
    found: PlanView | Response = _found(folder, key, folder.plan)
    return found


def _page(template: str, title: str, **context: Any) -> str:
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    return render_template(template, title=title, generated=generated, **context)


def _notice(heading: str, message: str, code: int, config: str | None = None) -> Response:
    body = render_template(
        "notice.html",
        title=heading,
        heading=heading,
        message=message,
        config=config,
        generated=None,
        page="notice",
    )
    return Response(body, status=code, mimetype="text/html")


SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _csv(table: Table, who: str) -> Response:
    name = SAFE_NAME.sub("-", f"{who}-{table.name}").strip("-") or table.name
    answer = Response(csv_text(table), mimetype="text/csv")
    answer.headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return answer
