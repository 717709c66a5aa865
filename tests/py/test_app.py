"""App settings and rate limits through getstream 7.0.0 (/api/v2), issue 25: get_app/update_app
(times written and read back to the millisecond), GET /rate_limits in Stream's shape (per platform,
per endpoint, limit/remaining/reset) and x-ratelimit-* headers that count real requests."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from getstream.exceptions import StreamRateLimitException
from getstream.models import QueryUsersPayload, UpdateUserPartialRequest, UserRequest

from helpers import api_error, assert_error, raw

# Stream names each endpoint by its operation (the name its errors carry: "UpdateUsers failed with
# error: ...", and Stream's own SDK tests ask for "GetRateLimits", "SendMessage", "QueryChannels").
USER_ENDPOINTS = {"GetApp", "UpdateApp", "QueryUsers", "UpdateUsers", "UpdateUsersPartial", "GetRateLimits"}


def test_get_app_and_update_app(client, wire):
    r = client.get_app()
    assert (wire.last.method, wire.last.path, wire.last.status) == ("GET", "/api/v2/app", 200)
    assert set(wire.last.json) == {"app", "duration"}
    assert r.data.app.enforce_unique_usernames == "no"
    assert r.data.app.multi_tenant_enabled is False

    u = client.update_app(enforce_unique_usernames="app")
    assert (wire.last.method, wire.last.path, wire.last.status) == ("PATCH", "/api/v2/app", 200)
    assert wire.last.request_json == {"enforce_unique_usernames": "app"}
    assert isinstance(u.data.duration, str)
    try:
        assert client.get_app().data.app.enforce_unique_usernames == "app"
        client.upsert_users(UserRequest(id="app-dee", name="Dee"))
        e = api_error(lambda: client.upsert_users(UserRequest(id="app-dee2", name="dee")))
        assert_error(e, 400, 6, "UpdateUsers failed with error: \"username 'dee' already exists\"")
        client.upsert_users(UserRequest(id="app-eve", name="Eve"))
        e = api_error(lambda: client.update_users_partial([UpdateUserPartialRequest(id="app-eve", set={"name": "DEE"})]))
        # the name as submitted, as Stream words it
        assert_error(e, 400, 6, "UpdateUsersPartial failed with error: \"username 'DEE' already exists\"")
    finally:
        client.update_app(enforce_unique_usernames="no")
    assert client.get_app().data.app.enforce_unique_usernames == "no"


def test_app_times_round_trip_to_the_millisecond(roster, client, wire, http):
    written = datetime(2001, 2, 3, 4, 5, 6, 789000, tzinfo=timezone.utc)
    client.update_app(revoke_tokens_issued_before=written)
    # the SDK writes an RFC 3339 string with an offset and six fractional digits
    assert wire.last.request_json == {"revoke_tokens_issued_before": "2001-02-03T04:05:06.789000+00:00"}
    assert wire.last.status == 200, wire.last.text
    got = client.get_app()
    assert wire.last.json["app"]["revoke_tokens_issued_before"] == 981173106789000000
    assert got.data.app.revoke_tokens_issued_before == written
    # The SDK drops None, so clearing takes raw HTTP: null clears.
    cleared = raw(http, roster, "PATCH", "/api/v2/app", client.token, body={"revoke_tokens_issued_before": None})
    assert cleared.status_code == 200, cleared.text
    assert client.get_app().data.app.revoke_tokens_issued_before is None


def _limits_ok(info, now: float) -> None:
    assert isinstance(info.limit, int) and info.limit > 0
    assert isinstance(info.remaining, int) and 0 <= info.remaining <= info.limit
    assert isinstance(info.reset, int) and now - 2 <= info.reset <= now + 62, "reset: the end of this minute's window, unix seconds"


def test_get_rate_limits_per_platform_per_endpoint(client, wire):
    now = time.time()
    r = client.get_rate_limits()
    assert (wire.last.method, wire.last.path, wire.last.status) == ("GET", "/api/v2/rate_limits", 200)
    body = wire.last.json
    for platform in ("server_side", "android", "ios", "web"):
        assert isinstance(body.get(platform), dict) and body[platform], f"{platform} is listed by default"
    assert USER_ENDPOINTS <= set(body["server_side"]), sorted(body["server_side"])
    for name, info in r.data.server_side.items():
        _limits_ok(info, now)

    r = client.get_rate_limits(server_side=True, android=True, endpoints="GetRateLimits,QueryUsers")
    assert wire.last.query == {"api_key": client.api_key, "server_side": "true", "android": "true",
                               "endpoints": "GetRateLimits,QueryUsers"}
    assert set(wire.last.json) == {"server_side", "android", "duration"}
    assert (r.data.ios, r.data.web) == (None, None)
    assert set(r.data.server_side) == {"GetRateLimits", "QueryUsers"}
    assert set(r.data.android) == {"GetRateLimits", "QueryUsers"}
    # Counted per platform: this server-side call used one GetRateLimits on server_side, none on android.
    mine = r.data.server_side["GetRateLimits"]
    assert mine.remaining < mine.limit
    theirs = r.data.android["GetRateLimits"]
    assert theirs.remaining == theirs.limit


def test_rate_limit_headers_count_each_endpoint(client):
    payload = QueryUsersPayload(filter_conditions={"id": "nobody"})
    first = client.query_users(payload).rate_limit()
    assert first is not None, "x-ratelimit-limit/remaining/reset are on the response"
    client.get_app()  # another endpoint: not counted against QueryUsers
    second = client.query_users(payload).rate_limit()
    assert second.limit == first.limit > 0
    if second.reset == first.reset:
        assert second.remaining == first.remaining - 1, (first, second)
    else:  # the minute rolled over between the two calls: a fresh window with this call in it
        assert second.remaining == second.limit - 1, (first, second)

    listed = client.get_rate_limits(server_side=True, endpoints="QueryUsers").data.server_side["QueryUsers"]
    assert listed.limit == second.limit
    if datetime.fromtimestamp(listed.reset, timezone.utc) == second.reset:
        assert listed.remaining == second.remaining, "GET /rate_limits reports the same count"


def test_over_a_configured_limit_is_429_code_9_before_any_work(roster, client, wire, http):
    # Limits are Roster's app setting `roster_rate_limits` (Stream sets them per plan); the SDK's
    # update_app has no such argument, so it is set with raw HTTP.
    on = raw(http, roster, "PATCH", "/api/v2/app", client.token, body={"roster_rate_limits": {"UpdateUsers": 0}})
    assert on.status_code == 200, on.text
    try:
        # A limit of 0 refuses every call, whatever the minute (nothing depends on the clock).
        i = 0
        with pytest.raises(StreamRateLimitException) as caught:
            client.upsert_users(UserRequest(id=f"rl-{i}"))
        e = caught.value
        assert_error(e, 429, 9)
        assert e.message.startswith('UpdateUsers failed with error: "Too many requests'), e.message
        assert e.rate_limit_info is not None and (e.rate_limit_info.limit, e.rate_limit_info.remaining) == (0, 0)
        q = client.query_users(QueryUsersPayload(filter_conditions={"id": f"rl-{i}"}))
        assert q.data.users == [], "the refused upsert wrote nothing"
        # other endpoints keep their own (unconfigured, unenforced) budgets
        assert client.get_app().status_code() == 200
    finally:
        off = raw(http, roster, "PATCH", "/api/v2/app", client.token, body={"roster_rate_limits": None})
        assert off.status_code == 200, off.text
    client.upsert_users(UserRequest(id="rl-after"))
