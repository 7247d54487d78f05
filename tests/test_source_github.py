"""The GitHub source against the local GitHub sandbox, over real HTTP."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta

import pytest

from connector.adapters.local import MemoryLedger
from connector.credentials import CredentialsMissing
from connector.demo import EXAMPLE
from connector.models import Status
from connector.sources.github import GitHubSettings, GitHubSource
from connector.sources.http import TrackerError
from connector.testing.source import RECORDS, SourceConformance
from connector_sandbox.github import APP_TOKEN, TOKEN, GitHubPerson, GitHubSandbox
from connector_sandbox.server import Clock, Response
from connector_sandbox.trackers_demo import TrackerDemo
from tests.tracker_support import (
    BUSINESS,
    DictCache,
    Tracker,
    a_429_is_waited_out,
    connect,
    demo_bills_like_the_file,
)

REPO = "northwind/acme-web"


@pytest.fixture
def github():
    with GitHubSandbox() as sandbox:
        yield sandbox


def source_for(sandbox, repos=(REPO,), **kw) -> GitHubSource:
    settings = GitHubSettings(repos=list(repos), api_url=sandbox.url, max_wait=5, **kw)
    return GitHubSource(settings, BUSINESS)


@pytest.fixture
def tracker(github):
    connect("github", TOKEN)
    return Tracker(github, GitHubPerson(github, REPO), source_for(github))


class TestGitHub(SourceConformance):
    pass


def test_a_quiet_night_costs_only_304s(tracker, github):
    tracker.seed(RECORDS)
    github.add_repo("northwind/beta-app")
    cache = DictCache()
    first = source_for(github, [REPO, "northwind/beta-app"])
    first.use_cache(cache)
    before = first.read(None)
    used = github.used
    github.reset_counts()
    # the next night: a new process, the ETags kept in the state database
    second = source_for(github, [REPO, "northwind/beta-app"])
    second.use_cache(cache)
    after = second.read(before.cursor)
    assert dict(github.statuses) == {304: 2}
    assert github.used == used  # 304s cost nothing against the hourly quota
    assert after.milestones == before.milestones and after.complete
    assert after.cursor == before.cursor


def test_an_edit_is_a_200_and_the_rest_stay_304(tracker, github):
    tracker.seed(RECORDS)
    github.add_repo("northwind/beta-app")
    source = source_for(github, [REPO, "northwind/beta-app"])
    first = source.read(None)
    github.reset_counts()
    tracker.edit("M2", amount="9900.00")
    second = source.read(first.cursor)
    assert dict(github.statuses) == {200: 1, 304: 1}
    assert {m.id: m.amount for m in second.milestones}["M2"] == 9900
    assert second.cursor != first.cursor


def test_many_pages_are_followed(tracker, github):
    records = [
        {"id": f"M{i}", "contract": "ACME-WEB", "amount": f"{i}.00", "status": "open"}
        for i in range(1, 251)
    ]
    tracker.seed(records)
    batch = source_for(github).read(None)
    assert len(batch.milestones) == 250 and github.statuses[200] == 3


def test_a_429_is_waited_out_as_retry_after_says(tracker):
    a_429_is_waited_out(tracker, match="milestones")


def test_a_secondary_limit_answered_with_403_is_waited_out(tracker, github):
    tracker.seed(RECORDS)
    github.secondary_status = 403
    github.faults.throttle(1, match="milestones")
    started = time.monotonic()
    assert len(source_for(github).read(None).milestones) == 3
    assert time.monotonic() - started >= 1.0 and github.statuses[403] == 1


def test_a_secondary_limit_without_retry_after_backs_off_briefly():
    """GitHub's x-ratelimit-reset is the hourly window's end, sent with quota left too: it is
    not how long to wait."""
    window_ends_in_over_an_hour = Clock(datetime.now(UTC) + timedelta(hours=1))
    with GitHubSandbox(clock=window_ends_in_over_an_hour, retry_after=None) as github:
        connect("github", TOKEN)
        GitHubPerson(github, REPO).seed(RECORDS)
        github.faults.throttle(1, match="milestones")
        started = time.monotonic()
        assert len(source_for(github).read(None).milestones) == 3
        assert github.statuses[429] == 1 and time.monotonic() - started < 5


def test_a_spent_hourly_quota_says_when_it_resets_instead_of_waiting_an_hour(tracker, github):
    tracker.seed(RECORDS)
    github.set_quota(10, used=10)
    with pytest.raises(TrackerError, match="rate limited: API rate limit exceeded") as exc:
        source_for(github).read(None)
    assert exc.value.status == 403 and exc.value.retry_after and exc.value.retry_after > 5


def test_a_5xx_is_retried(tracker, github):
    tracker.seed(RECORDS)
    github.faults.fail(2, status=502, match="milestones")
    source = GitHubSource(GitHubSettings(repos=[REPO], api_url=github.url, max_wait=0.05), BUSINESS)
    assert len(source.read(None).milestones) == 3


def test_a_block_error_names_the_milestone_link_and_the_line(tracker, github):
    tracker.seed(RECORDS[:1])
    github.create_milestone(
        REPO, "Design", "Second phase.\n\n```billing\ncontract: ACME-WEB\namount: 12,00\n```"
    )
    batch = source_for(github).read(None)
    (bad,) = batch.invalid
    assert bad.where == f"https://github.com/{REPO}/milestone/2"
    assert bad.id == f"{REPO}#2"
    assert "description line 5: amount: expected an amount" in bad.message
    assert [m.id for m in batch.milestones] == ["M1"]


def test_a_milestone_without_a_block_says_what_to_add(tracker, github):
    github.create_milestone(REPO, "Kickoff", "Just notes.")
    (bad,) = source_for(github).read(None).invalid
    assert "has no billing block; add one like ```billing" in bad.message


def test_unknown_block_keys_and_wrong_status_are_named(tracker, github):
    github.create_milestone(
        REPO,
        "Kickoff",
        "```billing\ncontract: C\namout: 5.00\nstatus: done\n```",
    )
    (bad,) = source_for(github).read(None).invalid
    assert "description line 3: unknown key 'amout'" in bad.message
    assert "description line 4: status: only `cancelled` belongs here" in bad.message


def test_the_milestone_id_defaults_to_the_repository_and_number(tracker, github):
    github.create_milestone(REPO, "Kickoff", "```billing\ncontract: C\namount: 5.00  # agreed\n```")
    (m,) = source_for(github).read(None).milestones
    assert (m.id, m.amount, m.where) == (
        f"{REPO}#1",
        5,
        f"https://github.com/{REPO}/milestone/1",
    )


def test_completed_is_the_day_it_was_closed_where_the_business_is(tracker, github):
    from datetime import UTC, datetime

    number = github.create_milestone(REPO, "Launch", "```billing\ncontract: C\namount: 1\n```")
    github.update_milestone(
        REPO, number, state="closed", closed_at=datetime(2026, 9, 21, 3, 30, tzinfo=UTC)
    )
    settings = GitHubSettings(repos=[REPO], api_url=github.url)
    (chicago,) = GitHubSource(settings, BUSINESS, "America/Chicago").read(None).milestones
    (utc,) = GitHubSource(settings, BUSINESS).read(None).milestones
    assert chicago.status is Status.DONE
    assert (chicago.completed, utc.completed) == (date(2026, 9, 20), date(2026, 9, 21))


def test_no_token_names_the_command_to_run(github):
    with pytest.raises(CredentialsMissing, match=r"connector auth github --config FILE"):
        source_for(github).read(None)


def test_a_refused_token_names_the_command_to_run(github):
    connect("github", "ghp_wrong")
    with pytest.raises(TrackerError, match=r"token was refused.*connector auth github"):
        source_for(github).read(None)


def test_an_unknown_repository_says_what_the_token_needs(tracker, github):
    with pytest.raises(TrackerError, match="northwind/nope not found, or the token cannot"):
        source_for(github, ["northwind/nope"]).read(None)


def test_check_reports_the_login_and_what_it_read(tracker):
    tracker.seed(RECORDS)
    assert tracker.source.check() == "GitHub as sandbox-user: 1 repo(s), 3 milestone(s), 0 invalid"


def test_an_app_installation_token_is_checked_on_the_repository(tracker, github):
    """GET /user refuses GitHub App installation tokens; the first repository decides."""
    tracker.seed(RECORDS)
    connect("github", APP_TOKEN)
    assert tracker.source.check() == (
        f"GitHub as an app installation reading {REPO}: 1 repo(s), 3 milestone(s), 0 invalid"
    )
    assert github.statuses[403] == 1


def test_an_app_token_that_cannot_read_the_repository_is_refused(github):
    connect("github", APP_TOKEN)
    with pytest.raises(TrackerError, match=r"not a user's .* cannot read northwind/nope"):
        source_for(github, ["northwind/nope"]).check()


def test_config_validates_the_tracker_section(tmp_path):
    from connector import config as config_mod
    from connector.errors import ConfigError
    from tests.conftest import CONFIG

    text = CONFIG.replace("{on_change}", "flag").replace("{state}", 'path = "s.db"')
    text = text.replace(
        'kind = "file"\npath = "milestones.toml"', 'kind = "github"\nrepos = ["acme"]'
    )
    (tmp_path / "c.toml").write_text(text)
    with pytest.raises(ConfigError, match=r"tracker.repos: expected \"owner/name\", got 'acme'"):
        config_mod.load(tmp_path / "c.toml")
    (tmp_path / "c.toml").write_text(text.replace('["acme"]', '["northwind/acme-web"]'))
    cfg = config_mod.load(tmp_path / "c.toml")
    assert isinstance(cfg.source(), GitHubSource)


def test_the_demo_bills_from_github_what_it_bills_from_the_file(tmp_path):
    from_file, from_github, report = demo_bills_like_the_file("github", tmp_path)
    assert from_file and from_github == from_file
    assert not report.fatal and len(from_github) == len(report.created)


def test_a_second_night_through_the_engine_costs_only_304s(tmp_path):
    """The engine hands the state database's ETag cache to the source: a new process, a new
    source, and still no full read."""
    from tests.tracker_support import business_config, sync

    with TrackerDemo("github") as demo:
        section = demo.tracker_section(EXAMPLE / "milestones.toml")
        path = business_config(tmp_path, section)
        demo.connect("Northwind Studio")
        ledger = MemoryLedger()
        sync(path, ledger)
        demo.sandbox.reset_counts()
        second = sync(path, ledger)
        assert dict(demo.sandbox.statuses) == {304: 1}
        assert second.created == []


def test_auth_github_checks_the_token_and_keeps_it_in_the_keyring(tmp_path, memory_keyring):
    from typer.testing import CliRunner

    from connector.cli import app
    from tests.tracker_support import business_config

    with GitHubSandbox() as sandbox:
        section = f'[tracker]\nkind = "github"\nrepos = ["{REPO}"]\napi_url = "{sandbox.url}"\n'
        path = business_config(tmp_path, section)
        runner = CliRunner()
        refused = runner.invoke(app, ["auth", "github", "--config", str(path)], input="nope\n")
        assert refused.exit_code != 0 and "refused the token" in str(refused.exception)
        assert memory_keyring.entries == {}
        done = runner.invoke(app, ["auth", "github", "--config", str(path)], input=TOKEN + "\n")
        assert done.exit_code == 0, done.output
        assert "Connected Northwind Studio to github as sandbox-user" in done.output
        assert TOKEN not in done.output  # the prompt hides what is typed
        assert TOKEN in memory_keyring.entries[("milestone-connector", "Northwind Studio/github")]


def test_auth_github_takes_an_app_installation_token(tmp_path, memory_keyring):
    from typer.testing import CliRunner

    from connector.cli import app
    from tests.tracker_support import business_config

    with GitHubSandbox() as sandbox:
        sandbox.add_repo(REPO)
        section = f'[tracker]\nkind = "github"\nrepos = ["{REPO}"]\napi_url = "{sandbox.url}"\n'
        path = business_config(tmp_path, section)
        done = CliRunner().invoke(
            app, ["auth", "github", "--config", str(path)], input=APP_TOKEN + "\n"
        )
        assert done.exit_code == 0, done.output
        assert f"to github as an app installation reading {REPO}" in done.output
        stored = memory_keyring.entries[("milestone-connector", "Northwind Studio/github")]
        assert APP_TOKEN in stored


def test_auth_for_another_tracker_kind_is_refused(tmp_path):
    from typer.testing import CliRunner

    from connector.cli import app
    from tests.tracker_support import business_config

    path = business_config(tmp_path, '[tracker]\nkind = "file"\npath = "milestones.toml"\n')
    result = CliRunner().invoke(app, ["auth", "github", "--config", str(path)], input="x\n")
    assert result.exit_code != 0 and "kind is 'file', not \"github\"" in str(result.exception)


# -- answers of the wrong shape, through the real command ---------------------------------------


class OddGitHub(GitHubSandbox):
    """GitHub answering the milestones listing with `answer`, a shape it should never send."""

    answer: object = None

    def _milestones(self, request, repo):
        if self.answer is None:
            return super()._milestones(request, repo)
        return self._metered(request, Response.json(200, self.answer))


def _github_business(tmp_path, sandbox):
    from tests.tracker_support import business_config

    connect("github", TOKEN)
    section = f'[tracker]\nkind = "github"\nrepos = ["{REPO}"]\napi_url = "{sandbox.url}"\n'
    return business_config(tmp_path, section)


@pytest.mark.parametrize(
    ("answer", "holds"),
    [(["not a milestone"], "text"), ([{"number": 1}, 7], "a number"), ([[]], "a list")],
    ids=["text", "number", "list"],
)
def test_a_listing_whose_milestones_are_not_objects_is_one_sentence(
    tmp_path, monkeypatch, capsys, answer, holds
):
    from tests.test_cli import connector

    with OddGitHub() as sandbox:
        sandbox.add_repo(REPO)
        sandbox.answer = answer
        path = _github_business(tmp_path, sandbox)
        code, _, err = connector(monkeypatch, capsys, "sync", "--config", str(path))
    assert code == 2
    assert (
        f"error: GitHub: {REPO}: the list of milestones holds {holds} where each entry should "
        "be a milestone object; nothing was read from it\n"
    ) in err
    assert "unexpected" not in err
    assert not (tmp_path / "ledger.json").exists()  # not even the deposit was billed


@pytest.mark.parametrize("description", [5, ["contract: ACME-WEB"], {"text": "x"}, True])
def test_a_description_that_is_not_text_makes_only_that_milestone_invalid(
    tmp_path, monkeypatch, capsys, description
):
    from tests.test_cli import connector

    with GitHubSandbox() as sandbox:
        person = GitHubPerson(sandbox, REPO)
        person.seed(RECORDS)
        sandbox.update_milestone(REPO, person.numbers["M2"], description=description)
        path = _github_business(tmp_path, sandbox)
        code, out, err = connector(
            monkeypatch, capsys, "plan", "--config", str(path), "--as-of", "2026-11-26", "--json"
        )
    assert code == 1, err
    link = f"https://github.com/{REPO}/milestone/{person.numbers['M2']}"
    [bad] = [s for s in json.loads(out)["skipped"] if s["reason"] == "invalid_milestone"]
    assert bad["milestone"] == f"{REPO}#{person.numbers['M2']}"
    assert bad["message"].startswith(f"{link}: milestone {REPO}#{person.numbers['M2']}: ")
    assert "description: expected the milestone's text, got " in bad["message"]


def test_a_direction_control_in_a_title_makes_the_milestone_invalid(github, tracker):
    tracker.seed(RECORDS)
    github.update_milestone(REPO, tracker.person.numbers["M2"], title="Design \u202egnp.exe")
    batch = tracker.source.read(None)
    (bad,) = batch.invalid
    assert bad.id == "M2"
    assert bad.message.startswith(f"https://github.com/{REPO}/milestone/")
    assert "title: holds U+202E (an invisible text-direction control) at character 8" in (
        bad.message
    )
    assert sorted(m.id for m in batch.milestones) == ["M1", "M3"]


def test_the_planned_date_is_the_github_due_date_and_an_edit_is_seen(tracker):
    """A milestone's `due_on` is the day the work is planned: the cash
    forecast's date. A change is read like any other, incrementally."""
    tracker.seed([{**RECORDS[1], "planned": date(2027, 1, 15)}, RECORDS[0]])
    first = tracker.source.read(None)
    found = {m.id: m for m in first.milestones}
    assert found["M2"].planned == date(2027, 1, 15) and found["M1"].planned is None
    tracker.edit("M2", planned=date(2027, 2, 1))
    changed = {m.id: m for m in tracker.source.read(first.cursor).milestones}
    assert changed["M2"].planned == date(2027, 2, 1)
