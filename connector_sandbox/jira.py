"""A local Jira Cloud REST v3 for billing milestones kept as issues: `/rest/api/3/myself`,
`/rest/api/3/field`, and `GET|POST /rest/api/3/search/jql` with `nextPageToken` (which a test
can expire). The removed `/rest/api/3/search` answers 410, as Jira Cloud does. A page token
goes on after the last issue served in the query's order, so an issue edited while the pages
are read moves to the end and comes again, as in Jira.

Basic auth with the account email and API token; 429 with `Retry-After` and an ISO
`X-RateLimit-Reset`. Number fields are served as JSON numbers (Decimal here, never float).
`JiraPerson` enters milestones the way a bookkeeper would: an issue of type "Billing Milestone"
with custom fields, moved to Done (or Cancelled) when finished.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from connector_sandbox import jira_jql
from connector_sandbox.server import Clock, Request, Response
from connector_sandbox.trackers_base import TrackerSandbox

EMAIL = "bookkeeper@northwind.example"
TOKEN = "ATATT3xSandbox0000000000000000"
STATUSES = {"To Do": "new", "In Progress": "indeterminate", "Done": "done", "Cancelled": "done"}
BUILTIN = ("summary", "status", "resolutiondate", "updated", "duedate", "issuetype", "project")


def jira_time(moment: datetime, zone: str) -> str:
    """Jira's form: 2026-09-20T10:00:00.000-0500, in the user's time zone."""
    local = moment.astimezone(ZoneInfo(zone))
    return (
        local.strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{local.microsecond // 1000:03d}"
        + (local.strftime("%z"))
    )


class JiraSandbox(TrackerSandbox):
    kind = "jira"

    def __init__(
        self,
        *,
        port: int = 0,
        email: str = EMAIL,
        token: str = TOKEN,
        time_zone: str = "America/Chicago",
        clock: Clock | None = None,
        retry_after: int = 1,
    ):
        super().__init__(port=port, clock=clock, retry_after=retry_after)
        self.email, self.token, self.time_zone = email, token, time_zone
        self.fields: list[dict[str, Any]] = [
            {"id": f, "key": f, "name": f.capitalize(), "custom": False, "schema": {"type": f}}
            for f in BUILTIN
        ]
        self.issues: list[dict[str, Any]] = []
        # token -> (the query, the sort key of the last issue served)
        self.page_tokens: dict[str, tuple[str, tuple[Any, int]]] = {}
        self._expire = 0  # how many of the next page-token requests find it expired
        self._before_next_page: Callable[[], None] | None = None
        self.searches = 0
        self.last_jql: str | None = None

    # --- admin, in Python ---

    def add_field(self, name: str, kind: str = "number") -> str:
        """A custom field: kind is number, string, date or option (a single select)."""
        with self.lock:
            fid = f"customfield_{10040 + len(self.fields)}"
            self.fields.append(
                {
                    "id": fid,
                    "key": fid,
                    "name": name,
                    "custom": True,
                    "schema": {"type": kind, "customId": int(fid.split("_")[1])},
                }
            )
            return fid

    def field_id(self, name: str) -> str:
        return next(f["id"] for f in self.fields if f["name"] == name)

    def create_issue(
        self,
        project: str,
        summary: str,
        values: dict[str, Any],
        issuetype: str = "Billing Milestone",
    ) -> str:
        with self.lock:
            number = sum(1 for i in self.issues if i["project"] == project) + 1
            issue: dict[str, Any] = {
                "id": str(10000 + len(self.issues) + 1),
                "key": f"{project}-{number}",
                "project": project,
                "issuetype": issuetype,
                "summary": summary,
                "status": "To Do",
                "resolutiondate": None,
                "duedate": None,  # "YYYY-MM-DD", asked for in `fields` (tracker-apis.md, Jira)
                "values": {},
                "updated": self.clock.now(),
            }
            self.issues.append(issue)
            self.update_issue(issue["key"], **values)
            return issue["key"]

    def update_issue(
        self,
        key: str,
        *,
        summary: str | None = None,
        status: str | None = None,
        resolved: datetime | None = None,
        duedate: date | bool | None = False,
        **values: Any,
    ) -> None:
        """Edit fields (by name), or move to a status; Done sets the resolution date.
        `duedate`: the Due date (a `date`, or None to clear it; False leaves it)."""
        with self.lock:
            issue = self.issue(key)
            if summary is not None:
                issue["summary"] = summary
            if duedate is not False:
                issue["duedate"] = duedate
            for name, value in values.items():
                issue["values"][self.field_id(name)] = value
            if status is not None:
                issue["status"] = status
                done = STATUSES[status] == "done"
                issue["resolutiondate"] = (resolved or self.clock.now()) if done else None
            # strictly later than before: two edits in one millisecond must not look alike
            now = self.clock.now()
            issue["updated"] = max(now, issue["updated"] + timedelta(milliseconds=1))

    def issue(self, key: str) -> dict[str, Any]:
        return next(i for i in self.issues if i["key"] == key)

    def delete_issue(self, key: str) -> None:
        with self.lock:
            self.issues = [i for i in self.issues if i["key"] != key]

    def before_next_page(self, action: Callable[[], None]) -> None:
        """Run `action` (a person's edit) once, when the next page-token request arrives:
        a change made while the connector is reading."""
        with self.lock:
            self._before_next_page = action

    def expire_page_tokens(self, count: int = 1) -> None:
        """As if seven days had passed in the middle of a read: the next `count` requests that
        bring a nextPageToken find it expired."""
        with self.lock:
            self._expire = count

    # --- HTTP ---

    def authorized(self, request: Request) -> bool:
        header = request.header("Authorization") or ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, secret = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return False
        return (user, secret) == (self.email, self.token)

    def error_body(self, message: str) -> dict[str, Any]:
        return {"errorMessages": [message], "errors": {}}

    def unauthorized(self) -> Response:
        return Response.json(
            401, self.error_body("Client must be authenticated to access this resource.")
        )

    def throttled(self) -> Response:
        reset = (self.clock.now() + timedelta(seconds=self.retry_after)).isoformat()
        return Response.json(
            429,
            self.error_body("Rate limit exceeded."),
            {
                "Retry-After": str(self.retry_after),
                "X-RateLimit-Reset": reset.replace("+00:00", "Z"),
                "RateLimit-Reason": "jira-burst-based",
            },
        )

    def route(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        if path == "/rest/api/3/myself":
            return Response.json(
                200,
                {
                    "accountId": "5b10ac8d82e05b22cc7d4ef5",
                    "emailAddress": self.email,
                    "displayName": "Northwind Bookkeeper",
                    "timeZone": self.time_zone,
                    "active": True,
                },
            )
        if path == "/rest/api/3/field":
            return Response.json(200, self.fields)
        if path == "/rest/api/3/search":
            return Response.json(
                410,
                self.error_body(
                    "The requested API has been removed. Please migrate to the "
                    "/rest/api/3/search/jql API. A full migration guideline is available at "
                    "https://developer.atlassian.com/changelog/#CHANGE-2046"
                ),
            )
        if path == "/rest/api/3/search/jql":
            return self._search(request)
        return Response.json(404, self.error_body("Not found"))

    def _search(self, request: Request) -> Response:
        if request.method == "POST":
            body = request.json() or {}
        else:
            body = {k: v[0] for k, v in request.query.items()}
            body["fields"] = (body.get("fields") or "").split(",")
        fields = [f for f in body.get("fields") or [] if f]
        size = min(int(body.get("maxResults") or 50), 5000)
        token = body.get("nextPageToken")
        self.searches += 1
        if token:
            if self._before_next_page is not None:
                action, self._before_next_page = self._before_next_page, None
                action()
            if self._expire > 0:
                self._expire -= 1
                self.page_tokens.clear()
            if token not in self.page_tokens:
                return Response.json(
                    400, self.error_body("The provided next page token is invalid or expired.")
                )
            jql, after = self.page_tokens.pop(token)
        else:
            jql, after = str(body.get("jql") or ""), None
            self.last_jql = jql
        try:
            query = jira_jql.parse(jql, self.time_zone)
        except jira_jql.JqlError as exc:
            return Response.json(400, self.error_body(str(exc)))
        sort = "updated" if query.order == "updated" else "id"

        def position(issue: dict[str, Any]) -> tuple[Any, int]:
            return (issue[sort], int(issue["id"]))

        found = sorted(
            (i for i in self.issues if query.match(i)), key=position, reverse=query.descending
        )
        if after is not None:
            found = [
                i
                for i in found
                if (position(i) < after if query.descending else position(i) > after)
            ]
        page, rest = found[:size], found[size:]
        out: dict[str, Any] = {
            "issues": [self._render(i, fields) for i in page],
            "isLast": not rest,
        }
        if rest:
            out["nextPageToken"] = next_token = uuid.uuid4().hex
            self.page_tokens[next_token] = (jql, position(page[-1]))
        return Response.json(200, out)

    def _render(self, issue: dict[str, Any], fields: list[str]) -> dict[str, Any]:
        everything = "*all" in fields
        wanted = {f["id"] for f in self.fields} if everything else set(fields)
        zone = self.time_zone
        status = issue["status"]
        available: dict[str, Any] = {
            "summary": issue["summary"],
            "status": {
                "name": status,
                "statusCategory": {"key": STATUSES[status], "name": status},
            },
            "resolutiondate": jira_time(issue["resolutiondate"], zone)
            if issue["resolutiondate"]
            else None,
            "updated": jira_time(issue["updated"], zone),
            "duedate": issue["duedate"].isoformat() if issue["duedate"] else None,
            "issuetype": {"name": issue["issuetype"]},
            "project": {"key": issue["project"]},
        }
        for fid, value in issue["values"].items():
            kind = next(f["schema"]["type"] for f in self.fields if f["id"] == fid)
            if kind == "option" and value is not None:
                value = {"self": f"{self.url}/rest/api/3/customFieldOption/1", "value": value}
            elif kind == "date" and isinstance(value, date):
                value = value.isoformat()
            available[fid] = value
        for f in self.fields:
            available.setdefault(f["id"], None)
        return {
            "expand": "",
            "id": issue["id"],
            "self": f"{self.url}/rest/api/3/issue/{issue['id']}",
            "key": issue["key"],
            "fields": {k: v for k, v in available.items() if k in wanted},
        }


# The fields a bookkeeper adds to the "Billing Milestone" issue type, as the README says.
FIELDS = {
    "Milestone ID": "string",
    "Contract": "option",
    "Amount": "number",
    "Percent of contract": "number",
    "Accepted on": "date",
    "Payment terms (days)": "number",
}


class JiraPerson:
    """A bookkeeper in Jira: one "Billing Milestone" issue per file-source record."""

    def __init__(self, sandbox: JiraSandbox, project: str = "NW"):
        self.sandbox = sandbox
        self.project = project
        self.keys: dict[str, str] = {}
        self.records: dict[str, dict[str, Any]] = {}
        known = {f["name"] for f in sandbox.fields}
        for name, kind in FIELDS.items():
            if name not in known:
                sandbox.add_field(name, kind)

    def seed(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            self.enter(record)

    def enter(self, record: dict[str, Any]) -> str:
        record = dict(record)
        key = self.sandbox.create_issue(
            self.project, record.get("title") or record["id"], self._values(record)
        )
        if record.get("planned"):
            self.sandbox.update_issue(key, duedate=record["planned"])
        self.keys[record["id"]], self.records[record["id"]] = key, record
        self._move(record)
        return key

    def edit(self, mid: str, **fields: Any) -> None:
        record = self.records[mid]
        record.update(fields)
        self.sandbox.update_issue(
            self.keys[mid],
            summary=record.get("title") or mid,
            duedate=record.get("planned"),
            **self._values(record),
        )
        self._move(record)

    def break_one(self, mid: str) -> None:
        """Fills in both Amount and Percent of contract: the milestone cannot say which."""
        self.edit(mid, amount=self.records[mid].get("amount") or "100", percent="10")

    def _move(self, record: dict[str, Any]) -> None:
        status = record.get("status", "open")
        target = {"open": "To Do", "done": "Done", "cancelled": "Cancelled"}[status]
        completed = record.get("completed")
        resolved = (
            datetime(completed.year, completed.month, completed.day, 17, tzinfo=UTC)
            if (isinstance(completed, date))
            else None
        )
        if self.sandbox.issue(self.keys[record["id"]])["status"] != target or resolved:
            self.sandbox.update_issue(self.keys[record["id"]], status=target, resolved=resolved)

    @staticmethod
    def _values(record: dict[str, Any]) -> dict[str, Any]:
        def number(key: str) -> Decimal | None:
            raw = record.get(key)
            return None if raw in (None, "") else Decimal(str(raw))

        accepted = record.get("accepted")
        return {
            "Milestone ID": record["id"],
            "Contract": record.get("contract"),
            "Amount": number("amount"),
            "Percent of contract": number("percent"),
            "Accepted on": accepted if isinstance(accepted, date) else None,
            "Payment terms (days)": number("terms_days"),
        }
