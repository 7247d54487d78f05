"""The shared tracker HTTP layer over real HTTP (pytest-httpserver on 127.0.0.1)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime

import pytest
import requests
from werkzeug import Response

from connector.errors import FatalTrackerError, RetriableTrackerError
from connector.sources.http import TrackerError, TrackerHttp, wait_seconds
from tests.tracker_support import DictCache

SECRET = "ghp_do_not_store_me"


def client(server, **kw) -> TrackerHttp:
    kw.setdefault("first_wait", 0.01)
    return TrackerHttp("Tracker", server.url_for(""), headers={"Authorization": SECRET}, **kw)


def test_numbers_never_pass_through_a_float(httpserver):
    httpserver.expect_request("/n").respond_with_data(
        '{"v": 33.33}', content_type="application/json"
    )
    value = client(httpserver).get("/n").data["v"]
    assert value == Decimal("33.33") and type(value) is Decimal


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"message": "Not Found", "documentation_url": "x"}, "Not Found"),
        ({"errorMessages": ["Field 'x' does not exist"], "errors": {}}, "Field 'x' does not"),
        ({"errors": [{"message": "project: Not a recognized ID", "help": "h"}]}, "project: Not"),
    ],
)
def test_the_vendors_own_message_is_in_the_error(httpserver, body, message):
    httpserver.expect_request("/e").respond_with_json(body, status=400)
    with pytest.raises(FatalTrackerError, match=message) as exc:
        client(httpserver).get("/e")
    assert exc.value.status == 400


def test_5xx_is_retried_then_reported(httpserver):
    httpserver.expect_request("/e").respond_with_json({"message": "down"}, status=502)
    http = client(httpserver, attempts=3)
    with pytest.raises(RetriableTrackerError, match="HTTP 502: down"):
        http.get("/e")
    assert http.calls == 3


def test_a_wait_longer_than_max_wait_is_reported_at_once(httpserver):
    httpserver.expect_request("/e").respond_with_json(
        {"message": "slow down"}, status=429, headers={"Retry-After": "3600"}
    )
    http = client(httpserver, max_wait=5)
    started = time.monotonic()
    with pytest.raises(RetriableTrackerError, match="rate limited: slow down; it asked for 3600s"):
        http.get("/e")
    assert http.calls == 1 and time.monotonic() - started < 2


def test_retry_after_is_waited_then_the_call_succeeds(httpserver):
    httpserver.expect_ordered_request("/r").respond_with_json(
        {"message": "wait"}, status=429, headers={"Retry-After": "1"}
    )
    httpserver.expect_ordered_request("/r").respond_with_json({"ok": True})
    started = time.monotonic()
    assert client(httpserver).get("/r").data == {"ok": True}
    assert time.monotonic() - started >= 1.0


def test_a_secondary_limit_403_with_retry_after_is_waited_out(httpserver):
    httpserver.expect_ordered_request("/s").respond_with_json(
        {"message": "You have exceeded a secondary rate limit."},
        status=403,
        headers={"Retry-After": "1", "x-ratelimit-remaining": "4990"},
    )
    httpserver.expect_ordered_request("/s").respond_with_json({"ok": True})
    http = client(httpserver)
    assert http.get("/s").data == {"ok": True} and http.calls == 2


def test_a_403_without_retry_after_or_spent_quota_is_a_refusal(httpserver):
    httpserver.expect_request("/f").respond_with_json(
        {"message": "Resource not accessible by integration"},
        status=403,
        headers={"x-ratelimit-remaining": "4990"},
    )
    http = client(httpserver)
    with pytest.raises(FatalTrackerError, match="Resource not accessible"):
        http.get("/f")
    assert http.calls == 1


def test_a_429_with_quota_left_backs_off_instead_of_waiting_for_the_hourly_reset(httpserver):
    reset = int((datetime.now(UTC) + timedelta(minutes=40)).timestamp())
    headers = {"x-ratelimit-remaining": "4990", "x-ratelimit-reset": str(reset)}
    httpserver.expect_ordered_request("/q").respond_with_json(
        {"message": "slow down"}, status=429, headers=headers
    )
    httpserver.expect_ordered_request("/q").respond_with_json({"ok": True})
    http = client(httpserver, max_wait=5)
    started = time.monotonic()
    assert http.get("/q").data == {"ok": True}
    assert http.calls == 2 and time.monotonic() - started < 2


def _response(headers: dict[str, str]) -> requests.Response:
    response = requests.Response()
    response.headers.update(headers)
    return response


def test_wait_seconds_reads_every_vendors_header():
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    later = now + timedelta(seconds=30)
    assert wait_seconds(_response({"Retry-After": "7"}), now) == 7
    assert wait_seconds(_response({"Retry-After": format_datetime(later, usegmt=True)}), now) == 30
    spent = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(later.timestamp()))}
    assert wait_seconds(_response(spent), now) == 30
    # GitHub sends the hourly window's end on every answer: with quota left it is no wait
    left = {**spent, "x-ratelimit-remaining": "4999"}
    assert wait_seconds(_response(left), now) is None
    jira = {"X-RateLimit-Reset": "2026-11-26T12:00:30Z"}
    assert wait_seconds(_response(jira), now) == 30
    assert wait_seconds(_response({}), now) is None


def test_a_repeated_page_token_stops_instead_of_looping(httpserver):
    httpserver.expect_request("/p").respond_with_json({"items": [1], "nextPageToken": "same"})
    http = client(httpserver)
    pages = http.token_pages(
        lambda token: http.get("/p", {"t": token}), lambda d: d.get("nextPageToken")
    )
    with pytest.raises(TrackerError, match="same page token twice"):
        list(pages)
    assert http.calls == 2  # the second page named itself again: no third request


def test_a_repeated_next_link_stops_instead_of_looping(httpserver):
    link = f'<{httpserver.url_for("/l")}?page=2>; rel="next"'
    httpserver.expect_request("/l").respond_with_json([1], headers={"Link": link})
    with pytest.raises(TrackerError, match="next-page link repeats"):
        list(client(httpserver).link_pages("/l"))


def test_the_etag_cache_holds_bodies_never_credentials(httpserver):
    def answer(request):
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304, headers={"ETag": '"v1"'})
        return Response(
            json.dumps([{"n": 1}]), headers={"ETag": '"v1"'}, content_type="application/json"
        )

    httpserver.expect_request("/m").respond_with_handler(answer)
    cache = DictCache()
    http = client(httpserver)
    http.cache = cache
    first = http.get_conditional("/m", {"state": "all"})
    second = http.get_conditional("/m", {"state": "all"})
    assert (first.status, second.status) == (200, 304)
    assert second.data == first.data == [{"n": 1}]
    assert cache.puts == 1
    assert SECRET not in json.dumps(cache.entries)


def test_an_unreachable_tracker_is_retriable_and_named(httpserver):
    http = TrackerHttp("Tracker", "http://127.0.0.1:9", attempts=2, first_wait=0.01, timeout=1)
    with pytest.raises(RetriableTrackerError, match=r"could not reach http://127\.0\.0\.1:9/x"):
        http.get("/x")
    assert http.calls == 2


def test_an_answer_that_is_not_json_is_an_error(httpserver):
    httpserver.expect_request("/h").respond_with_data("<html>maintenance</html>")
    with pytest.raises(TrackerError, match="not JSON"):
        client(httpserver).get("/h")
