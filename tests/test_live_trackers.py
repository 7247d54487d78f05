"""The tracker sources against recorded vendor responses.

Without credentials: cassettes built from each vendor's documented example responses
(tests/cassettes/trackers.md says where each came from), replayed with no network.

With credentials in the environment, the `live` tests read a real account and record what they
saw, secrets filtered:

    GITHUB_TOKEN, GITHUB_REPO                      (owner/name)
    JIRA_SITE, JIRA_EMAIL, JIRA_API_TOKEN          (site: "yourcompany")
    ASANA_TOKEN, ASANA_PROJECT                     (a project gid)

    pytest -m live --record-mode=once tests/test_live_trackers.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from connector.errors import SourceError
from connector.sources.asana import AsanaSettings, AsanaSource
from connector.sources.github import GitHubSettings, GitHubSource
from connector.sources.jira import JiraFields, JiraSettings, JiraSource
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


def _needs(*names: str):
    return pytest.mark.skipif(
        not all(os.environ.get(n) for n in names),
        reason=f"live tracker credentials are not in the environment ({', '.join(names)})",
    )


@pytest.mark.live
@pytest.mark.vcr(record_mode="once")
@_needs("GITHUB_TOKEN", "GITHUB_REPO")
def test_live_github_reads_a_repository():
    connect("github", os.environ["GITHUB_TOKEN"])
    source = GitHubSource(GitHubSettings(repos=[os.environ["GITHUB_REPO"]]), BUSINESS)
    batch = source.read(None)
    assert batch.complete and all(
        m.where.startswith("https://github.com/") for m in batch.milestones
    )


@pytest.mark.live
@pytest.mark.vcr(record_mode="once")
@_needs("JIRA_SITE", "JIRA_EMAIL", "JIRA_API_TOKEN")
def test_live_jira_checks_the_token():
    connect("jira", os.environ["JIRA_API_TOKEN"], os.environ["JIRA_EMAIL"])
    me = JiraSource(JiraSettings(site=os.environ["JIRA_SITE"]), BUSINESS).myself()
    assert me.get("accountId")


@pytest.mark.live
@pytest.mark.vcr(record_mode="once")
@_needs("ASANA_TOKEN", "ASANA_PROJECT")
def test_live_asana_reads_a_project():
    connect("asana", os.environ["ASANA_TOKEN"])
    source = AsanaSource(AsanaSettings(projects=[os.environ["ASANA_PROJECT"]]), BUSINESS)
    assert source.read(None).complete
