"""The tracker sources against recorded vendor responses.

Without credentials: cassettes built from each vendor's documented example responses
(tests/cassettes/trackers.md says where each came from), replayed with no network.

With credentials in the environment, the `live` tests read a real account and record what they
saw, secrets filtered (tests/cassettes/<tracker>/test_live_*.yaml):

    GITHUB_TOKEN, GITHUB_REPO                      (owner/name)
    JIRA_SITE, JIRA_EMAIL, JIRA_API_TOKEN          (site: "yourcompany"; JIRA_JQL optional)
    ASANA_TOKEN, ASANA_PROJECT                     (a project gid)

    pytest -m live --vcr-record=once tests/test_live_trackers.py

Once recorded, a live test replays its cassette without credentials or network (the repository,
site or project it read come from the recorded requests: they are not secrets); it is skipped
only when there is neither a cassette nor credentials.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from connector.errors import SourceError
from connector.sources.asana import AsanaSettings, AsanaSource
from connector.sources.github import GitHubSettings, GitHubSource
from connector.sources.jira import SEARCH, JiraFields, JiraSettings, JiraSource
from connector.sources.records import parse_time
from tests.tracker_support import BUSINESS, connect

CASSETTES = Path(__file__).parent / "cassettes"
SECRETS = ("GITHUB_TOKEN", "JIRA_API_TOKEN", "ASANA_TOKEN", "JIRA_EMAIL")


@pytest.fixture(scope="module")
def vcr_cassette_dir():
    return str(CASSETTES)


@pytest.fixture
def vcr_cassette_name(request):
    """tests/cassettes/<tracker>/<test name>.yaml"""
    name = request.node.name
    return next(k for k in ("github", "jira", "asana") if k in name) + "/" + name


@pytest.fixture(scope="module")
def vcr_config():
    return {
        "record_mode": "none",
        "filter_headers": [("authorization", "REDACTED"), ("cookie", "REDACTED")],
        "before_record_response": _scrub,
        "decode_compressed_response": True,
    }


def _scrub(response):
    body = response["body"].get("string", b"")
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    for name in SECRETS:
        if os.environ.get(name):
            text = text.replace(os.environ[name], "REDACTED")
    response["body"]["string"] = text.encode()
    return response


# -- the vendors' documented examples ----------------------------------------------------------


@pytest.mark.vcr
def test_github_documented_example():
    """GitHub's example milestone has no billing block: one invalid milestone, its link named."""
    connect("github", "REDACTED")
    source = GitHubSource(GitHubSettings(repos=["octocat/Hello-World"]), BUSINESS)
    batch = source.read(None)
    (bad,) = batch.invalid
    assert batch.milestones == [] and bad.id == "octocat/Hello-World#1"
    assert bad.where == "https://github.com/octocat/Hello-World/milestones/v1.0"
    assert "has no billing block" in bad.message


@pytest.mark.vcr
def test_jira_documented_example():
    """Jira's example field list has none of the default field names: the error lists them."""
    connect("jira", "REDACTED", "mia@example.com")
    source = JiraSource(JiraSettings(site="your-domain"), BUSINESS)
    with pytest.raises(SourceError, match=r"tracker\.fields\.contract: Jira has no field named"):
        source.read(None)


@pytest.mark.vcr
def test_jira_documented_search_page():
    """The documented search page (with its `"updated": 1`) becomes an invalid milestone that
    names the issue's browse link; nothing crashes."""
    connect("jira", "REDACTED", "mia@example.com")
    fields = JiraFields(
        contract="customfield_10001",
        amount="customfield_10002",
        percent="customfield_10003",
        accepted=None,
    )
    source = JiraSource(JiraSettings(site="your-domain", fields=fields), BUSINESS)
    batch = source.read(None)
    (bad,) = batch.invalid
    assert bad.id == "ED-1" and bad.where == "https://your-domain.atlassian.net/browse/ED-1"
    assert "field 'customfield_10001' (contract): required key is missing" in bad.message


@pytest.mark.vcr
def test_asana_documented_example():
    """Asana's example task is a default task, not a milestone; the offset page is followed."""
    connect("asana", "REDACTED")
    batch = AsanaSource(AsanaSettings(projects=["1337"]), BUSINESS).read(None)
    assert batch.milestones == [] and batch.invalid == []


# -- live accounts -----------------------------------------------------------------------------


def _cassette(test: str) -> Path:
    return CASSETTES / next(k for k in ("github", "jira", "asana") if k in test) / f"{test}.yaml"


def live(*names: str) -> Callable[[Any], Any]:
    """A test against a real account: recorded once when `names` are in the environment,
    replayed from its cassette afterwards, skipped when there is neither."""

    def mark(test: Any) -> Any:
        ready = all(os.environ.get(n) for n in names)
        recorded = _cassette(test.__name__).exists()
        test = pytest.mark.vcr(record_mode="once")(test)
        test = pytest.mark.skipif(
            not (ready or recorded),
            reason=f"no recorded cassette and no live credentials ({', '.join(names)})",
        )(test)
        return pytest.mark.live(test)

    return mark


def setting(name: str, test: str, pattern: str) -> str:
    """The environment's value, or the one the cassette's first matching request used."""
    if os.environ.get(name):
        return os.environ[name]
    found = re.search(pattern, _cassette(test).read_text(encoding="utf-8"))
    assert found, f"{_cassette(test)}: no request shows {name}; record it again"
    return found.group(1)


def secret(name: str) -> str:
    """Replaying, any token will do: the cassette's Authorization is REDACTED."""
    return os.environ.get(name) or "REDACTED"


@live("GITHUB_TOKEN", "GITHUB_REPO")
def test_live_github_reads_a_repository():
    repo = setting(
        "GITHUB_REPO", "test_live_github_reads_a_repository", r"/repos/([^/\s]+/[^/\s?]+)/"
    )
    connect("github", secret("GITHUB_TOKEN"))
    batch = GitHubSource(GitHubSettings(repos=[repo]), BUSINESS).read(None)
    assert batch.complete
    assert all(m.where.startswith("https://github.com/") for m in batch.milestones)
    assert all(b.where.startswith("https://github.com/") for b in batch.invalid)


@live("JIRA_SITE", "JIRA_EMAIL", "JIRA_API_TOKEN")
def test_live_jira_checks_the_token():
    site = setting("JIRA_SITE", "test_live_jira_checks_the_token", r"uri: https://([^/\s]+)/")
    connect("jira", secret("JIRA_API_TOKEN"), secret("JIRA_EMAIL"))
    me = JiraSource(JiraSettings(site=site), BUSINESS).myself()
    assert me.get("accountId")


@live("JIRA_SITE", "JIRA_EMAIL", "JIRA_API_TOKEN")
def test_live_jira_searches_through_search_jql():
    """One page of the enhanced search (the old /search is gone): the body has the issues,
    `isLast`, and the fields asked for."""
    site = setting(
        "JIRA_SITE", "test_live_jira_searches_through_search_jql", r"uri: https://([^/\s]+)/"
    )
    connect("jira", secret("JIRA_API_TOKEN"), secret("JIRA_EMAIL"))
    source = JiraSource(JiraSettings(site=site), BUSINESS)
    jql = os.environ.get("JIRA_JQL") or "updated >= -30d ORDER BY updated DESC"
    page = source.http.post(SEARCH, {"jql": jql, "fields": ["summary", "updated"], "maxResults": 5})
    assert isinstance(page.data["issues"], list) and "isLast" in page.data
    for issue in page.data["issues"]:
        assert issue["key"] and parse_time(issue["fields"]["updated"]) is not None


@live("ASANA_TOKEN", "ASANA_PROJECT")
def test_live_asana_reads_a_project():
    project = setting("ASANA_PROJECT", "test_live_asana_reads_a_project", r"/tasks\?project=(\d+)")
    connect("asana", secret("ASANA_TOKEN"))
    assert AsanaSource(AsanaSettings(projects=[project]), BUSINESS).read(None).complete
