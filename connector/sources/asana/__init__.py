"""Asana milestones as billing milestones (`kind = "asana"`, `projects = [gid, ...]`).

Tasks come from `GET /tasks?project=...&modified_since=...` (the only list endpoint that filters
on modification) and only `resource_subtype = milestone` ones are kept. Amount and percent are
number custom fields; a percentage field stores a fraction (0.25 means 25%). Completed /
completed_at say done; acceptance is a date custom field when one is configured, otherwise an
approval subtask the client approved (its completion day). Approving a subtask need not touch
the milestone's `modified_at`, so milestones done but not yet accepted are re-read every run
until they are (the cursor carries their gids). `modified_since` never shows a task deleted,
moved out of the project or no longer a milestone, so every `full_read_days` the read is
complete (`complete=True`) and the engine drops what is gone.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from connector.errors import FatalTrackerError, PageTokenExpired, SettingRefused, TrackerError
from connector.models import InvalidMilestone, Milestone
from connector.plugins import CommandGroups, Credentials, PluginContext
from connector.sources.base import SourceBatch
from connector.sources.http import Page, TrackerHttp
from connector.sources.incremental import IncrementalRead, IncrementalSource
from connector.sources.records import (
    IncrementalSettings,
    field_names,
    iso,
    local_date,
    overlap_start,
    to_milestone,
)
from connector.sources.tokens import auth_hint, load_token, token_credentials

# what `connector auth asana` stores
TOKEN = "an Asana personal access token"

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


class AsanaSettings(IncrementalSettings):
    projects: list[str] = Field(min_length=1, description="project gids (digits in its URL)")
    fields: AsanaFields = AsanaFields()
    overlap_minutes: int = Field(default=5, ge=1, le=1440)
    page_size: int = Field(default=100, ge=1, le=100)
    api_url: str = "https://app.asana.com/api/1.0"

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


class AsanaSource(IncrementalSource[AsanaSettings]):
    name = "asana"

    def make_session(self) -> TrackerHttp:
        _, token = load_token(self.business, "asana", TOKEN)
        return session(self.settings, token)

    def check(self) -> str:
        me = self.http.get("/users/me").data["data"]
        batch = self.read(None)
        return (
            f"Asana as {me.get('name', '?')}: {len(self.settings.projects)} project(s), "
            f"{len(batch.milestones)} milestone(s), {len(batch.invalid)} invalid"
        )

    def read(self, cursor: str | None) -> SourceBatch:
        run = IncrementalRead.begin(self.clock(), cursor, self.settings.full_read_days)
        tasks: dict[str, dict[str, Any]] = {}
        for project in self.settings.projects:
            listed = self._tasks(project, run.since)
            milestones = [t for t in listed if t.get("resource_subtype") == "milestone"]
            self._check_fields(project, milestones)
            for task in milestones:
                tasks.setdefault(str(task["gid"]), task)
        if not run.complete:  # a complete listing already has every milestone that still is one
            for gid in run.last.awaiting - set(tasks):  # done, not yet accepted: approval may come
                again = self._task(gid)
                if again is not None:
                    tasks[gid] = again
        return run.batch(
            ((gid, task.get("modified_at"), task) for gid, task in tasks.items()),
            self._parse,
            self.settings.overlap_minutes,
            awaits=self._awaits_approval,
        )

    def _tasks(self, project: str, since: datetime | None) -> list[dict[str, Any]]:
        """Every task of the project (modified since the overlap before `since`); an expired
        offset restarts the listing once."""
        params: dict[str, Any] = {
            "project": project,
            "opt_fields": OPT_FIELDS,
            "limit": self.settings.page_size,
        }
        if since is not None:
            params["modified_since"] = iso(overlap_start(since, self.settings.overlap_minutes))
        try:
            return self.http.all_token_pages(
                lambda offset: self._page(params, offset),
                lambda data: (data.get("next_page") or {}).get("offset"),
                lambda data: data.get("data") or [],
            )
        except TrackerError as exc:
            if exc.status == 404:
                raise FatalTrackerError(
                    f"project {project} not found, or the token's user cannot see it "
                    f"(tracker.projects): {exc.detail}",
                    tracker="Asana",
                    status=404,
                ) from None
            raise

    def _page(self, params: dict[str, Any], offset: str | None) -> Page:
        try:
            return self.http.get("/tasks", {**params, "offset": offset})
        except TrackerError as exc:
            if offset and exc.status == 400:  # the first page took the same parameters
                raise PageTokenExpired(exc.detail, tracker="Asana", status=400) from None
            raise

    def _task(self, gid: str) -> dict[str, Any] | None:
        try:
            return self.http.get(f"/tasks/{gid}", {"opt_fields": OPT_FIELDS}).data["data"]
        except TrackerError as exc:
            if exc.status == 404:  # deleted since: nothing to re-check
                return None
            raise

    def _check_fields(self, project: str, milestones: list[dict[str, Any]]) -> None:
        """A `[tracker.fields]` name the project does not have would read as if every milestone
        left that field blank. Asana gives each task every custom field of its projects (null
        when blank), so a name on none of the project's milestones is not one of its fields.
        Checked: the names the config gives, and Contract, which every milestone needs."""
        if not milestones:
            return
        present = {
            str(f.get("name"))
            for task in milestones
            for f in task.get("custom_fields") or []
            if isinstance(f, dict)
        }
        fields = self.settings.fields
        for term in AsanaFields.model_fields:
            name = getattr(fields, term)
            if name is None or name in present:
                continue
            if term == "contract" or term in fields.model_fields_set:
                raise SettingRefused(
                    f"tracker.fields.{term}",
                    f"Asana project {project} has no custom field named {name!r}; its custom "
                    f"fields are: {', '.join(sorted(present)) or 'none'}",
                )

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
        approved = [d for d in days if d is not None]
        return max(approved) if approved else None

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
                    return _percent(Decimal(number), field.get("precision"))
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
            # the task's due date (`due_on`, "2026-03-31"; Asana fills it in when a time is
            # set too): the day the work is planned to be done
            "planned": task.get("due_on"),
        }
        amount_field = by_name.get(names["amount"]) or {}
        currency = (
            amount_field.get("currency_code") if amount_field.get("format") == "currency" else None
        )
        return to_milestone(record, where, locate=field_names(names), currency=currency)


def _percent(fraction: Decimal, precision: object) -> Decimal:
    """Asana keeps a percentage as a fraction (0.25 is 25%) in a binary float, so 14.3% can
    come back as 0.14300000000000002. The field's `precision` is how many decimals of the
    percentage the person sees; the percent billed is the one they see."""
    percent = fraction.scaleb(2)
    if isinstance(precision, int) and 0 <= precision <= 6:
        return percent.quantize(Decimal(1).scaleb(-precision), rounding=ROUND_HALF_UP)
    return percent


class AsanaSourcePlugin:
    name = "asana"
    label = "Asana"
    rank = 3
    settings = AsanaSettings

    def create(self, settings: AsanaSettings, context: PluginContext) -> AsanaSource:
        return AsanaSource(settings, context.business, context.timezone)

    def credentials(self, context: PluginContext) -> Credentials:
        return token_credentials(context.business, self.name)

    def add_commands(self, groups: CommandGroups) -> None:
        from connector.sources.asana.cli import register

        register(groups)
