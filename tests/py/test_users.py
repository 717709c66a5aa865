"""Users through getstream 7.0.0 (/api/v2): its server token, round trips with `custom` nested,
integer-nanosecond timestamps, custom events, batch tasks visible at once, restore, custom keys
named like built-ins, deactivate/reactivate and user tokens (issue 25)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import jwt
import pytest
from getstream import Stream
from getstream.models import QueryUsersPayload, SortParamRequest, UpdateUserPartialRequest, UserCustomEventRequest, UserRequest

from helpers import api_error, assert_error, from_ns, is_ns, near_now, ns, raw


def query(client: Stream, filter_conditions: dict, **kw):
    return client.query_users(QueryUsersPayload(filter_conditions=filter_conditions, **kw))


def ids(response) -> list[str]:
    return [u.id for u in response.data.users]


# ------------------------------------------------------------------------------------ auth


def test_server_token_signed_over_empty_claims_is_a_server_token(roster, client, wire):
    # What the SDK sends: HS256 over {} (no `server`, no `user_id`, no iat).
    assert jwt.decode(client.token, roster.secret, algorithms=["HS256"]) == {}
    assert jwt.get_unverified_header(client.token) == {"alg": "HS256", "typ": "JWT"}
    r = client.get_app()
    assert r.status_code() == 200
    assert (wire.last.method, wire.last.path) == ("GET", "/api/v2/app")
    assert wire.last.query == {"api_key": roster.key}
    # and it acts as the server: it writes any user
    r = client.upsert_users(UserRequest(id="srv-any", name="Any"))
    assert r.status_code() == 201
    assert r.data.users["srv-any"].name == "Any"


def test_empty_claims_signed_with_another_secret_are_refused(roster):
    bad = Stream(roster.key, "x" * 48, base_url=roster.base_url, timeout=20)
    e = api_error(bad.get_app)
    assert_error(e, 401, 43)
    unknown = Stream("no-such-key", roster.secret, base_url=roster.base_url, timeout=20)
    assert_error(api_error(unknown.get_app), 401, 2)


# ------------------------------------------------------------------------------------ round trips


def test_upsert_query_partial_round_trip_with_custom_nested(client, wire):
    custom = {"color": "blue", "deep": {"x": 1.5}, "tags": ["a", "b"], "score": 50}
    r = client.upsert_users(UserRequest(id="rt-ann", name="Ann", role="user", language="fr", custom=custom))
    assert r.status_code() == 201
    assert (wire.last.method, wire.last.path) == ("POST", "/api/v2/users")
    assert wire.last.request_json == {"users": {"rt-ann": {
        "id": "rt-ann", "name": "Ann", "role": "user", "language": "fr", "custom": custom}}}
    body = wire.last.json
    assert body["membership_deletion_task_id"] == ""
    on_wire = body["users"]["rt-ann"]
    assert on_wire["custom"] == custom
    assert "color" not in on_wire and "deep" not in on_wire, "custom data is not spread at the top"
    ann = r.data.users["rt-ann"]
    assert (ann.id, ann.name, ann.role, ann.language) == ("rt-ann", "Ann", "user", "fr")
    assert ann.custom == custom
    assert (ann.banned, ann.online, ann.deactivated_at, ann.deleted_at) == (False, False, None, None)

    client.upsert_users(UserRequest(id="rt-bob", name="Bob", custom={"color": "blue", "score": 30}))
    q = query(client, {"id": {"$in": ["rt-ann", "rt-bob"]}}, sort=[SortParamRequest(field="score", direction=-1)])
    assert (wire.last.method, wire.last.path) == ("GET", "/api/v2/users")
    sort = json.loads(wire.last.query["payload"])["sort"]
    assert [(s["field"], s["direction"]) for s in sort] == [("score", -1)]
    assert ids(q) == ["rt-ann", "rt-bob"], "sorted by a custom field, descending"
    assert q.data.users[0].custom == custom
    assert q.data.users[0].created_at == ann.created_at
    assert ids(query(client, {"custom.color": "blue", "id": {"$in": ["rt-ann", "rt-bob"]}})) in (["rt-ann", "rt-bob"], ["rt-bob", "rt-ann"])

    p = client.update_users_partial([UpdateUserPartialRequest(
        id="rt-ann", set={"custom.color": "red", "name": "Ann B", "custom.deep.y": 2, "mood": "ok"}, unset=["custom.tags"])])
    assert p.status_code() == 200
    assert (wire.last.method, wire.last.path) == ("PATCH", "/api/v2/users")
    assert wire.last.request_json == {"users": [{"id": "rt-ann", "set": {
        "custom.color": "red", "name": "Ann B", "custom.deep.y": 2, "mood": "ok"}, "unset": ["custom.tags"]}]}
    b = p.data.users["rt-ann"]
    assert b.name == "Ann B"
    assert b.custom == {"color": "red", "deep": {"x": 1.5, "y": 2}, "score": 50, "mood": "ok"}, "a bare key in set is custom data"
    assert b.created_at == ann.created_at
    assert b.updated_at >= ann.updated_at
    assert query(client, {"id": "rt-ann"}).data.users[0].custom == b.custom


# ------------------------------------------------------------------------------------ timestamps


def test_timestamps_are_integer_nanoseconds_with_exact_milliseconds(roster, client, wire, http):
    r = client.upsert_users(UserRequest(id="ts-u", name="T"))
    on_wire = wire.last.json["users"]["ts-u"]
    for k in ("created_at", "updated_at"):
        assert is_ns(on_wire[k]), f"{k} on /api/v2 is integer nanoseconds, got {on_wire[k]!r}"
    u = r.data.users["ts-u"]
    assert u.created_at == from_ns(on_wire["created_at"]) and u.created_at.tzinfo == timezone.utc
    assert u.updated_at == from_ns(on_wire["updated_at"])
    assert near_now(u.created_at), u.created_at
    assert u.created_at.microsecond % 1000 == 0, "millisecond precision"

    # v1 answers the same instants as RFC 3339 strings.
    v1 = raw(http, roster, "GET", "/users", client.token,
             params={"payload": json.dumps({"filter_conditions": {"id": "ts-u"}})})
    assert v1.status_code == 200, v1.text
    legacy = v1.json()["users"][0]
    assert isinstance(legacy["created_at"], str)
    assert datetime.fromisoformat(legacy["created_at"].replace("Z", "+00:00")) == u.created_at

    # A time written on /api/v2 (RFC 3339 with milliseconds, or integer nanoseconds) reads back exactly.
    written = datetime(2001, 2, 3, 4, 5, 6, 789000, tzinfo=timezone.utc)
    p = client.update_users_partial([UpdateUserPartialRequest(id="ts-u", set={"revoke_tokens_issued_before": "2001-02-03T04:05:06.789Z"})])
    assert wire.last.json["users"]["ts-u"]["revoke_tokens_issued_before"] == 981173106789000000
    assert p.data.users["ts-u"].revoke_tokens_issued_before == written
    assert p.data.users["ts-u"].created_at == u.created_at
    as_ns = datetime(2002, 3, 4, 5, 6, 7, 123000, tzinfo=timezone.utc)
    p = client.update_users_partial([UpdateUserPartialRequest(id="ts-u", set={"revoke_tokens_issued_before": ns(as_ns)})])
    assert wire.last.json["users"]["ts-u"]["revoke_tokens_issued_before"] == ns(as_ns)
    assert p.data.users["ts-u"].revoke_tokens_issued_before == as_ns
    q = query(client, {"id": "ts-u"}).data.users[0]
    assert (q.created_at, q.revoke_tokens_issued_before) == (u.created_at, as_ns)
    assert q.updated_at == p.data.users["ts-u"].updated_at


# ------------------------------------------------------------------------------------ events


def test_custom_user_event_on_the_chat_route(roster, client, wire, http):
    client.upsert_users(UserRequest(id="ev-u"))
    r = client.chat.send_user_custom_event(
        user_id="ev-u", event=UserCustomEventRequest(type="friendship_request", custom={"text": "hi"}))
    assert (wire.last.method, wire.last.path) == ("POST", "/api/v2/chat/users/ev-u/event")
    assert wire.last.request_json == {"event": {"type": "friendship_request", "custom": {"text": "hi"}}}
    assert r.status_code() == 201, wire.last.text
    assert wire.last.json["event"]["type"] == "friendship_request"
    assert isinstance(r.data.duration, str)
    e = api_error(lambda: client.chat.send_user_custom_event(
        user_id="ev-nobody", event=UserCustomEventRequest(type="friendship_request")))
    assert_error(e, 404, 16)
    # the older route stays
    old = raw(http, roster, "POST", "/api/v2/users/ev-u/event", client.token, body={"event": {"type": "t"}})
    assert old.status_code == 201, old.text


# ------------------------------------------------------------------------------------ delete / restore


def test_delete_users_is_visible_at_once_and_the_task_reports_it(client, wire):
    client.upsert_users(UserRequest(id="del-a", name="A"), UserRequest(id="del-b", name="B"))
    r = client.delete_users(user_ids=["del-a"])
    assert (wire.last.method, wire.last.path, wire.last.status) == ("POST", "/api/v2/users/delete", 201)
    assert wire.last.request_json == {"user_ids": ["del-a"]}
    task_id = r.data.task_id
    assert isinstance(task_id, str) and len(task_id) == 36
    assert ids(query(client, {"id": {"$in": ["del-a", "del-b"]}})) == ["del-b"], "gone from the very next query"

    t = client.wait_for_task(task_id, poll_interval=0.1, timeout=30)
    assert (wire.last.method, wire.last.path) == ("GET", f"/api/v2/tasks/{task_id}")
    assert t.data.task_id == task_id
    assert t.data.status == "completed"
    assert t.data.result == {"del-a": {"status": "ok"}}
    assert is_ns(wire.last.json["created_at"]) and is_ns(wire.last.json["updated_at"])
    assert near_now(t.data.created_at) and t.data.updated_at >= t.data.created_at

    restored = client.restore_users(user_ids=["del-a"])
    assert (wire.last.method, wire.last.path) == ("POST", "/api/v2/users/restore")
    assert restored.status_code() == 201
    assert ids(query(client, {"id": "del-a"})) == ["del-a"]


def test_restore_of_a_user_that_is_not_deleted(client):
    client.upsert_users(UserRequest(id="rs-live"))
    e = api_error(lambda: client.restore_users(user_ids=["rs-live"]))
    assert_error(e, 400, 4, 'RestoreUsers failed with error: "user "rs-live" is not deleted, it can\'t be restored"')


# ------------------------------------------------------------------------------------ custom vs built-ins


def test_custom_keys_named_like_built_ins_round_trip(client, wire):
    custom = {"created_at": "2001-01-01T00:00:00.000Z", "role": "x", "name": "y"}
    r = client.upsert_users(UserRequest(id="cb-u", name="Real Name", role="user", custom=custom))
    assert r.status_code() == 201, wire.last.text
    on_wire = wire.last.json["users"]["cb-u"]
    assert on_wire["custom"] == custom
    assert (on_wire["name"], on_wire["role"]) == ("Real Name", "user")
    assert is_ns(on_wire["created_at"]), "the top-level created_at is the server's"
    u = r.data.users["cb-u"]
    assert u.custom == custom
    assert near_now(u.created_at)
    q = query(client, {"id": "cb-u"}).data.users[0]
    assert (q.name, q.role, q.custom, q.created_at) == ("Real Name", "user", custom, u.created_at)
    p = client.update_users_partial([UpdateUserPartialRequest(id="cb-u", set={"custom.role": "z", "custom.name": "w"})])
    v = p.data.users["cb-u"]
    assert (v.role, v.name) == ("user", "Real Name")
    assert v.custom == {"created_at": "2001-01-01T00:00:00.000Z", "role": "z", "name": "w"}


# ------------------------------------------------------------------------------------ deactivate / reactivate


def test_deactivate_and_reactivate_one_user(client, wire):
    client.upsert_users(UserRequest(id="da-u", name="D", custom={"keep": True}))
    d = client.deactivate_user(user_id="da-u")
    assert (wire.last.method, wire.last.path, wire.last.status) == ("POST", "/api/v2/users/da-u/deactivate", 201)
    assert is_ns(wire.last.json["user"]["deactivated_at"])
    assert d.data.user.id == "da-u"
    assert d.data.user.custom == {"keep": True}
    assert near_now(d.data.user.deactivated_at)
    assert ids(query(client, {"id": "da-u"})) == [], "deactivated users are not queried by default"
    inc = query(client, {"id": "da-u"}, include_deactivated_users=True).data.users
    assert [u.id for u in inc] == ["da-u"] and inc[0].deactivated_at == d.data.user.deactivated_at

    back = client.reactivate_user(user_id="da-u")
    assert (wire.last.path, wire.last.status) == ("/api/v2/users/da-u/reactivate", 201)
    assert wire.last.json["user"].get("deactivated_at") is None
    assert back.data.user.deactivated_at is None
    assert ids(query(client, {"id": "da-u"})) == ["da-u"]
    e = api_error(lambda: client.reactivate_user(user_id="da-u"))
    assert e.status_code == 400 and e.code == 4, e.raw_response_body
    assert "is not deactivated" in e.message, e.message


def test_batch_deactivate_and_reactivate_are_visible_at_once(client, wire):
    users = ["bd-a", "bd-b"]
    client.upsert_users(*(UserRequest(id=u) for u in users))
    r = client.deactivate_users(user_ids=users)
    assert (wire.last.path, wire.last.status) == ("/api/v2/users/deactivate", 201)
    assert ids(query(client, {"id": {"$in": users}})) == [], "deactivated by the time the call returns"
    inc = query(client, {"id": {"$in": users}}, include_deactivated_users=True, sort=[SortParamRequest(field="id", direction=1)])
    assert ids(inc) == users and all(near_now(u.deactivated_at) for u in inc.data.users)
    t = client.wait_for_task(r.data.task_id, poll_interval=0.1, timeout=30)
    assert t.data.status == "completed"

    r = client.reactivate_users(user_ids=users)
    assert (wire.last.path, wire.last.status) == ("/api/v2/users/reactivate", 201)
    q = query(client, {"id": {"$in": users}}, sort=[SortParamRequest(field="id", direction=1)])
    assert ids(q) == users and all(u.deactivated_at is None for u in q.data.users)
    assert client.wait_for_task(r.data.task_id, poll_interval=0.1, timeout=30).data.status == "completed"


# ------------------------------------------------------------------------------------ user tokens


def test_user_token_partially_updates_its_own_user_only(roster, client, http):
    client.upsert_users(UserRequest(id="ut-me", name="Me"), UserRequest(id="ut-other", name="Other"))
    token = client.create_token("ut-me")
    claims = jwt.decode(token, roster.secret, algorithms=["HS256"])
    assert set(claims) == {"user_id", "iat"} and claims["user_id"] == "ut-me"

    mine = raw(http, roster, "PATCH", "/api/v2/users", token, body={"users": [{"id": "ut-me", "set": {"custom.mood": "ok"}}]})
    assert mine.status_code == 200, mine.text
    assert mine.json()["users"]["ut-me"]["custom"] == {"mood": "ok"}
    assert is_ns(mine.json()["users"]["ut-me"]["updated_at"])

    # The SDK's own token-only client does the same.
    me = client.clone_for_token(token)
    p = me.update_users_partial([UpdateUserPartialRequest(id="ut-me", set={"mood": "fine"})])
    assert p.data.users["ut-me"].custom == {"mood": "fine"}
    assert_error(api_error(lambda: me.update_users_partial([UpdateUserPartialRequest(id="ut-other", set={"mood": "x"})])), 403, 17)
    assert_error(api_error(lambda: me.update_users_partial([UpdateUserPartialRequest(id="ut-me", set={"role": "admin"})])), 403, 17)
    assert query(client, {"id": "ut-other"}).data.users[0].custom == {}
