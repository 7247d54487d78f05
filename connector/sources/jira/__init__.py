"""Jira Cloud issues as billing milestones (`kind = "jira"`, `site`, `jql`).

Issues come from `POST /rest/api/3/search/jql` with `nextPageToken` (the old `/search` is gone);
custom fields are named in the config and resolved to `customfield_NNNNN` through
`/rest/api/3/field`. Done = status category done (a status listed in `cancelled_statuses` =
cancelled), completed = `resolutiondate`, planned = the Due date (`duedate`). Incremental reads
ask for `updated >=` the last run's start minus an overlap (JQL dates are minutes in the
searching user's time zone, and search is eventually consistent), and skip issues already
read at the same (id, updated). Such reads never see an issue deleted or moved out of the JQL,
so every `full_read_days` the read is complete (`complete=True`) and the engine drops what is
gone.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
    local_date,
    overlap_start,
    parse_time,
    to_milestone,
)
from connector.sources.tokens import auth_hint, load_token, token_credentials

# what `connector auth jira` stores
TOKEN = "the Atlassian account email and an API token"

SEARCH = "/rest/api/3/search/jql"
_ORDER_BY = re.compile(r"\border\s+by\b", re.IGNORECASE)
_FIELD_ID = re.compile(r"^customfield_\d+$")
_BUILTIN = ["summary", "status", "resolutiondate", "statuscategorychangedate", "updated", "duedate"]


class JiraFields(BaseModel):
    """Names of the custom fields (or their customfield_NNNNN ids) that hold each term."""

    model_config = ConfigDict(extra="forbid")

    contract: str = "Contract"
    amount: str = "Amount"
    percent: str = "Percent of contract"
    accepted: str | None = "Accepted on"
    terms_days: str | None = None
    id: str | None = None  # a text field with the milestone id; default: the issue key


class JiraSettings(IncrementalSettings):
    site: str = Field(min_length=1, description='"northwind" or "northwind.atlassian.net"')
    jql: str = 'issuetype = "Billing Milestone"'
    fields: JiraFields = JiraFields()
    cancelled_statuses: list[str] = Field(
        default_factory=lambda: ["Cancelled", "Canceled", "Won't Do"]
    )
    overlap_minutes: int = Field(default=10, ge=1, le=1440)
    page_size: int = Field(default=100, ge=1, le=5000)
    api_url: str | None = None  # default: https://<site>.atlassian.net

    @field_validator("jql")
    @classmethod
    def _no_order(cls, value: str) -> str:
        if _ORDER_BY.search(value):
            raise ValueError("leave out ORDER BY: the connector reads in order of `updated`")
        return value

    @property
    def base_url(self) -> str:
        if self.api_url:
            return self.api_url.rstrip("/")
        site = self.site.strip().removeprefix("https://").rstrip("/")
        return f"https://{site if '.' in site else site + '.atlassian.net'}"


def session(settings: JiraSettings, email: str, token: str) -> TrackerHttp:
    return TrackerHttp(
        "Jira",
        settings.base_url,
        headers={"Accept": "application/json"},
        auth=(email, token),
        auth_hint=auth_hint("jira"),
        timeout=settings.timeout,
        max_wait=settings.max_wait,
    )


class JiraSource(IncrementalSource[JiraSettings]):
    name = "jira"

    def make_session(self) -> TrackerHttp:
        return session(self.settings, *load_token(self.business, "jira", TOKEN))

    def myself(self) -> dict[str, Any]:
        return self.http.get("/rest/api/3/myself").data

    def check(self) -> str:
        me = self.myself()
        batch = self.read(None)
        return (
            f"Jira as {me.get('displayName', '?')}: {len(batch.milestones)} milestone(s), "
            f"{len(batch.invalid)} invalid"
        )

    # -- reading -------------------------------------------------------------------------------

    def read(self, cursor: str | None) -> SourceBatch:
        run = IncrementalRead.begin(self.clock(), cursor, self.settings.full_read_days)
        user_zone = self._user_zone()
        ids = self._field_ids()
        jql = f"({self.settings.jql})"
        if run.since is not None:
            lower = overlap_start(run.since, self.settings.overlap_minutes)
            jql += f' AND updated >= "{lower.astimezone(user_zone):%Y-%m-%d %H:%M}"'
        jql += " ORDER BY updated ASC"
        issues = _latest(self.search(jql, [*_BUILTIN, *ids.values()]))
        return run.batch(
            (
                (str(issue.get("id")), (issue.get("fields") or {}).get("updated"), issue)
                for issue in issues
            ),
            lambda issue: self._parse(issue, ids),
            self.settings.overlap_minutes,
        )

    def search(self, jql: str, fields: list[str]) -> list[dict[str, Any]]:
        """Every issue the query finds; an expired page token restarts the search once
        (pages are in `updated` order, so a restart only re-reads)."""
        return self.http.all_token_pages(
            lambda token: self._page(jql, fields, token),
            lambda data: None if data.get("isLast") else data.get("nextPageToken"),
            lambda data: data.get("issues") or [],
        )

    def _page(self, jql: str, fields: list[str], token: str | None) -> Page:
        body: dict[str, Any] = {"jql": jql, "fields": fields, "maxResults": self.settings.page_size}
        if token:
            body["nextPageToken"] = token
        try:
            return self.http.post(SEARCH, body)
        except TrackerError as exc:
            if token and exc.status == 400:
                raise PageTokenExpired(exc.detail, tracker="Jira", status=400) from None
            if exc.status == 400:
                raise FatalTrackerError(
                    f"tracker.jql {self.settings.jql!r} was refused: {exc.detail}", tracker="Jira"
                ) from None
            raise

    def _user_zone(self) -> ZoneInfo:
        """JQL dates are read in the searching user's time zone, so they are written in it."""
        try:
            return ZoneInfo(self.myself().get("timeZone") or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")

    def _field_ids(self) -> dict[str, str]:
        """Term -> customfield id, from the configured names."""
        listing = self.http.get("/rest/api/3/field").data or []
        by_name: dict[str, list[str]] = {}
        for f in listing:
            by_name.setdefault(str(f.get("name")), []).append(str(f.get("id")))
        out: dict[str, str] = {}
        for term, name in self.settings.fields.model_dump().items():
            if name is None:
                continue
            if _FIELD_ID.match(name):
                out[term] = name
                continue
            found = by_name.get(name, [])
            if len(found) > 1:
                raise SettingRefused(
                    f"tracker.fields.{term}",
                    f"Jira has {len(found)} fields named {name!r} "
                    f"({', '.join(found)}); give the id instead, e.g. {found[0]!r}",
                )
            if not found:
                custom = sorted(str(f.get("name")) for f in listing if f.get("custom"))
                raise SettingRefused(
                    f"tracker.fields.{term}",
                    f"Jira has no field named {name!r}; its custom "
                    f"fields are: {', '.join(custom) or 'none'}",
                )
            out[term] = found[0]
        return out

    def _parse(self, issue: dict[str, Any], ids: dict[str, str]) -> Milestone | InvalidMilestone:
        fields = issue.get("fields") or {}
        key = str(issue.get("key"))
        where = f"{self.settings.base_url}/browse/{key}"
        status = fields.get("status") or {}
        done = (status.get("statusCategory") or {}).get("key") == "done"
        cancelled = status.get("name") in self.settings.cancelled_statuses
        finished = fields.get("resolutiondate") or fields.get("statuscategorychangedate")

        def value(term: str) -> Any:
            raw = fields.get(ids[term]) if term in ids else None
            if isinstance(raw, dict):
                raw = raw.get("value") or raw.get("name")
            if term == "terms_days" and isinstance(raw, Decimal) and raw == raw.to_integral():
                raw = int(raw)
            if term == "accepted" and isinstance(raw, str) and len(raw) > 10:
                return local_date(raw, self.zone)
            return raw

        record = {
            "id": value("id") or key,
            "contract": value("contract"),
            "title": fields.get("summary") or "",
            "amount": value("amount"),
            "percent": value("percent"),
            "status": "cancelled" if done and cancelled else ("done" if done else "open"),
            "completed": local_date(finished, self.zone) if done else None,
            "accepted": value("accepted"),
            "terms_days": value("terms_days"),
            # the issue's Due date (`duedate`, "2026-03-31", a day without a time): planned
            "planned": fields.get("duedate"),
        }
        return to_milestone(record, where, locate=field_names(self.settings.fields.model_dump()))


_NEVER = datetime.min.replace(tzinfo=UTC)


def _latest(issues: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One issue per id, its latest `updated`: an issue edited while the pages were read moves
    to the end of the `updated` order and comes twice, and must not become two milestones."""
    latest: dict[str, dict[str, Any]] = {}
    for issue in issues:
        key = str(issue.get("id"))
        earlier = latest.get(key)
        if earlier is None or _updated(issue) >= _updated(earlier):
            latest[key] = issue
    return list(latest.values())


def _updated(issue: dict[str, Any]) -> datetime:
    return parse_time((issue.get("fields") or {}).get("updated")) or _NEVER


class JiraSourcePlugin:
    name = "jira"
    label = "Jira"
    rank = 2
    settings = JiraSettings

    def create(self, settings: JiraSettings, context: PluginContext) -> JiraSource:
        return JiraSource(settings, context.business, context.timezone)

    def credentials(self, context: PluginContext) -> Credentials:
        return token_credentials(context.business, self.name)

    def add_commands(self, groups: CommandGroups) -> None:
        from connector.sources.jira.cli import register

        register(groups)
