"""Helpers for the getstream 7.0.0 suite: the wire recorder, raw HTTP, Stream's envelope, times."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

import httpx
import pytest
from getstream.exceptions import StreamApiException

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


# ------------------------------------------------------------------------------------ wire


@dataclass
class Exchange:
    method: str
    path: str
    query: dict[str, str]
    request_json: Any
    status: int
    headers: httpx.Headers
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text) if self.text else None


@dataclass
class Wire:
    """Every request the SDK made through this client, with its response, in order."""

    exchanges: list[Exchange] = field(default_factory=list)

    @property
    def last(self) -> Exchange:
        assert self.exchanges, "no request was made"
        return self.exchanges[-1]


class RecordingTransport(httpx.HTTPTransport):
    def __init__(self, wire: Wire):
        super().__init__()
        self.wire = wire

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        response.read()
        body = request.content
        self.wire.exchanges.append(
            Exchange(
                method=request.method,
                path=request.url.path,
                query=dict(request.url.params),
                request_json=json.loads(body) if body else None,
                status=response.status_code,
                headers=response.headers,
                text=response.content.decode("utf-8", errors="replace"),
            )
        )
        return response


def raw(h: httpx.Client, roster: Roster, method: str, path: str, token: Optional[str], body: Any = None,
        params: Optional[dict] = None) -> httpx.Response:
    headers = {"stream-auth-type": "jwt"}
    if token is not None:
        headers["Authorization"] = token
    q = {"api_key": roster.key, **(params or {})}
    return h.request(method, path, params=q, headers=headers, json=body)


# ------------------------------------------------------------------------------------ asserts


def api_error(call) -> StreamApiException:
    """Runs an SDK call that must fail with a Stream API error; returns the exception."""
    with pytest.raises(StreamApiException) as info:
        call()
    return info.value


def assert_error(e: StreamApiException, status: int, code: int, message: Optional[str] = None) -> None:
    """The SDK's exception carries Stream's envelope exactly (status, code, message, envelope keys)."""
    assert e.status_code == status, e.raw_response_body
    assert e.code == code, e.raw_response_body
    body = json.loads(e.raw_response_body)
    assert body["StatusCode"] == status, e.raw_response_body
    assert isinstance(body["duration"], str) and isinstance(body["more_info"], str), e.raw_response_body
    assert body["details"] == [], e.raw_response_body
    if message is not None:
        assert e.message == message, e.raw_response_body


def ns(dt: datetime) -> int:
    """A datetime as integer nanoseconds since the epoch (exact for microsecond datetimes)."""
    d = dt - EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000_000 + d.microseconds * 1_000


def from_ns(value: int) -> datetime:
    """Integer nanoseconds since the epoch as a datetime, truncated to microseconds (exact)."""
    return EPOCH + timedelta(microseconds=value // 1_000)


def is_ns(value: Any) -> bool:
    """An integer count of nanoseconds of a plausible instant (after 2000, before 2100)."""
    return (
        isinstance(value, int) and not isinstance(value, bool)
        and 946_684_800 * 10**9 <= value < 4_102_444_800 * 10**9
    )


def near_now(dt: datetime, minutes: int = 5) -> bool:
    return abs(datetime.now(timezone.utc) - dt) < timedelta(minutes=minutes)
