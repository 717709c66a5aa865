"""Roster driven by Stream's current Python SDK (PyPI getstream 7.0.0, /api/v2), issue 25.

Each test module gets its own Roster: `node tests/worker/serve.mjs` runs a snapshot of build/
under `wrangler dev` (as the Node suites' harness does) with a fresh store and a random key and
secret, prints one JSON line {baseURL, port, key, secret, persistTo}, and serves until its
standard input closes. The SDK is used as a user would: `Stream(key, secret, base_url=...)`.
A recording httpx transport (the SDK's public `transport=` option) keeps every exchange, so tests
can assert the wire as well as what the SDK decoded from it. Raw HTTP (httpx) is used only for
what the SDK cannot send.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
import httpx
import pytest
from getstream import Stream
from helpers import RecordingTransport, Wire

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 120


# ------------------------------------------------------------------------------------ server


@dataclass
class Roster:
    base_url: str
    key: str
    secret: str
    proc: subprocess.Popen
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()  # serve.mjs stops the Worker and exits
            except OSError:
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait()
        self.log.unlink(missing_ok=True)


def start_roster() -> Roster:
    log = Path(tempfile.mkstemp(prefix="roster-py-serve-", suffix=".log")[1])
    env = {k: v for k, v in os.environ.items() if k not in ("STREAM_LOCAL_TEST_RUN", "STREAM_LOCAL_TEST_HOST")}
    # scripts/env.sh puts the project's Node 22 first on PATH.
    cmd = ["bash", "-c", "source scripts/env.sh && exec node tests/worker/serve.mjs"]
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
            start_new_session=True,
        )
    line: list[bytes] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(START_TIMEOUT_S)
    if not line or not line[0].strip():
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        raise RuntimeError(f"serve.mjs did not start a Roster:\n{log.read_text(errors='replace')[-4000:]}")
    info = json.loads(line[0])
    return Roster(base_url=info["baseURL"], key=info["key"], secret=info["secret"], proc=proc, log=log)


@pytest.fixture(scope="module")
def roster():
    r = start_roster()
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture(scope="module")
def wire() -> Wire:
    return Wire()


@pytest.fixture(scope="module")
def client(roster: Roster, wire: Wire) -> Stream:
    """The server-side SDK client, as a user makes it (plus the recording transport)."""
    c = Stream(roster.key, roster.secret, base_url=roster.base_url, transport=RecordingTransport(wire), timeout=20)
    yield c
    c.close()


@pytest.fixture(scope="module")
def http(roster: Roster):
    """Raw HTTP with Stream's transport (api_key, Authorization, stream-auth-type)."""
    with httpx.Client(base_url=roster.base_url, timeout=20) as h:
        yield h


