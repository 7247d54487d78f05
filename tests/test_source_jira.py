"""The Jira Cloud source against the local Jira sandbox, over real HTTP."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest

from connector import config as config_mod
from connector.adapters.local import MemoryLedger
from connector.credentials import CredentialsMissing
from connector.demo import EXAMPLE
from connector.errors import SettingRefused
from connector.models import Status
from connector.sources.http import TrackerError
from connector.sources.jira import JiraFields, JiraSettings, JiraSource
from connector.sources.records import iso, now_utc
from connector.testing.source import RECORDS, SourceConformance
from connector_sandbox.jira import EMAIL, TOKEN, JiraPerson, JiraSandbox
from connector_sandbox.trackers_demo import TrackerDemo
from tests.tracker_support import (
    BUSINESS,
    Tracker,
    a_429_is_waited_out,
    billed,
    business_config,
    connect,
    demo_bills_like_the_file,
    sync,
)


@pytest.fixture
def jira():
    with JiraSandbox() as sandbox:
        yield sandbox


def source_for(sandbox, **kw) -> JiraSource:
    kw.setdefault("fields", JiraFields(id="Milestone ID"))
    settings = JiraSettings(site="northwind", api_url=sandbox.url, max_wait=5, **kw)
    return JiraSource(settings, BUSINESS)


@pytest.fixture
def tracker(jira):
    connect("jira", TOKEN, EMAIL)
    return Tracker(jira, JiraPerson(jira), source_for(jira))


class TestJira(SourceConformance):
    pass


def test_a_second_read_without_changes_returns_nothing_and_is_incremental(tracker, jira):
    tracker.seed(RECORDS)
    first = tracker.source.read(None)
    second = tracker.source.read(first.cursor)
    assert first.complete and len(first.milestones) == 3
    assert not second.complete and second.milestones == [] and second.invalid == []
    jql = json.loads(second.cursor)
    assert len(jql["seen"]) == 3  # all three sit inside the overlap the next read asks for


def test_an_edit_in_the_same_minute_as_the_last_read_is_not_lost(tracker, jira):
    tracker.seed(RECORDS)
    first = tracker.source.read(None)
    tracker.edit("M2", amount="9700.00")  # milliseconds later: the same JQL minute
    second = tracker.source.read(first.cursor)
    assert [(m.id, m.amount) for m in second.milestones] == [("M2", 9700)]
    third = tracker.source.read(second.cursor)
    assert third.milestones == []  # and it is not read twice


def test_a_run_that_fails_after_reading_leaves_the_change_for_the_next_run(tmp_path):
    """The engine keeps the old cursor when a run fails: the next run reads the client's
    acceptance again and bills it, once."""
    with TrackerDemo("jira") as demo:
        path = business_config(tmp_path, demo.tracker_section(EXAMPLE / "milestones.toml"))
        demo.connect(BUSINESS)
        ledger = MemoryLedger()
        first = sync(path, ledger)
        assert "ACME-M3" not in billed(first)  # done, not accepted yet
        sent = len(ledger.docs)
        demo.person.edit("ACME-M3", accepted=date(2026, 11, 24))

        def power_cut(point: str) -> None:
            if point == "before:commit:intents":
                raise RuntimeError("power cut")

        with pytest.raises(RuntimeError, match="power cut"):
            sync(path, ledger, checkpoint=power_cut)
        assert len(ledger.docs) == sent  # it stopped before sending anything
        third = sync(path, ledger)
        fourth = sync(path, ledger)
        assert billed(third).count("ACME-M3") == 1 and billed(fourth) == []


def test_the_query_is_written_in_the_users_time_zone(tracker, jira):
    tracker.seed(RECORDS)
    since = {"since": "2026-03-10T15:00:00.000Z", "seen": [], "full": iso(now_utc())}
    tracker.source.read(json.dumps(since))
    # 15:00Z minus the 10-minute overlap is 09:50 in Chicago (CST, UTC-6) on 2026-03-10
    assert jira.last_jql == (
        '(issuetype = "Billing Milestone") AND updated >= "2026-03-10 09:50" ORDER BY updated ASC'
    )


def test_many_pages_are_read_through_next_page_token(tracker, jira):
    records = [
        {"id": f"M{i}", "contract": "ACME-WEB", "amount": f"{i}.00", "status": "open"}
        for i in range(1, 8)
    ]
    tracker.seed(records)
    batch = source_for(jira, page_size=3).read(None)
    assert len(batch.milestones) == 7 and jira.searches == 3


def test_an_expired_page_token_restarts_the_search_once(tracker, jira):
    tracker.seed(RECORDS)
    jira.expire_page_tokens(1)
    batch = source_for(jira, page_size=2).read(None)
    assert sorted(m.id for m in batch.milestones) == ["M1", "M2", "M3"]
    assert jira.searches == 4  # page 1, page 2 refused, then pages 1 and 2 again


def test_a_page_token_that_keeps_expiring_is_an_error(tracker, jira):
    tracker.seed(RECORDS)
    jira.expire_page_tokens(2)
    with pytest.raises(TrackerError, match="page token expired twice"):
        source_for(jira, page_size=2).read(None)


def test_an_issue_edited_while_the_pages_are_read_is_one_milestone(tracker, jira):
    """Jira pages in `updated` order: an issue edited mid-read moves to the end and comes
    twice. Only its latest version counts."""
    records = [
        {"id": f"M{i}", "contract": "ACME-WEB", "amount": f"{i}.00", "status": "open"}
        for i in range(1, 6)
    ]
    tracker.seed(records)
    jira.before_next_page(lambda: tracker.edit("M1", amount="99.00"))
    batch = source_for(jira, page_size=2).read(None)
    assert sorted(m.id for m in batch.milestones) == ["M1", "M2", "M3", "M4", "M5"]
    assert {m.id: m.amount for m in batch.milestones}["M1"] == Decimal("99.00")


def test_a_complete_read_comes_every_full_read_days(tracker, jira):
    tracker.seed(RECORDS)
    source = tracker.source
    source.clock = jira.clock.now
    first = source.read(None)
    second = source.read(first.cursor)
    assert first.complete and not second.complete and second.milestones == []
    assert "updated >=" in jira.last_jql
    jira.clock.advance(timedelta(days=6, hours=23))
    assert not source.read(second.cursor).complete
    jira.clock.advance(timedelta(hours=1))  # seven days since the last complete read
    third = source.read(second.cursor)
    assert third.complete and sorted(m.id for m in third.milestones) == ["M1", "M2", "M3"]
    assert "updated >=" not in jira.last_jql
    assert not source.read(third.cursor).complete


def test_full_read_days_is_a_setting():
    assert JiraSettings(site="x").full_read_days == 7
    assert JiraSettings(site="x", full_read_days=1).full_read_days == 1
    with pytest.raises(ValueError, match="full_read_days"):
        JiraSettings(site="x", full_read_days=0)


def test_a_deleted_issue_leaves_the_books_at_the_next_complete_read(tmp_path):
    """Incremental reads cannot see a deletion; the weekly complete read does, and the
    engine stops reporting the milestone."""
    with TrackerDemo("jira") as demo:
        path = business_config(tmp_path, demo.tracker_section(EXAMPLE / "milestones.toml"))
        demo.connect(BUSINESS)
        source = config_mod.load(path).source()
        source.clock = demo.sandbox.clock.now
        ledger = MemoryLedger()

        def reported() -> set[str]:
            return {s.milestone for s in sync(path, ledger, source=source).skipped}

        assert "BETA-2" in reported()
        demo.sandbox.delete_issue(demo.person.keys["BETA-2"])
        assert "BETA-2" in reported()  # an incremental read: it still looks open
        demo.sandbox.clock.advance(timedelta(days=7))
        assert "BETA-2" not in reported()


def test_a_429_is_waited_out(tracker):
    a_429_is_waited_out(tracker, match="search/jql")


def test_a_bad_milestone_names_the_issue_link_and_the_field(tracker, jira):
    tracker.seed(RECORDS)
    key = jira.create_issue("NW", "Extra", {"Contract": "ACME-WEB", "Amount": None})
    (bad,) = tracker.source.read(None).invalid
    assert bad.id == key and bad.where == f"{jira.url}/browse/{key}"
    assert bad.message.startswith(f"{jira.url}/browse/{key}: milestone {key}: ")
    assert "give exactly one of percent or amount" in bad.message


def test_a_field_problem_uses_the_jira_field_name(tracker, jira):
    tracker.seed(RECORDS[:1])
    jira.update_issue(tracker.person.keys["M1"], **{"Percent of contract": 150})
    (bad,) = tracker.source.read(None).invalid
    assert "field 'Percent of contract' (percent): expected a percent from 0 to 100" in (
        bad.message
    )


def test_ids_default_to_the_issue_key_and_done_dates_to_the_resolution(tracker, jira):
    tracker.seed(RECORDS)
    found = {m.id: m for m in source_for(jira, fields=JiraFields()).read(None).milestones}
    assert sorted(found) == ["NW-1", "NW-2", "NW-3"]
    assert (found["NW-1"].status, found["NW-1"].completed) == (Status.DONE, date(2026, 9, 20))


def test_an_unknown_field_name_lists_the_fields_jira_has(tracker, jira):
    source = source_for(jira, fields=JiraFields(amount="Invoice amount"))
    with pytest.raises(SettingRefused, match=r"tracker.fields.amount: Jira has no field named "):
        source.read(None)


def test_a_bad_jql_names_the_config_key(tracker, jira):
    with pytest.raises(TrackerError, match=r"tracker.jql 'priority = High' was refused"):
        source_for(jira, jql="priority = High").read(None)


def test_order_by_in_the_configured_jql_is_refused():
    with pytest.raises(ValueError, match="leave out ORDER BY"):
        JiraSettings(site="x", jql="project = NW ORDER BY created")


def test_the_site_becomes_an_atlassian_address():
    assert JiraSettings(site="northwind").base_url == "https://northwind.atlassian.net"
    assert JiraSettings(site="jira.example.com").base_url == "https://jira.example.com"


def test_no_token_names_the_command(jira):
    with pytest.raises(CredentialsMissing, match="connector auth jira --config FILE"):
        source_for(jira).read(None)


def test_a_wrong_token_names_the_command(jira):
    connect("jira", "wrong", EMAIL)
    with pytest.raises(TrackerError, match=r"token was refused.*connector auth jira"):
        source_for(jira).read(None)


def test_the_demo_bills_from_jira_what_it_bills_from_the_file(tmp_path):
    from_file, from_jira, report = demo_bills_like_the_file("jira", tmp_path)
    assert from_file and from_jira == from_file and not report.fatal


def test_auth_jira_asks_for_the_email_and_token_and_checks_them(tmp_path, memory_keyring):
    from typer.testing import CliRunner

    from connector.cli import app
    from tests.tracker_support import business_config

    with JiraSandbox() as sandbox:
        section = f'[tracker]\nkind = "jira"\nsite = "northwind"\napi_url = "{sandbox.url}"\n'
        path = business_config(tmp_path, section)
        result = CliRunner().invoke(
            app, ["auth", "jira", "--config", str(path)], input=f"{EMAIL}\n{TOKEN}\n"
        )
        assert result.exit_code == 0, result.output
        assert "to jira as Northwind Bookkeeper" in result.output and TOKEN not in result.output
        stored = memory_keyring.entries[("milestone-connector", "Northwind Studio/jira")]
        assert EMAIL in stored and TOKEN in stored


def test_the_planned_date_is_the_jira_due_date_and_an_edit_is_seen(tracker):
    """An issue's Due date (`duedate`) is the day the work is planned: the cash
    forecast's date. A change is read like any other, incrementally."""
    tracker.seed([{**RECORDS[1], "planned": date(2027, 1, 15)}, RECORDS[0]])
    first = tracker.source.read(None)
    found = {m.id: m for m in first.milestones}
    assert found["M2"].planned == date(2027, 1, 15) and found["M1"].planned is None
    tracker.edit("M2", planned=date(2027, 2, 1))
    changed = {m.id: m for m in tracker.source.read(first.cursor).milestones}
    assert changed["M2"].planned == date(2027, 2, 1)
