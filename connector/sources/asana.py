"""Asana milestones as billing milestones (`kind = "asana"`, `projects = [gid, ...]`).

Tasks come from `GET /tasks?project=...&modified_since=...` (the only list endpoint that filters
on modification) and only `resource_subtype = milestone` ones are kept. Amount and percent are
number custom fields; a percentage field stores a fraction (0.25 means 25%). Completed /
completed_at say done; acceptance is a date custom field when one is configured, otherwise an
approval subtask the client approved (its completion day). Approving a subtask need not touch
the milestone's `modified_at`, so milestones done but not yet accepted are re-read every run
until they are (the cursor carries their gids).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from connector.models import InvalidMilestone, Milestone
from connector.plugins import PluginContext
from connector.sources.base import SourceBatch
from connector.sources.http import TrackerError, TrackerHttp
from connector.sources.records import (
    iso,
    local_date,
    now_utc,
    overlap_start,
    parse_time,
    split,
    to_milestone,
)
from connector.sources.tokens import auth_hint, load_token

OPT_FIELDS = (
    "name,resource_subtype,completed,completed_at,due_on,modified_at,permalink_url,"
    "approval_status,custom_fields.(name,resource_subtype,number_value,format,currency_code,"
    "precision,display_value,text_value,enum_value.name,date_value.date)"
)
_GID = re.compile(r"^\d+$")


class AsanaFields(BaseModel):
    """Names of the custom fields that hold each term."""

    model_config = ConfigDict(extra="forbid")

    contract: str = "Contract"
    amount: str = "Amount"
    percent: str = "Percent of contract"
    accepted: str | None = None  # a date field; default: an approved approval subtask
    status: str | None = "Milestone status"  # an enum: the option "Cancelled" cancels
    terms_days: str | None = None
    id: str | None = None  # a text field with the milestone id; default: the task gid


class AsanaSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    projects: list[str] = Field(min_length=1, description="project gids (digits in its URL)")
    fields: AsanaFields = AsanaFields()
    overlap_minutes: int = Field(default=5, ge=1, le=1440)
    page_size: int = Field(default=100, ge=1, le=100)
    api_url: str = "https://app.asana.com/api/1.0"
    timeout: float = Field(default=30.0, gt=0, le=300, description="seconds per request")
    max_wait: float = Field(default=60.0, ge=0, le=3600, description="longest back-off, seconds")

    @field_validator("projects")
    @classmethod
    def _gids(cls, value: list[str]) -> list[str]:
        for gid in value:
            if not _GID.match(gid):
                raise ValueError(
                    f"expected a project gid (the digits in the project's URL), got {gid!r}"
                )
        return value


def session(settings: AsanaSettings, token: str) -> TrackerHttp:
    return TrackerHttp(
        "Asana",
        settings.api_url,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        auth_hint=auth_hint("asana"),
        timeout=settings.timeout,
        max_wait=settings.max_wait,
    )


class AsanaSource:
    name = "asana"

    def __init__(self, settings: AsanaSettings, business: str, zone: str = "UTC"):
        self.settings = settings
        self.business = business
        self.zone = zone
        self._http: TrackerHttp | None = None

    @property
    def http(self) -> TrackerHttp:
        if self._http is None:
            _, token = load_token(self.business, "asana")
            self._http = session(self.settings, token)
        return self._http

    def check(self) -> str:
        me = self.http.get("/users/me").data["data"]
        batch = self.read(None)
        return (
            f"Asana as {me.get('name', '?')}: {len(self.settings.projects)} project(s), "
            f"{len(batch.milestones)} milestone(s), {len(batch.invalid)} invalid"
        )

    def read(self, cursor: str | None) -> SourceBatch:
        started = now_utc()
        since, seen, awaiting = _load_cursor(cursor)
        tasks: dict[str, dict[str, Any]] = {}
        for project in self.settings.projects:
            for task in self._tasks(project, since):
                if task.get("resource_subtype") == "milestone":
                    tasks.setdefault(str(task["gid"]), task)
        for gid in awaiting - set(tasks):  # done, not yet accepted: approval may have come
            task = self._task(gid)
            if task is not None:
                tasks[gid] = task
        boundary = overlap_start(started, self.settings.overlap_minutes)
        keep: list[tuple[str, str]] = []
        waiting: list[str] = []
        results: list[Milestone | InvalidMilestone] = []
        for gid, task in tasks.items():
            pair = (gid, str(task.get("modified_at")))
            modified = parse_time(task.get("modified_at"))
            if modified is not None and modified >= boundary:
                keep.append(pair)
            result = self._parse(task)
            if self._awaits_approval(task, result):
                waiting.append(gid)
            elif pair in seen and gid not in awaiting:
                continue  # read last time, unchanged since
            results.append(result)
        good, bad = split(results)
        state = {"since": iso(started), "seen": sorted(keep), "awaiting": sorted(waiting)}
        return SourceBatch(good, bad, json.dumps(state), complete=since is None)

    def _tasks(self, project: str, since: datetime | None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {
            "project": project,
            "opt_fields": OPT_FIELDS,
            "limit": self.settings.page_size,
        }
        if since is not None:
            params["modified_since"] = iso(overlap_start(since, self.settings.overlap_minutes))
        out: list[dict[str, Any]] = []
        try:
            for page in self.http.token_pages(
                lambda offset: self.http.get("/tasks", {**params, "offset": offset}),
                lambda data: (data.get("next_page") or {}).get("offset"),
            ):
                out += page.data.get("data") or []
        except TrackerError as exc:
            if exc.status == 404:
                raise TrackerError(
                    "Asana",
                    f"project {project} not found, or the token's user cannot see it "
                    f"(tracker.projects): {exc.detail}",
                    status=404,
                ) from None
            raise
        return out

    def _task(self, gid: str) -> dict[str, Any] | None:
        try:
            return self.http.get(f"/tasks/{gid}", {"opt_fields": OPT_FIELDS}).data["data"]
        except TrackerError as exc:
            if exc.status == 404:  # deleted since: nothing to re-check
                return None
            raise

    def _awaits_approval(self, task: dict[str, Any], result: object) -> bool:
        return (
            self.settings.fields.accepted is None
            and bool(task.get("completed"))
            and isinstance(result, Milestone)
            and result.accepted is None
        )

    def _approved_on(self, gid: str) -> Any:
        """The day an approval subtask was approved, or None."""
        subtasks = self.http.get(
            f"/tasks/{gid}/subtasks",
            {"opt_fields": "resource_subtype,approval_status,completed_at"},
        ).data.get("data")
        days = [
            local_date(t.get("completed_at"), self.zone)
            for t in subtasks or []
            if t.get("resource_subtype") == "approval" and t.get("approval_status") == "approved"
        ]
        days = [d for d in days if d is not None]
        return max(days) if days else None

    def _parse(self, task: dict[str, Any]) -> Milestone | InvalidMilestone:
        gid = str(task.get("gid"))
        where = task.get("permalink_url") or f"https://app.asana.com/0/0/{gid}"
        names = self.settings.fields.model_dump()
        by_name = {str(f.get("name")): f for f in task.get("custom_fields") or []}

        def value(term: str) -> Any:
            name = names.get(term)
            field = by_name.get(name) if name else None
            if field is None:
                return None
            kind = field.get("resource_subtype")
            if kind == "number":
                number = field.get("number_value")
                percentage = field.get("format") == "percentage"
                if isinstance(number, Decimal | int) and term == "percent" and percentage:
                    return Decimal(number).scaleb(2)  # a fraction: 0.25 is 25%
                if isinstance(number, Decimal) and term == "terms_days":
                    return int(number) if number == number.to_integral() else number
                return number
            if kind == "enum":
                return (field.get("enum_value") or {}).get("name")
            if kind == "date":
                return (field.get("date_value") or {}).get("date")
            return field.get("text_value") or field.get("display_value")

        completed = bool(task.get("completed"))
        status = "done" if completed else "open"
        if str(value("status") or "").strip().lower() in ("cancelled", "canceled"):
            status = "cancelled"
        accepted = value("accepted")
        if names.get("accepted") is None and completed and status == "done":
            accepted = self._approved_on(gid)
        record = {
            "id": value("id") or gid,
            "contract": value("contract"),
            "title": task.get("name") or "",
            "amount": value("amount"),
            "percent": value("percent"),
            "status": status,
            "completed": local_date(task.get("completed_at"), self.zone),
            "accepted": accepted,
            "terms_days": value("terms_days"),
        }
        return to_milestone(
            record, where, locate=lambda found: [_name_field(p, names) for p in found]
        )


def _name_field(problem: str, names: dict[str, str | None]) -> str:
    term, _, rest = problem.partition(":")
    if names.get(term):
        return f"field {names[term]!r} ({term}):{rest}"
    return problem


def _load_cursor(
    cursor: str | None,
) -> tuple[datetime | None, set[tuple[str, str]], set[str]]:
    if not cursor:
        return None, set(), set()
    try:
        state = json.loads(cursor)
        return (
            parse_time(state["since"]),
            {(str(a), str(b)) for a, b in state.get("seen", [])},
            {str(g) for g in state.get("awaiting", [])},
        )
    except (ValueError, KeyError, TypeError):
        return None, set(), set()


class AsanaSourcePlugin:
    name = "asana"
    settings = AsanaSettings

    def create(self, settings: AsanaSettings, context: PluginContext) -> AsanaSource:
        return AsanaSource(settings, context.business, context.timezone)
