"""A local GitHub REST API for milestones: `GET /repos/{owner}/{repo}/milestones` with Link
pagination, ETags and free 304s, the hourly quota headers (403 when it is spent), secondary
rate limits (429 or 403, with or without `retry-after`), `GET /user` for checking a personal
token and `GET /repos/{owner}/{repo}` (what a GitHub App installation token can read: `/user`
refuses it with 403).

`GitHubPerson` enters milestones the way a bookkeeper would in the GitHub web UI: a title, a
billing block in the description (see connector/sources/block.py), closing it when done.
"""

from __future__ import annotations

import hashlib
import math
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from connector.sources import block
from connector_sandbox.server import Clock, Request, Response, dumps
from connector_sandbox.trackers_base import TrackerSandbox

TOKEN = "ghp_sandbox0000000000000000000000000000"
APP_TOKEN = "ghs_sandboxinstallation000000000000000000"  # a GitHub App installation token
DOCS = "https://docs.github.com/rest"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class GitHubSandbox(TrackerSandbox):
    kind = "github"

    def __init__(
        self,
        *,
        port: int = 0,
        token: str = TOKEN,
        clock: Clock | None = None,
        hourly_limit: int = 5000,
        retry_after: int | None = 1,
    ):
        super().__init__(port=port, clock=clock, retry_after=retry_after or 0)
        self.token = token
        self.app_tokens = {APP_TOKEN}
        self.secondary_retry_after = retry_after  # None: a secondary limit without retry-after
        self.secondary_status = 429  # GitHub answers a secondary limit with 429 or 403
        self.hourly_limit = hourly_limit
        self.used = 0  # quota used this hour; 304s are free
        self.repos: dict[str, list[dict[str, Any]]] = {}
        self._next_id = 1000

    # --- admin, in Python ---

    def add_repo(self, full_name: str) -> None:
        with self.lock:
            self.repos.setdefault(full_name, [])

    def create_milestone(
        self,
        repo: str,
        title: str,
        description: str = "",
        *,
        state: str = "open",
        due_on: date | None = None,
        closed_at: datetime | None = None,
    ) -> int:
        with self.lock:
            now = self._now()
            self._next_id += 1
            milestones = self.repos.setdefault(repo, [])
            number = len(milestones) + 1
            item = {
                "url": f"{self.url}/repos/{repo}/milestones/{number}",
                "html_url": f"https://github.com/{repo}/milestone/{number}",
                "id": self._next_id,
                "node_id": f"MI_sandbox{self._next_id}",
                "number": number,
                "title": title,
                "description": description,
                "state": state,
                "open_issues": 0,
                "closed_issues": 0,
                "created_at": _iso(now),
                "updated_at": _iso(now),
                "due_on": f"{due_on.isoformat()}T07:00:00Z" if due_on else None,
                "closed_at": None,
            }
            milestones.append(item)
            self._apply(item, {"state": state, "closed_at": closed_at})
            return number

    def update_milestone(self, repo: str, number: int, **fields: Any) -> dict[str, Any]:
        """PATCH a milestone: title, description, state, closed_at, due_on (a `date` or None),
        as the UI sets them."""
        with self.lock:
            item = self.repos[repo][number - 1]
            self._apply(item, fields)
            return dict(item)

    def set_quota(self, limit: int, used: int = 0) -> None:
        with self.lock:
            self.hourly_limit, self.used = limit, used

    def _apply(self, item: dict[str, Any], fields: dict[str, Any]) -> None:
        now = self._now()
        for key in ("title", "description"):
            if key in fields:
                item[key] = fields[key]
        # `due_on` is an ISO 8601 timestamp (docs.github.com/en/rest/issues/milestones; the
        # reference's tracker-apis.md, GitHub "Fields"); a date picked in the UI is stored as
        # that day's start in the Pacific, so the source reads only its date part
        if "due_on" in fields:
            due = fields["due_on"]
            item["due_on"] = f"{due.isoformat()}T07:00:00Z" if due else None
        if "state" in fields:
            item["state"] = fields["state"]
            if fields["state"] == "closed":
                when = fields.get("closed_at") or now
                item["closed_at"] = _iso(when)
            else:
                item["closed_at"] = None
        item["updated_at"] = _iso(now)

    def _now(self) -> datetime:
        return self.clock.now()

    # --- HTTP ---

    def authorized(self, request: Request) -> bool:
        header = request.header("Authorization") or ""
        scheme, _, value = header.partition(" ")
        return scheme.lower() in ("bearer", "token") and value in (self.token, *self.app_tokens)

    def _is_app(self, request: Request) -> bool:
        return (request.header("Authorization") or "").partition(" ")[2] in self.app_tokens

    def error_body(self, message: str) -> dict[str, Any]:
        return {"message": message, "documentation_url": DOCS}

    def route(self, request: Request) -> Response:
        parts = [p for p in request.path.split("/") if p]
        if request.method != "GET":
            return Response.json(404, self.error_body("Not Found"))
        if parts == ["user"]:
            if self._is_app(request):
                refused = self.error_body("Resource not accessible by integration")
                return self._metered(request, Response.json(403, refused))
            return self._metered(request, Response.json(200, {"login": "sandbox-user", "id": 1}))
        if len(parts) == 3 and parts[0] == "repos":
            return self._repository(request, f"{parts[1]}/{parts[2]}")
        if len(parts) == 4 and parts[0] == "repos" and parts[3] == "milestones":
            return self._milestones(request, f"{parts[1]}/{parts[2]}")
        return Response.json(404, self.error_body("Not Found"))

    def _repository(self, request: Request, repo: str) -> Response:
        if repo not in self.repos:
            return self._metered(request, Response.json(404, self.error_body("Not Found")))
        owner, name = repo.split("/")
        body = {
            "id": 1296269,
            "name": name,
            "full_name": repo,
            "owner": {"login": owner},
            "private": True,
            "html_url": f"https://github.com/{repo}",
            "has_issues": True,
        }
        return self._metered(request, Response.json(200, body))

    def _milestones(self, request: Request, repo: str) -> Response:
        if repo not in self.repos:
            return self._metered(request, Response.json(404, self.error_body("Not Found")))
        state = request.param("state") or "open"
        if state not in ("open", "closed", "all"):
            return Response.json(422, self.error_body("Validation Failed"))
        items = [m for m in self.repos[repo] if state == "all" or m["state"] == state]
        items.sort(key=lambda m: (m["due_on"] is None, m["due_on"] or "", m["number"]))
        per_page = min(int(request.param("per_page") or 30), 100)
        page = max(int(request.param("page") or 1), 1)
        last = max(math.ceil(len(items) / per_page), 1)
        body = dumps(items[(page - 1) * per_page : page * per_page]).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "ETag": 'W/"' + hashlib.sha256(body).hexdigest()[:32] + '"',
        }
        links = []
        base = f"{self.url}/repos/{repo}/milestones"
        query = {k: v[0] for k, v in request.query.items()}
        if page < last:
            links.append(f'<{base}?{urlencode({**query, "page": page + 1})}>; rel="next"')
            links.append(f'<{base}?{urlencode({**query, "page": last})}>; rel="last"')
        if links:
            headers["Link"] = ", ".join(links)
        if request.header("If-None-Match") == headers["ETag"]:
            return self._metered(request, Response(304, b"", headers), free=True)
        return self._metered(request, Response(200, body, headers))

    def _metered(self, request: Request, response: Response, *, free: bool = False) -> Response:
        """GitHub's primary quota: every authorized request but a 304 counts."""
        if self.used >= self.hourly_limit and not free:
            response = Response.json(403, self.error_body("API rate limit exceeded for user ID 1."))
        elif not free:
            self.used += 1
        response.headers.update(self._quota_headers())
        return response

    def _quota_headers(self) -> dict[str, str]:
        """Sent on every answer: `x-ratelimit-reset` is the end of the hourly window even
        when plenty of quota remains."""
        reset = int((self._now().replace(minute=0, second=0) + timedelta(hours=1)).timestamp())
        return {
            "x-ratelimit-limit": str(self.hourly_limit),
            "x-ratelimit-remaining": str(max(self.hourly_limit - self.used, 0)),
            "x-ratelimit-used": str(self.used),
            "x-ratelimit-reset": str(reset),
            "x-ratelimit-resource": "core",
        }

    def throttled(self) -> Response:
        """A secondary rate limit: `secondary_status` (429 or 403), quota left, and
        `retry-after` unless `secondary_retry_after` is None."""
        headers = self._quota_headers()
        if self.secondary_retry_after is not None:
            headers["retry-after"] = str(self.secondary_retry_after)
        return Response.json(
            self.secondary_status,
            self.error_body("You have exceeded a secondary rate limit."),
            headers,
        )


class GitHubPerson:
    """A bookkeeper at the GitHub web UI: one milestone per record of the file-source format
    (id, contract, title, percent|amount, status, completed, accepted, terms_days, planned:
    the milestone's due date)."""

    def __init__(self, sandbox: GitHubSandbox, repo: str = "northwind/acme-web"):
        self.sandbox = sandbox
        self.repo = repo
        self.records: dict[str, dict[str, Any]] = {}
        self.numbers: dict[str, int] = {}
        sandbox.add_repo(repo)

    def seed(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            self.enter(record)

    def enter(self, record: dict[str, Any]) -> int:
        record = dict(record)
        number = self.sandbox.create_milestone(
            self.repo,
            record.get("title") or record["id"],
            self._description(record),
            due_on=record.get("planned"),
        )
        self.records[record["id"]], self.numbers[record["id"]] = record, number
        self._close_if_finished(record)
        return number

    def edit(self, mid: str, **fields: Any) -> None:
        record = self.records[mid]
        record.update(fields)
        self.sandbox.update_milestone(
            self.repo,
            self.numbers[mid],
            title=record.get("title") or mid,
            description=self._description(record),
            due_on=record.get("planned"),
        )
        self._close_if_finished(record)

    def break_one(self, mid: str) -> None:
        self.edit(mid, amount="12,00", percent=None)  # a comma is not a decimal point here

    def _close_if_finished(self, record: dict[str, Any]) -> None:
        status = record.get("status", "open")
        if status in ("done", "cancelled"):
            completed = record.get("completed")
            closed_at = (
                datetime(completed.year, completed.month, completed.day, 12)
                if isinstance(completed, date)
                else None
            )
            if closed_at is not None:
                closed_at = closed_at.replace(tzinfo=self.sandbox.clock.now().tzinfo)
            self.sandbox.update_milestone(
                self.repo, self.numbers[record["id"]], state="closed", closed_at=closed_at
            )

    @staticmethod
    def _description(record: dict[str, Any]) -> str:
        values = {"id": record["id"], "contract": record.get("contract", "")}
        for key in ("amount", "percent", "accepted", "terms_days"):
            if record.get(key) not in (None, ""):
                values[key] = str(record[key])
        if record.get("status") == "cancelled":
            values["status"] = "cancelled"
        return "Billing milestone.\n\n" + block.render(values)
