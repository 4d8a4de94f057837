"""The official Wazo JavaScript SDK (@wazo/sdk, pinned in tests/sdk) against a
real tenbusd, unchanged: tests/sdk/sdk_client.js drives the SDK's own
WebSocketClient and reports what it does as JSON lines (see that file).

Needs node and npm (`npm ci` runs once, here); without them these tests skip,
unless TENBUS_SDK=1 (set by scripts/test.sh when npm is available), where
they fail instead.

What the SDK does (0.44.x, read from its dist/): it always builds
`wss://HOST/api/websocketd/?token=T&version=V` (+ `&userUuid=U` with a
Session), through reconnecting-websocket (which needs a WebSocket class under
Node 20: the "ws" package is handed to it with the `WebSocket` option). On
`init` it sends one `subscribe` per event name then `{"op": "start"}` (no
`data`), treats the `start` reply as "initialized", dispatches v2
`op: event` frames as `emit(data.name, data)` (v1: `emit(body.name, body)`),
renews with `{"op": "token", "data": {"token": T}}` (v2 only, reply ignored),
heartbeats with `{"op": "ping", "data": {"payload": "pong"}}` and reports close
4002 as "on_auth_failed" - but reconnects after every close (with backoff)
until the application calls close().
"""

import json
import os
import queue
import shutil
import subprocess
import threading
import time

import pytest

import tenbus_harness as th
from tenbus_harness import ev_tenant, ev_user, iso_in, mark, scaled

SDK_DIR = os.path.join(th.REPO, "tests", "sdk")
SDK_CLIENT = os.path.join(SDK_DIR, "sdk_client.js")
REQUIRED = os.environ.get("TENBUS_SDK") == "1"


def _unavailable(reason):
    if REQUIRED:
        pytest.fail("TENBUS_SDK=1 but " + reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def sdk():
    """node + the SDK installed in tests/sdk/node_modules (th.node_project)."""
    return th.node_project(SDK_DIR, "TENBUS_SDK")


@pytest.fixture(scope="module")
def tls_cert(sdk, tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 (for the wss transport)."""
    openssl = shutil.which("openssl")
    if not openssl:
        _unavailable("openssl not installed (needed for the wss test)")
    d = tmp_path_factory.mktemp("tls")
    cert, key = str(d / "cert.pem"), str(d / "key.pem")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=60)
    return cert, key


class SDKClient:
    """One sdk_client.js process; its stdout lines are parsed as they come."""

    def __init__(self, node, daemon, token, *, events=("*",), listen=None, count=0,
                 timeout=10, version=2, user_uuid=None, transport="ws", tls=None,
                 keep_retrying=False, exit_on_close=False, env=None):
        tok = token.id if isinstance(token, th.Token) else token
        cmd = [node, SDK_CLIENT, "--port", str(daemon.port), "--token", tok,
               "--events", ",".join(events), "--count", str(count),
               "--timeout", str(scaled(timeout)), "--version", str(version),
               "--transport", transport]
        if listen is not None:
            cmd += ["--listen", ",".join(listen)]
        if user_uuid:
            cmd += ["--user-uuid", user_uuid]
        if tls:
            cmd += ["--tls-cert", tls[0], "--tls-key", tls[1]]
        if keep_retrying:
            cmd.append("--keep-retrying")
        if exit_on_close:
            cmd.append("--exit-on-close")
        self.count = count
        self.stderr_path = os.path.join(daemon.dir, "sdk_client.%s.stderr" % mark())
        self._stderr = open(self.stderr_path, "wb")
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, cwd=SDK_DIR, env=full_env)
        self.lines = []            # every parsed line, in order
        self._q = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            text = raw.decode("utf-8", "replace").strip()
            if not text.startswith("{"):
                continue            # not one of ours
            try:
                obj = json.loads(text)
            except ValueError:
                continue
            if isinstance(obj, dict) and "type" in obj:
                self._q.put(obj)
        self._q.put(None)           # EOF

    def _describe(self):
        try:
            with open(self.stderr_path, "rb") as f:
                err = f.read().decode("utf-8", "replace")[-3000:]
        except OSError:
            err = ""
        return "sdk_client lines:\n%s\nsdk_client stderr:\n%s" % (
            "\n".join(json.dumps(x) for x in self.lines), err)

    def wait(self, type_, pred=lambda m: True, timeout=th.RECV_TIMEOUT):
        """Returns the next line of this type matching `pred` (earlier lines
        are kept in self.lines)."""
        deadline = time.monotonic() + scaled(timeout)
        for m in self.lines:
            if m["type"] == type_ and pred(m) and not m.get("_seen"):
                m["_seen"] = True
                return m
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %r line from the SDK client in %.1fs\n%s"
                                     % (type_, scaled(timeout), self._describe()))
            try:
                m = self._q.get(timeout=left)
            except queue.Empty:
                continue
            if m is None:
                self._q.put(None)
                raise AssertionError("SDK client exited before a %r line\n%s"
                                     % (type_, self._describe()))
            self.lines.append(m)
            if m["type"] == type_ and pred(m):
                m["_seen"] = True
                return m

    def command(self, **cmd):
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        self.proc.stdin.flush()

    def finish(self, timeout=th.RECV_TIMEOUT, ask=None):
        """Waits for the "done" line and the exit; returns every line. With
        ask (default: when the client was not given an event count), asks for
        the exit via stdin first."""
        if ask is None:
            ask = not self.count
        if ask and self.proc.poll() is None:
            try:
                self.command(cmd="close")
            except (BrokenPipeError, ValueError):
                pass
        self.wait("done", timeout=timeout)
        try:
            rc = self.proc.wait(scaled(timeout))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("SDK client did not exit\n" + self._describe())
        self._reader.join(scaled(timeout))
        while True:
            m = self._q.get()
            if m is None:
                break
            self.lines.append(m)
        assert rc == 0, "SDK client exited %d\n%s" % (rc, self._describe())
        return self.lines

    def of(self, type_):
        return [m for m in self.lines if m["type"] == type_]

    def event_markers(self):
        return [th.marker(m["data"]) for m in self.of("event")]

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._stderr.close()


@pytest.fixture
def sdk_clients(sdk):
    """Factory: sdk_clients(daemon, token, **kw) -> SDKClient (killed at teardown)."""
    made = []

    def make(daemon, token, **kw):
        daemon.ensure_started()
        c = SDKClient(sdk, daemon, token, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.kill()


def _url_query(url):
    from urllib.parse import parse_qs, urlsplit
    parts = urlsplit(url)
    return parts, {k: v[0] for k, v in parse_qs(parts.query).items()}


# --------------------------------------------------------------------------


@pytest.mark.parametrize("version", [2, 1])
def test_sdk_receives_own_events_only(daemon, sdk_clients, version):
    """User token: the SDK gets the event published to its user (HTTP API),
    not one for another tenant nor for another user of its tenant."""
    alice = daemon.user()
    bob = daemon.user(tenant=alice.tenant)            # same tenant, other user
    mallory = daemon.user()                           # another tenant
    c = sdk_clients(daemon, alice, events=["chat_message"], listen=["chat_message"],
                    count=1, version=version, user_uuid=alice.user)
    c.wait("initialized")

    # The URL as the SDK builds it (plain ws only by our WebSocket class).
    parts, q = _url_query(c.wait("connect")["url"])
    assert parts.scheme == "wss" and parts.path == "/api/websocketd/"
    assert q == {"token": alice.id, "version": str(version), "userUuid": alice.user}
    assert [m["data"] for m in c.of("sent")] == [
        {"op": "subscribe", "data": {"event_name": "chat_message"}}, {"op": "start"}]
    assert c.of("recv")[0]["data"] == {"op": "init", "code": 0, "data": {"version": version}}

    foreign = [ev_user(mallory.tenant, mallory.user, name="chat_message"),
               ev_tenant(mallory.tenant, name="chat_message", user_uuid="*"),
               ev_user(alice.tenant, bob.user, name="chat_message")]
    own = ev_user(alice.tenant, alice.user, name="chat_message")
    daemon.publish(foreign)            # one publisher: delivered in order, before `own`
    daemon.publish(own)
    lines = c.finish()

    events = [m for m in lines if m["type"] == "event"]
    assert [th.marker(m["data"]) for m in events] == [th.marker(own)], c._describe()
    ev = events[0]["data"]
    assert ev["name"] == "chat_message" and ev["data"] == own["data"]
    assert ev["tenant_uuid"] == alice.tenant
    assert not c.of("close") or c.of("close")[-1]["code"] == 1000


def test_sdk_star_subscription_and_tenant_wide_event(daemon, sdk_clients):
    """events ['*'] (what the SDK's simple API subscribes to): the user gets
    its tenant's `user_uuid:*` events and its own, whatever the name."""
    alice = daemon.user()
    other = daemon.user()
    c = sdk_clients(daemon, alice, events=["*"], listen=["a_evt", "b_evt"], count=2)
    c.wait("initialized")
    daemon.publish([ev_tenant(other.tenant, name="a_evt", user_uuid="*"),
                    ev_tenant(alice.tenant, name="a_evt", user_uuid="*"),
                    ev_user(alice.tenant, alice.user, name="b_evt")])
    c.finish()
    assert [m["name"] for m in c.of("event")] == ["a_evt", "b_evt"]
    assert all(m["data"]["tenant_uuid"] == alice.tenant for m in c.of("event"))


def test_sdk_over_wss_through_tls_terminator(daemon, sdk_clients, tls_cert):
    """The SDK's URL exactly as built (wss://HOST/api/websocketd/...), through a
    TLS terminator in front of tenbusd (as nginx is on a Wazo stack)."""
    alice = daemon.user()
    c = sdk_clients(daemon, alice, events=["chat_message"], count=1, transport="wss",
                    tls=tls_cert, user_uuid=alice.user,
                    env={"NODE_EXTRA_CA_CERTS": tls_cert[0]})
    c.wait("initialized")
    conn = c.wait("connect")
    assert conn["target"] == conn["url"] and conn["url"].startswith("wss://")
    own = ev_user(alice.tenant, alice.user, name="chat_message")
    daemon.publish(own)
    c.finish()
    assert c.event_markers() == [th.marker(own)]


def test_sdk_update_token_keeps_events_flowing(daemon, sdk_clients):
    """updateToken() (the SDK sends op `token`): the session continues past the
    first token's expiry, events keep flowing, no close."""
    alice = daemon.user(expires_at=iso_in(scaled(3)))
    renewed = daemon.user(tenant=alice.tenant, user=alice.user, expires_at=iso_in(3600))
    c = sdk_clients(daemon, alice, events=["chat_message"], timeout=30)
    c.wait("initialized")
    first = ev_user(alice.tenant, alice.user, name="chat_message")
    daemon.publish(first)
    c.wait("event", lambda m: th.marker(m["data"]) == th.marker(first))

    c.command(cmd="renew", token=renewed.id)
    c.wait("sent", lambda m: m["data"] == {"op": "token", "data": {"token": renewed.id}})
    c.wait("recv", lambda m: m["data"] == {"op": "token", "code": 0, "data": None})

    time.sleep(scaled(4))              # past the first token's expiry
    second = ev_user(alice.tenant, alice.user, name="chat_message")
    daemon.publish(second)
    c.wait("event", lambda m: th.marker(m["data"]) == th.marker(second))
    c.finish()
    assert c.event_markers() == [th.marker(first), th.marker(second)]
    assert len(c.of("connect")) == 1, "the SDK reconnected:\n" + c._describe()
    assert [m["code"] for m in c.of("close")] in ([], [1000])


def test_sdk_sees_expiry_4003_then_auth_failed(daemon, sdk_clients):
    """Without renewal: the session is closed with 4003 at expiry (the SDK
    reports the close); its automatic reconnection with the expired token is
    refused with 4002, which the SDK reports as on_auth_failed."""
    alice = daemon.user(expires_at=iso_in(scaled(2)))
    c = sdk_clients(daemon, alice, events=["chat_message"], timeout=30)
    c.wait("initialized")
    close = c.wait("close", timeout=10)
    assert (close["code"], close["reason"]) == (4003, "authentication expired")
    c.wait("auth_failed", timeout=15)
    c.finish()
    closes = [(m["code"], m["reason"]) for m in c.of("close")]
    assert closes[:2] == [(4003, "authentication expired"), (4002, "authentication failed")]


def test_sdk_invalid_token_4002_no_tight_loop(daemon, sdk_clients):
    """Unknown token: 4002 "authentication failed", reported by the SDK as
    on_auth_failed. Left alone, the SDK keeps reconnecting, but with
    reconnecting-websocket's backoff (>= 1 s), not in a tight loop; the
    daemon stays healthy."""
    daemon.start()
    c = sdk_clients(daemon, "tok-unknown-" + mark(), events=["*"],
                    keep_retrying=True, timeout=4)
    lines = c.finish(timeout=10, ask=False)
    closes = [(m["code"], m["reason"]) for m in lines if m["type"] == "close"]
    assert closes and set(closes) == {(4002, "authentication failed")}, c._describe()
    assert len(c.of("auth_failed")) == len(closes)
    assert not c.of("initialized") and not c.of("event")
    # 4 s with delays of at least 1 s, 1.3 s, 1.7 s ...: about 4 connects;
    # a tight loop would be hundreds (6 leaves room for timer slack).
    assert 1 <= len(c.of("connect")) <= 6, c._describe()
    status, _ = daemon.get("/status")
    assert status == 200

    # an application closing on on_auth_failed stops at once
    c2 = sdk_clients(daemon, "tok-unknown-" + mark(), events=["*"], timeout=10)
    t0 = time.monotonic()
    lines = c2.finish(ask=False)
    assert lines[-1]["type"] == "done" and lines[-1]["reason"] == "auth_failed"
    assert time.monotonic() - t0 < scaled(5)
    assert len(c2.of("connect")) == 1


def test_sdk_default_version_is_refused(daemon, sdk_clients):
    """WebSocketClient without `version` puts `version=undefined` in its URL
    (an SDK quirk: its callers always pass 2). tenbusd refuses it with 4004
    (wazo-websocketd's int() fails there and it closes with 1011); either
    way no session, and the SDK does not report an auth failure."""
    alice = daemon.user()
    c = sdk_clients(daemon, alice, events=["*"], version="none", exit_on_close=True)
    c.finish(ask=False)
    _, q = _url_query(c.of("connect")[0]["url"])
    assert q["version"] == "undefined"
    assert c.of("close")[0]["code"] == 4004
    assert not c.of("initialized") and not c.of("auth_failed")


def test_sdk_heartbeat(daemon, sdk_clients):
    """startHeartbeat(): the SDK's application-level ping (op `ping`, payload
    "pong") is answered with a v2 pong the SDK accepts."""
    alice = daemon.user()
    c = sdk_clients(daemon, alice, events=["*"], timeout=20)
    c.wait("initialized")
    c.command(cmd="heartbeat")
    c.wait("sent", lambda m: m["data"] == {"op": "ping", "data": {"payload": "pong"}})
    c.wait("recv", lambda m: m["data"] == {"op": "pong", "code": 0,
                                           "data": {"payload": "pong"}})
    c.wait("heartbeat", timeout=8)
    c.finish()
    assert not c.of("heartbeat_timeout")
