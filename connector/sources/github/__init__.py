"""GitHub milestones as billing milestones (`kind = "github"`, `repos = ["owner/name", ...]`).

Milestones have no custom fields, so the terms ride in a billing block in the description
(connector/sources/block.py). GitHub has no "changed since" filter for milestones: every run
reads them all (`complete=True`) with conditional requests, so a night with no change costs one
304 per repository and nothing against the hourly quota. Closed = done, `closed_at` = completed,
`due_on` = planned (the cash forecast's date for the work).
"""

from __future__ import annotations

import hashlib
import json
import re
from decimal import Decimal
from typing import Any

from pydantic import Field, field_validator

from connector.errors import FatalTrackerError, RetriableTrackerError, TrackerError
from connector.models import InvalidMilestone, Milestone
from connector.plugins import CommandGroups, Credentials, PluginContext
from connector.sources import block
from connector.sources.base import SourceBatch
from connector.sources.http import (
    HttpCache,
    MemoryHttpCache,
    TrackerHttp,
    TrackerSettings,
)
from connector.sources.records import local_date, split, to_milestone
from connector.sources.tokens import auth_hint, load_token, token_credentials

# what `connector auth github` stores
TOKEN = "a GitHub personal access token (fine-grained: Issues read-only)"

_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
API_VERSION = "2022-11-28"


class GitHubSettings(TrackerSettings):
    repos: list[str] = Field(min_length=1, description='repositories, "owner/name"')
    api_url: str = "https://api.github.com"  # GitHub Enterprise Server: https://HOST/api/v3
    page_size: int = Field(default=100, ge=1, le=100)

    @field_validator("repos")
    @classmethod
    def _repos(cls, value: list[str]) -> list[str]:
        for repo in value:
            if not _REPO.match(repo):
                raise ValueError(f'expected "owner/name", got {repo!r}')
        return value


def session(settings: GitHubSettings, token: str) -> TrackerHttp:
    return TrackerHttp(
        "GitHub",
        settings.api_url,
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
        },
        auth_hint=auth_hint("github"),
        timeout=settings.timeout,
        max_wait=settings.max_wait,
    )


def identify(http: TrackerHttp, settings: GitHubSettings) -> str:
    """Who the token is: a person's login from `GET /user`; a GitHub App installation token,
    which `/user` refuses with 403, is accepted once the first configured repository reads."""
    try:
        return str(http.get("/user").data.get("login") or "?")
    except TrackerError as exc:
        if exc.status != 403 or isinstance(exc, RetriableTrackerError):
            raise
    repo = settings.repos[0]
    try:
        http.get(f"/repos/{repo}")
    except TrackerError as exc:
        if exc.status in (403, 404):
            raise FatalTrackerError(
                f"the token is not a user's (GET /user refused it) and cannot read {repo} "
                f"either ({exc.detail}); an app installation needs access to the repository "
                "and Issues: read",
                tracker="GitHub",
                status=exc.status,
            ) from None
        raise
    return f"an app installation reading {repo}"


class GitHubSource:
    name = "github"

    def __init__(self, settings: GitHubSettings, business: str, zone: str = "UTC"):
        self.settings = settings
        self.business = business
        self.zone = zone
        self._http: TrackerHttp | None = None
        self._cache: HttpCache | None = None

    def use_cache(self, cache: HttpCache) -> None:
        """The engine hands over the state database's ETag store before `read`."""
        self._cache = cache
        if self._http is not None:
            self._http.cache = cache

    @property
    def http(self) -> TrackerHttp:
        if self._http is None:
            _, token = load_token(self.business, "github", TOKEN)
            self._http = session(self.settings, token)
            if self._cache is None:
                self._cache = MemoryHttpCache()
            self._http.cache = self._cache
        return self._http

    def check(self) -> str:
        login = identify(self.http, self.settings)
        batch = self.read(None)
        return (
            f"GitHub as {login}: {len(self.settings.repos)} repo(s), "
            f"{len(batch.milestones)} milestone(s), {len(batch.invalid)} invalid"
        )

    def read(self, cursor: str | None) -> SourceBatch:
        results: list[Milestone | InvalidMilestone] = []
        digest = hashlib.sha256()
        for repo in self.settings.repos:
            for item in self._milestones(repo):
                # the content, not updated_at: GitHub's timestamps are whole seconds
                digest.update(json.dumps(item, sort_keys=True, default=str).encode())
                results.append(self._parse(repo, item))
        good, bad = split(results)
        return SourceBatch(good, bad, digest.hexdigest(), complete=True)

    def _milestones(self, repo: str) -> list[dict[str, Any]]:
        params = {
            "state": "all",
            "sort": "due_on",
            "direction": "asc",
            "per_page": self.settings.page_size,
        }
        out: list[dict[str, Any]] = []
        try:
            for page in self.http.link_pages(f"/repos/{repo}/milestones", params):
                if not isinstance(page.data, list):
                    raise FatalTrackerError(
                        f"{repo}: expected a list of milestones", tracker="GitHub"
                    )
                for item in page.data:
                    if not isinstance(item, dict):
                        raise FatalTrackerError(
                            f"{repo}: the list of milestones holds {_kind(item)} where each "
                            "entry should be a milestone object; nothing was read from it",
                            tracker="GitHub",
                        )
                out += page.data
        except TrackerError as exc:
            if exc.status == 404:
                raise FatalTrackerError(
                    f"repository {repo} not found, or the token cannot read it (a fine-grained "
                    "token needs this repository and Issues: read)",
                    tracker="GitHub",
                    status=404,
                ) from None
            raise
        return out

    def _parse(self, repo: str, item: dict[str, Any]) -> Milestone | InvalidMilestone:
        link = item.get("html_url")
        number = item.get("number")
        where = (
            link
            if isinstance(link, str) and link
            else f"https://github.com/{repo}/milestone/{number}"
        )
        description = item.get("description")
        if description is not None and not isinstance(description, str):
            mid = f"{repo}#{number}"
            return InvalidMilestone(
                mid,
                None,
                f"{where}: milestone {mid}: description: expected the milestone's text, got "
                f"{_kind(description)}; its billing block cannot be read",
                where,
            )
        values, lines, problems = block.parse(description)
        closed = item.get("state") == "closed"
        status = "done" if closed else "open"
        if values.get("status", "").strip().lower() == "cancelled":
            status = "cancelled"
        elif "status" in values:
            problems.append(
                f"description line {lines['status']}: status: only `cancelled` belongs here; "
                "open and done come from whether the milestone is closed"
            )
        record: dict[str, Any] = {
            "id": values.get("id") or f"{repo}#{item.get('number')}",
            "contract": values.get("contract"),
            "title": item.get("title") or "",
            "amount": values.get("amount"),
            "percent": values.get("percent"),
            "status": status,
            "completed": values.get("completed") or local_date(item.get("closed_at"), self.zone),
            "accepted": values.get("accepted"),
            "terms_days": values.get("terms_days"),
            "planned": _due_day(item.get("due_on")),
        }
        return to_milestone(record, where, problems, lambda found: block.locate(found, lines))


def _due_day(due_on: object) -> str | None:
    """The milestone's due date as the person picked it. GitHub keeps a date picked in its UI as
    a timestamp (`2026-03-31T07:00:00Z`, that day's start in the Pacific); its date part, not
    the business's local time, is the day that was picked. Anything else is no date."""
    if not isinstance(due_on, str) or len(due_on) < 10:
        return None
    return due_on[:10]


def _kind(value: object) -> str:
    """What a JSON value is, in words, for a message about an answer of the wrong shape."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float | Decimal):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "text" if isinstance(value, str) else "something else"


class GitHubSourcePlugin:
    name = "github"
    label = "GitHub"
    rank = 1
    settings = GitHubSettings

    def create(self, settings: GitHubSettings, context: PluginContext) -> GitHubSource:
        return GitHubSource(settings, context.business, context.timezone)

    def credentials(self, context: PluginContext) -> Credentials:
        return token_credentials(context.business, self.name)

    def add_commands(self, groups: CommandGroups) -> None:
        from connector.sources.github.cli import register

        register(groups)
