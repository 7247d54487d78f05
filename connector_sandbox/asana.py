"""A local Asana REST API for milestones: `GET /tasks?project=&modified_since=` with
`limit`/`offset` paging (`next_page`), `GET /tasks/{gid}` and its subtasks (approval tasks),
`GET /users/me`; bearer personal access tokens; 429 with `Retry-After`; offsets a test can
expire. It remembers the last `modified_since` it was sent and counts subtask reads, so tests
can see what the connector asked for and what it cost.

Custom fields are served as Asana does: a percentage is stored as a fraction (0.25 = 25%), a
currency field carries `currency_code`. `AsanaPerson` enters milestones the way a bookkeeper
would: a milestone task with custom fields, completed when done, and a "Client approval"
approval subtask the client approves.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from connector_sandbox.server import Clock, Request, Response
from connector_sandbox.trackers_base import TrackerSandbox

TOKEN = "2/1200000000000001/1200000000000002:sandbox0000000000"
BASE = "/api/1.0"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AsanaSandbox(TrackerSandbox):
    kind = "asana"

    def __init__(
        self, *, port: int = 0, token: str = TOKEN, clock: Clock | None = None, retry_after: int = 1
    ):
        super().__init__(port=port, clock=clock, retry_after=retry_after)
        self.token = token
        self.projects: dict[str, str] = {}  # gid -> name
        self.fields: dict[str, dict[str, Any]] = {}  # gid -> definition
        self.tasks: dict[str, dict[str, Any]] = {}
        self.offsets: dict[str, list[str]] = {}
        self._expire = 0  # how many of the next offset requests find it expired
        self.last_modified_since: str | None = None
        self.subtask_reads = 0
        self._gid = 1200000000000100

    def _new_gid(self) -> str:
        self._gid += 1
        return str(self._gid)

    # --- admin, in Python ---

    def add_project(self, name: str) -> str:
        with self.lock:
            gid = self._new_gid()
            self.projects[gid] = name
            return gid

    def add_field(
        self,
        name: str,
        subtype: str = "number",
        *,
        format: str = "none",
        currency_code: str | None = None,
        precision: int = 2,
        options: tuple[str, ...] = (),
    ) -> str:
        with self.lock:
            gid = self._new_gid()
            self.fields[gid] = {
                "gid": gid,
                "name": name,
                "resource_type": "custom_field",
                "resource_subtype": subtype,
                "type": subtype,
                "format": format if subtype == "number" else None,
                "currency_code": currency_code,
                "precision": precision,
                "enum_options": [{"gid": self._new_gid(), "name": o} for o in options],
            }
            return gid

    def update_field(self, name: str, **changes: Any) -> None:
        """Change a field's definition, e.g. `currency_code="EUR"` or `precision=1`."""
        with self.lock:
            self.fields[self.field_gid(name)].update(changes)

    def delete_task(self, gid: str) -> None:
        with self.lock:
            del self.tasks[gid]

    def expire_offsets(self, count: int = 1) -> None:
        """As if the listing had taken too long: the next `count` requests that bring an
        offset find it expired."""
        with self.lock:
            self._expire = count

    def field_gid(self, name: str) -> str:
        return next(g for g, f in self.fields.items() if f["name"] == name)

    def create_task(
        self,
        project: str | None,
        name: str,
        *,
        subtype: str = "milestone",
        parent: str | None = None,
        values: dict[str, Any] | None = None,
    ) -> str:
        with self.lock:
            gid = self._new_gid()
            self.tasks[gid] = {
                "gid": gid,
                "resource_type": "task",
                "resource_subtype": subtype,
                "name": name,
                "completed": False,
                "completed_at": None,
                "due_on": None,
                "modified_at": self.clock.now(),
                "project": project,
                "parent": parent,
                "approval_status": "pending" if subtype == "approval" else None,
                "values": {},
            }
            self.update_task(gid, **(values or {}))
            return gid

    def update_task(
        self,
        gid: str,
        *,
        name: str | None = None,
        completed: bool | None = None,
        completed_at: datetime | None = None,
        approval_status: str | None = None,
        resource_subtype: str | None = None,
        due_on: date | bool | None = False,
        **values: Any,
    ) -> None:
        """Set custom fields by name (numbers as Decimal, enums by option name, dates as date),
        complete or reopen, approve, set the due date (`due_on`: a `date`, None clears it,
        False leaves it), or make a milestone a plain task (`default_task`)."""
        with self.lock:
            task = self.tasks[gid]
            if name is not None:
                task["name"] = name
            if due_on is not False:
                # `due_on`: a date, "YYYY-MM-DD", in opt_fields (tracker-apis.md, Asana)
                task["due_on"] = due_on.isoformat() if isinstance(due_on, date) else None
            if resource_subtype is not None:
                task["resource_subtype"] = resource_subtype
            for field_name, value in values.items():
                task["values"][self.field_gid(field_name)] = value
            if approval_status is not None:
                task["approval_status"] = approval_status
                completed = approval_status != "pending"
            if completed is not None:
                task["completed"] = completed
                task["completed_at"] = (completed_at or self.clock.now()) if completed else None
            now = self.clock.now()
            task["modified_at"] = max(now, task["modified_at"] + timedelta(milliseconds=1))

    # --- HTTP ---

    def authorized(self, request: Request) -> bool:
        return request.header("Authorization") == f"Bearer {self.token}"

    def error_body(self, message: str) -> dict[str, Any]:
        return {
            "errors": [{"message": message, "help": "https://developers.asana.com/docs/errors"}]
        }

    def unauthorized(self) -> Response:
        return Response.json(401, self.error_body("Not Authorized"))

    def route(self, request: Request) -> Response:
        if not request.path.startswith(BASE + "/") or request.method != "GET":
            return Response.json(404, self.error_body("Not Found"))
        parts = [p for p in request.path[len(BASE) :].split("/") if p]
        opt = [f for f in (request.param("opt_fields") or "").split(",") if f]
        if parts == ["users", "me"]:
            return Response.json(
                200, {"data": {"gid": "1200000000000001", "name": "Northwind Bookkeeper"}}
            )
        if parts == ["tasks"]:
            return self._list(request, opt)
        if len(parts) >= 2 and parts[0] == "tasks":
            task = self.tasks.get(parts[1])
            if task is None:
                return Response.json(404, self.error_body(f"task: Unknown object: {parts[1]}"))
            if parts[2:] == ["subtasks"]:
                self.subtask_reads += 1
                subs = [t for t in self.tasks.values() if t["parent"] == task["gid"]]
                return Response.json(200, {"data": [self._render(t, opt) for t in subs]})
            if len(parts) == 2:
                return Response.json(200, {"data": self._render(task, opt)})
        return Response.json(404, self.error_body("Not Found"))

    def _list(self, request: Request, opt: list[str]) -> Response:
        limit = int(request.param("limit") or 100)
        if not 1 <= limit <= 100:
            return Response.json(400, self.error_body("limit: Must be between 1 and 100"))
        offset = request.param("offset")
        if offset:
            if self._expire > 0:
                self._expire -= 1
                self.offsets.clear()
            if offset not in self.offsets:
                return Response.json(
                    400, self.error_body("offset: Your pagination token has expired.")
                )
            remaining = self.offsets.pop(offset)
        else:
            project = request.param("project")
            if project not in self.projects:
                return Response.json(404, self.error_body(f"project: Unknown object: {project}"))
            since_raw = request.param("modified_since")
            self.last_modified_since = since_raw
            since = datetime.fromisoformat(since_raw.replace("Z", "+00:00")) if since_raw else None
            remaining = [
                t["gid"]
                for t in self.tasks.values()
                if t["project"] == project and (since is None or t["modified_at"] >= since)
            ]
        page, rest = remaining[:limit], remaining[limit:]
        next_page = None
        if rest:
            token = uuid.uuid4().hex
            self.offsets[token] = rest
            path = f"/tasks?limit={limit}&offset={token}"
            next_page = {"offset": token, "path": path, "uri": self.url + BASE + path}
        data = [self._render(self.tasks[g], opt) for g in page]
        return Response.json(200, {"data": data, "next_page": next_page})

    def _render(self, task: dict[str, Any], opt: list[str]) -> dict[str, Any]:
        wanted = {f.split(".")[0] for f in opt}
        full: dict[str, Any] = {
            "gid": task["gid"],
            "resource_type": "task",
            "resource_subtype": task["resource_subtype"],
            "name": task["name"],
            "completed": task["completed"],
            "completed_at": _iso(task["completed_at"]) if task["completed_at"] else None,
            "due_on": task["due_on"],
            "modified_at": _iso(task["modified_at"]),
            "permalink_url": f"https://app.asana.com/0/{task['project'] or 0}/{task['gid']}",
            "approval_status": task["approval_status"],
            "custom_fields": [self._field_value(g, v) for g, v in task["values"].items()],
        }
        compact = {"gid", "resource_type", "resource_subtype", "name"}
        return {k: v for k, v in full.items() if k in compact or k in wanted}

    def _field_value(self, gid: str, value: Any) -> dict[str, Any]:
        field = self.fields[gid]
        out = {k: field[k] for k in ("gid", "name", "resource_subtype", "type")}
        kind = field["resource_subtype"]
        if kind == "number":
            out.update(
                number_value=value,
                format=field["format"],
                currency_code=field["currency_code"],
                precision=field["precision"],
            )
            shown = None if value is None else value
            if value is not None and field["format"] == "percentage":
                shown = f"{(value * 100).quantize(Decimal(1).scaleb(-field['precision']))}%"
            out["display_value"] = None if shown is None else str(shown)
        elif kind == "enum":
            option = next((o for o in field["enum_options"] if o["name"] == value), None)
            out.update(enum_value=option, display_value=value)
        elif kind == "date":
            out.update(
                date_value={"date": value.isoformat(), "date_time": None} if value else None,
                display_value=value.isoformat() if value else None,
            )
        else:
            out.update(text_value=value, display_value=value)
        return out


class AsanaPerson:
    """A bookkeeper in Asana: one milestone task per file-source record, custom fields filled
    in, completed when done, with a "Client approval" subtask the client approves."""

    def __init__(
        self,
        sandbox: AsanaSandbox,
        project_name: str = "Northwind client work",
        currency: str = "USD",
    ):
        """`currency`: the Amount field's currency (an Asana currency field has one)."""
        self.sandbox = sandbox
        self.project = sandbox.add_project(project_name)
        self.gids: dict[str, str] = {}
        self.records: dict[str, dict[str, Any]] = {}
        known = {f["name"] for f in sandbox.fields.values()}
        specs: dict[str, dict[str, Any]] = {
            "Milestone ID": {"subtype": "text"},
            "Contract": {"subtype": "text"},
            "Amount": {"format": "currency", "currency_code": currency},
            "Percent of contract": {"format": "percentage"},
            "Payment terms (days)": {"precision": 0},
            "Milestone status": {"subtype": "enum", "options": ("Active", "Cancelled")},
        }
        for name, spec in specs.items():
            if name not in known:
                sandbox.add_field(name, **spec)

    def seed(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            self.enter(record)

    def enter(self, record: dict[str, Any]) -> str:
        record = dict(record)
        gid = self.sandbox.create_task(
            self.project, record.get("title") or record["id"], values=self._values(record)
        )
        if record.get("planned"):
            self.sandbox.update_task(gid, due_on=record["planned"])
        self.gids[record["id"]], self.records[record["id"]] = gid, record
        self._finish(record)
        return gid

    def edit(self, mid: str, **fields: Any) -> None:
        record = self.records[mid]
        record.update(fields)
        self.sandbox.update_task(
            self.gids[mid],
            name=record.get("title") or mid,
            due_on=record.get("planned"),
            **self._values(record),
        )
        self._finish(record)

    def break_one(self, mid: str) -> None:
        """Both Amount and Percent of contract filled in: the milestone cannot say which."""
        self.edit(mid, amount=self.records[mid].get("amount") or "100", percent="10")

    def _finish(self, record: dict[str, Any]) -> None:
        gid = self.gids[record["id"]]
        done = record.get("status") == "done"
        completed = record.get("completed")
        self.sandbox.update_task(gid, completed=done, completed_at=_noon(completed))
        accepted = record.get("accepted")
        if isinstance(accepted, date):
            approval = next(
                (t["gid"] for t in self.sandbox.tasks.values() if t["parent"] == gid), None
            ) or self.sandbox.create_task(None, "Client approval", subtype="approval", parent=gid)
            self.sandbox.update_task(
                approval, approval_status="approved", completed_at=_noon(accepted)
            )

    @staticmethod
    def _values(record: dict[str, Any]) -> dict[str, Any]:
        def number(key: str) -> Decimal | None:
            raw = record.get(key)
            return None if raw in (None, "") else Decimal(str(raw))

        percent = number("percent")
        return {
            "Milestone ID": record["id"],
            "Contract": record.get("contract"),
            "Amount": number("amount"),
            "Percent of contract": None if percent is None else percent.scaleb(-2),
            "Payment terms (days)": number("terms_days"),
            "Milestone status": "Cancelled" if record.get("status") == "cancelled" else "Active",
        }


def _noon(day: object) -> datetime | None:
    return datetime(day.year, day.month, day.day, 17, tzinfo=UTC) if isinstance(day, date) else None
