"""Integration-test harness for tenbusd.

Everything here talks to a real tenbusd over real sockets:

* ``Daemon``: writes a config and a tokens file into a private directory,
  starts ``tenbusd -c CONF`` (optionally under ``$TENBUSD_WRAPPER``, e.g.
  valgrind), waits until the port accepts, captures stderr to a file, stops
  it with SIGTERM and checks it exits 0 in time.
* tokens: ``Daemon.token(...)`` makes a token with fresh random uuids; made
  after start, it rewrites the file, sends SIGHUP and polls until the daemon
  knows the token.
* ``WS``: a synchronous facade over the ``websockets`` asyncio client (run on
  one background event loop thread), with protocol helpers: expect_init,
  subscribe, start, ping, renew, recv_event, assert_no_event, expect_close.
* ``RawWS``: a minimal hand-rolled client for byte-level tests (several
  frames in one TCP write).
* HTTP helpers (``http.client``): publish, publish_raw, get.

Timeouts scale with ``$TENBUS_TIMEOUT_SCALE`` (default 1, or 10 when a
wrapper is set) so the suite can run under valgrind.
"""

import asyncio
import base64
import datetime as _dt
import fcntl
import http.client
import json
import os
import shlex
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time
import uuid as _uuid

import websockets
import websockets.exceptions

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

TENBUSD = os.environ.get("TENBUSD") or os.path.join(REPO, "build", "tenbusd")
TENBUS_CLI = os.environ.get("TENBUS_CLI") or os.path.join(REPO, "build", "tenbus")
WRAPPER = shlex.split(os.environ.get("TENBUSD_WRAPPER", ""))
SCALE = float(os.environ.get("TENBUS_TIMEOUT_SCALE") or (10 if WRAPPER else 1))

# Default timeouts (seconds), before scaling.
READY_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
RECV_TIMEOUT = 5.0
NO_EVENT_WAIT = 0.3          # bounded wait for "nothing arrives" checks

# ACL every WebSocket token needs.
WS_ACL = "websocketd"
DEFAULT_USER_ACL = (WS_ACL, "events.#")


def scaled(t):
    return t * SCALE


def new_uuid():
    return str(_uuid.uuid4())


def iso_in(seconds):
    """ISO 8601 UTC timestamp `seconds` from now (negative = in the past)."""
    t = _dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(seconds=seconds)
    return t.isoformat()


def free_port():
    """A TCP port that is free right now on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_for(predicate, timeout=5.0, interval=0.02, message="condition"):
    """Polls `predicate` until it returns a truthy value; returns that value.
    Fails with `message` after `timeout` (scaled) seconds."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (scaled(timeout), message))
        time.sleep(interval)


NPM_CI_TIMEOUT = 300


def node_project(project_dir, flag, chromium=None):
    """node, with project_dir's node_modules installed from its
    package-lock.json: `npm ci` runs once (under a file lock, for parallel
    --shard runs) unless node_modules already matches (scripts/test.sh ran
    it). Needs node, npm and, if given, the `chromium` executable; without
    them, or when npm ci fails, the calling test skips, or fails when the
    environment variable `flag` is "1" (scripts/test.sh sets it)."""
    import pytest

    def unavailable(reason):
        if os.environ.get(flag) == "1":
            pytest.fail("%s=1 but %s" % (flag, reason), pytrace=False)
        pytest.skip(reason)

    name = os.path.relpath(project_dir, REPO)
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        unavailable("node/npm not installed (needed by %s)" % name)
    if chromium and not os.access(chromium, os.X_OK):
        unavailable("%s not installed (Debian package chromium, scripts/deps.sh test)" % chromium)
    with open(os.path.join(project_dir, ".npm-ci.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not npm_lock_matches(project_dir):
            try:
                r = subprocess.run([npm, "ci", "--prefix", project_dir, "--no-audit", "--no-fund",
                                    "--prefer-offline", "--loglevel=error"],
                                   stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                   timeout=NPM_CI_TIMEOUT,
                                   env=dict(os.environ, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1"))
            except subprocess.TimeoutExpired:
                unavailable("npm ci in %s did not finish in %ds" % (name, NPM_CI_TIMEOUT))
            if r.returncode != 0:
                unavailable("npm ci in %s failed (%d):\n%s" % (name, r.returncode, r.stderr[-3000:]))
    return node


def npm_lock_matches(project_dir):
    """True when project_dir/node_modules holds exactly what its
    package-lock.json pins (npm's hidden lockfile node_modules/.package-lock.json
    says so): `npm ci` need not run again."""
    try:
        with open(os.path.join(project_dir, "package-lock.json")) as f:
            want = json.load(f)["packages"]
        with open(os.path.join(project_dir, "node_modules", ".package-lock.json")) as f:
            have = json.load(f)["packages"]
    except (OSError, ValueError, KeyError):
        return False
    return {k: v for k, v in want.items() if k} == have


# --------------------------------------------------------------------------
# Tokens

class Token:
    """One entry of the tokens file. `id` is what clients send."""

    def __init__(self, *, tenant, user=None, acl=DEFAULT_USER_ACL, purpose="user",
                 admin=False, expires_at=None, session=None, token_id=None):
        self.id = token_id or "tok-" + new_uuid()
        self.user = user or new_uuid()
        self.tenant = tenant
        self.session = session or new_uuid()
        self.acl = list(acl)
        self.purpose = purpose
        self.admin = admin
        self.expires_at = expires_at

    def to_json(self):
        return {
            "token": self.id,
            "session_uuid": self.session,
            "acl": self.acl,
            "utc_expires_at": self.expires_at,
            "metadata": {
                "uuid": self.user,
                "tenant_uuid": self.tenant,
                "purpose": self.purpose,
                "admin": self.admin,
            },
        }

    def __repr__(self):
        return "Token(%s tenant=%s user=%s purpose=%s admin=%s acl=%s)" % (
            self.id, self.tenant[:8], self.user[:8], self.purpose, self.admin, self.acl)


# --------------------------------------------------------------------------
# Daemon

class DaemonError(AssertionError):
    pass


class Daemon:
    """A tenbusd instance with its own directory, port, stack uuid, master
    tenant and tokens. Nothing runs until start() (publish/connect helpers
    start it on first use)."""

    def __init__(self, workdir, *, strategy="dynamic", static_interval=1, workers=2,
                 extra_config="", bus=None, ping_interval=60, limits=None, tls=None):
        self.dir = str(workdir)
        os.makedirs(self.dir, exist_ok=True)
        self.uuid = new_uuid()
        self.master_tenant = new_uuid()
        self.port = free_port()
        self.strategy = strategy
        self.static_interval = static_interval
        self.workers = workers
        self.extra_config = extra_config
        # bus: None = embedded; a dict of bus.* keys (host, port,
        # exchange_name, ...) = the RabbitMQ backend with those settings.
        self.bus = bus
        self.ping_interval = ping_interval
        self.limits = dict(limits or {})     # tenbus.limits.*
        # tls: (certificate, private_key) paths => websocket.certificate and
        # .private_key; clients then use wss:// and https:// trusting that
        # certificate (it must name 127.0.0.1).
        self.tls = tls
        self.client_ssl = None
        if tls:
            self.client_ssl = ssl.create_default_context(cafile=tls[0]) \
                if os.path.exists(tls[0]) else ssl.create_default_context()
        self.conf_path = os.path.join(self.dir, "tenbusd.yml")
        self.tokens_path = os.path.join(self.dir, "tokens.yml")
        self.log_path = os.path.join(self.dir, "tenbusd.stderr")
        self.tokens = []
        self.proc = None
        self.returncode = None
        self._start_failed = False
        self._log = None
        self._http = None
        self._clients = []
        # Service token used by the publish helpers: master tenant, may
        # publish anything, raw included.
        self.publisher = self.token(tenant=self.master_tenant, purpose="internal",
                                    acl=["tenbus.publish.#", "tenbus.publish-raw"])

    # -- files ------------------------------------------------------------
    def write_config(self):
        lines = [
            "uuid: %s" % self.uuid,
            "log_level: debug",
            "websocket: {listen: 127.0.0.1, port: %d, ping_interval: %s%s}" % (
                self.port, self.ping_interval,
                ", certificate: %s, private_key: %s" % self.tls if self.tls else ""),
            "auth_check_strategy: %s" % self.strategy,
        ]
        if self.strategy == "static":
            lines.append("auth_check_static_interval: %d" % self.static_interval)
        lines += [
            "tenbus:",
            "  bus_backend: %s" % ("rabbitmq" if self.bus is not None else "embedded"),
            "  auth_backend: file",
            "  tokens_file: %s" % self.tokens_path,
            "  master_tenant_uuid: %s" % self.master_tenant,
            "  workers: %d" % self.workers,
        ]
        if self.limits:
            lines.append("  limits:")
            lines += ["    %s: %s" % kv for kv in sorted(self.limits.items())]
        if self.bus is not None:
            lines.append("bus: %s" % json.dumps(self.bus))
        text = "\n".join(lines) + "\n" + self.extra_config
        with open(self.conf_path, "w") as f:
            f.write(text)

    def write_tokens(self):
        # JSON is YAML too; write atomically so a reload never sees half a file.
        tmp = self.tokens_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"tokens": [t.to_json() for t in self.tokens]}, f, indent=1)
        os.replace(tmp, self.tokens_path)

    # -- tokens -----------------------------------------------------------
    def token(self, *, tenant=None, user=None, acl=DEFAULT_USER_ACL, purpose="user",
              admin=False, expires_at=None, reload=True, **kw):
        """Adds a token (random ids unless given). `tenant` defaults to a new
        random tenant. After start, the file is rewritten and reloaded
        (SIGHUP) and this waits until the daemon knows the token, unless
        reload=False."""
        t = Token(tenant=tenant or new_uuid(), user=user, acl=acl, purpose=purpose,
                  admin=admin, expires_at=expires_at, **kw)
        self.tokens.append(t)
        if self.running and reload:
            self.reload(wait_known=[t])
        return t

    def user(self, tenant=None, **kw):
        return self.token(tenant=tenant, purpose="user", **kw)

    def admin(self, tenant=None, **kw):
        return self.token(tenant=tenant, purpose="user", admin=True, **kw)

    def master(self, **kw):
        kw.setdefault("purpose", "internal")
        return self.token(tenant=self.master_tenant, **kw)

    def remove_token(self, tok, reload=True):
        self.tokens = [t for t in self.tokens if t.id != tok.id]
        if self.running and reload:
            self.reload(wait_unknown=[tok])

    def token_known(self, tok):
        """Asks the daemon whether it accepts this token: by a WebSocket
        connect when the token grants `websocketd` (init => known, 4002 =>
        not), else by the HTTP API (anything but 401 => known; the body is
        invalid so nothing is published)."""
        if WS_ACL in tok.acl:
            ws = WS.connect(self.ws_url(tok, 2), version=2, ssl=self.client_ssl)
            try:
                msg = ws.recv_raw()
            except Closed as c:
                if c.code == 4002:
                    return False
                raise AssertionError("probe of %s: closed %s %r" % (tok.id, c.code, c.reason))
            finally:
                ws.close()
            assert msg is not None, "probe of %s: no init" % tok.id
            return True
        status, _ = self.request("POST", "/api/events", body=b"{}", token=tok.id)
        return status != 401

    def reload(self, wait_known=(), wait_unknown=()):
        self.write_tokens()
        self.proc.send_signal(signal.SIGHUP)
        for t in wait_known:
            wait_for(lambda: self.token_known(t), message="token %s known after SIGHUP" % t.id)
        for t in wait_unknown:
            wait_for(lambda: not self.token_known(t),
                     message="token %s unknown after SIGHUP" % t.id)

    # -- process ----------------------------------------------------------
    @property
    def running(self):
        return self.proc is not None and self.returncode is None

    def start(self, args=()):
        if self.proc is not None:
            return self
        if not os.access(TENBUSD, os.X_OK):
            raise DaemonError("tenbusd binary not found at %s (set TENBUSD)" % TENBUSD)
        for attempt in range(3):
            try:
                return self._start_once(args)
            except DaemonError:
                # the free port may have been taken meanwhile (parallel runs):
                # retry on another one
                if attempt == 2 or "in use" not in self.log_text().lower():
                    self._start_failed = True      # reported once, not again at stop()
                    raise
                self.proc = None
                self.returncode = None
                self.port = free_port()

    def _start_once(self, args):
        self.write_config()
        self.write_tokens()
        if self._log:
            self._log.close()
        self._log = open(self.log_path, "wb")
        cmd = WRAPPER + [TENBUSD, "-c", self.conf_path] + list(args)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, cwd=self.dir)
        deadline = time.monotonic() + scaled(READY_TIMEOUT)
        while not port_open(self.port):
            rc = self.proc.poll()
            if rc is not None:
                self.returncode = rc
                raise DaemonError("tenbusd exited with %d before accepting connections\n%s"
                                  % (rc, self.log_tail()))
            if time.monotonic() > deadline:
                raise DaemonError("tenbusd not accepting on port %d after %.0fs\n%s"
                                  % (self.port, scaled(READY_TIMEOUT), self.log_tail()))
            time.sleep(0.01)
        return self

    def ensure_started(self):
        if self.proc is None:
            self.start()
        return self

    def signal(self, sig):
        self.proc.send_signal(sig)

    def terminate(self):
        """Sends SIGTERM (without waiting)."""
        if self.running:
            self.proc.send_signal(signal.SIGTERM)

    def wait_exit(self, timeout=STOP_TIMEOUT):
        try:
            self.returncode = self.proc.wait(scaled(timeout))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.returncode = self.proc.wait()
            raise DaemonError("tenbusd did not exit within %.0fs of SIGTERM\n%s"
                              % (scaled(timeout), self.log_tail()))
        return self.returncode

    def stop(self, check=True):
        """SIGTERM, then asserts exit status 0 within 5 s (scaled)."""
        self.close_clients()
        if self.proc is None:
            return None
        if self.returncode is None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
            self.wait_exit()
        if self._log:
            self._log.close()
            self._log = None
        if check and self.returncode != 0 and not self._start_failed:
            raise DaemonError("tenbusd exited with status %d (expected 0)\n%s"
                              % (self.returncode, self.log_tail()))
        return self.returncode

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=80):
        lines = self.log_text().splitlines()
        return "--- tenbusd stderr (last %d lines of %s) ---\n%s" % (
            min(n, len(lines)), self.log_path, "\n".join(lines[-n:]))

    # -- HTTP -------------------------------------------------------------
    def request(self, method, path, body=None, token=None, headers=None, timeout=RECV_TIMEOUT):
        """One HTTP request; returns (status, parsed JSON body or raw text).
        `body` may be bytes, str, or a JSON-able object."""
        self.ensure_started()
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["X-Auth-Token"] = token
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        if body is not None:
            hdrs.setdefault("Content-Type", "application/json")
        for attempt in (0, 1):
            if self._http is None:
                if self.tls:
                    self._http = http.client.HTTPSConnection(
                        "127.0.0.1", self.port, timeout=scaled(timeout), context=self.client_ssl)
                else:
                    self._http = http.client.HTTPConnection("127.0.0.1", self.port,
                                                            timeout=scaled(timeout))
            try:
                self._http.request(method, path, body=body, headers=hdrs)
                resp = self._http.getresponse()
                raw = resp.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # keep-alive connection closed by the server: retry once fresh
                self._http.close()
                self._http = None
                if attempt:
                    raise
        if resp.getheader("Connection", "").lower() == "close":
            self._http.close()
            self._http = None
        text = raw.decode("utf-8", "replace")
        ctype = resp.getheader("Content-Type", "")
        if "json" in ctype or text[:1] in ("{", "["):
            try:
                return resp.status, json.loads(text)
            except ValueError:
                pass
        return resp.status, text

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def publish(self, events, token=None, expect=202):
        """POST /api/events with the publisher token by default. Returns the
        parsed response; asserts the status when `expect` is not None."""
        tok = self.publisher.id if token is None else token
        status, body = self.request("POST", "/api/events", body=events,
                                    token=tok.id if isinstance(tok, Token) else tok)
        if expect is not None:
            assert status == expect, "publish %r -> %d %r (expected %d)" % (
                events, status, body, expect)
            if expect == 202:
                n = len(events) if isinstance(events, list) else 1
                assert body == {"published": n}, body
        return status, body

    def publish_raw(self, headers, body, token=None, expect=202):
        tok = self.publisher.id if token is None else token
        status, resp = self.request("POST", "/api/events/raw",
                                    body={"headers": headers, "body": body},
                                    token=tok.id if isinstance(tok, Token) else tok)
        if expect is not None:
            assert status == expect, "publish raw -> %d %r" % (status, resp)
        return status, resp

    def raw_headers(self, name, *, tenant=None, users=(), all_users=False,
                    required_acl="__default__", origin=None, extra=None):
        """Headers as a Wazo publisher would build them (DESIGN.md §1)."""
        h = {"name": name, "origin_uuid": origin or self.uuid,
             "timestamp": iso_in(0), "required_access": "event." + name}
        if required_acl != "__omit__":
            h["required_acl"] = ("events." + name) if required_acl == "__default__" else required_acl
        if tenant:
            h["tenant_uuid"] = tenant
        if all_users:
            h["user_uuid:*"] = True
        for u in users:
            h["user_uuid:" + u] = True
        h.update(extra or {})
        return h

    # -- WebSocket --------------------------------------------------------
    def ws_url(self, token=None, version=2, path="/", query=None):
        params = []
        if token is not None:
            params.append("token=" + (token.id if isinstance(token, Token) else token))
        if version is not None:
            params.append("version=%s" % version)
        if query:
            params.append(query)
        return "%s://127.0.0.1:%d%s%s" % ("wss" if self.tls else "ws", self.port, path, ("?" + "&".join(params)) if params else "")

    def connect(self, token=None, version=2, path="/", query=None, headers=None, **kw):
        """Opens a WebSocket (handshake only; reads nothing)."""
        self.ensure_started()
        if self.tls:
            kw.setdefault("ssl", self.client_ssl)
        ws = WS.connect(self.ws_url(token, version, path, query), headers=headers,
                        version=version if version in (1, 2) else None, **kw)
        ws.token = token if isinstance(token, Token) else None
        self._clients.append(ws)
        return ws

    def session(self, token, names=("*",), version=2):
        """Connect, check init, subscribe to each name, start: ready for events."""
        ws = self.connect(token, version=version)
        ws.expect_init()
        for n in names:
            ws.subscribe(n)
        ws.start()
        return ws

    def collect(self, *wss, timeout=RECV_TIMEOUT):
        """Barrier: publishes one sentinel per session (a user event to the
        session's own token, required_acl null, name SENTINEL), then returns,
        for each session, the markers of the events it received before its
        own sentinel (other sessions' sentinels are skipped). Sessions
        subscribed to specific names must also subscribe to SENTINEL. Relies
        on events from one publisher reaching a session in publish order."""
        sentinels = []
        for ws in wss:
            assert ws.token is not None, "collect() needs sessions opened with a Token"
            m = "sentinel-" + mark()
            self.publish(ev_user(ws.token.tenant, ws.token.user, name=SENTINEL, marker=m,
                                 required_acl=None))
            sentinels.append(m)
        out = []
        for ws, m in zip(wss, sentinels):
            got = []
            while True:
                x = ws.recv_marker(timeout)
                if x == m:
                    break
                if not x.startswith("sentinel-"):
                    got.append(x)
            out.append(got)
        return out

    def close_clients(self):
        for ws in self._clients:
            ws.abort()
        self._clients = []

    def close(self):
        if self._http is not None:
            self._http.close()
            self._http = None


# --------------------------------------------------------------------------
# WebSocket client (sync facade over websockets' asyncio client)

class _LoopThread:
    _lock = threading.Lock()
    _loop = None

    @classmethod
    def loop(cls):
        with cls._lock:
            if cls._loop is None:
                cls._loop = asyncio.new_event_loop()
                t = threading.Thread(target=cls._loop.run_forever, name="ws-loop", daemon=True)
                t.start()
            return cls._loop

    @classmethod
    def run(cls, coro, timeout):
        fut = asyncio.run_coroutine_threadsafe(coro, cls.loop())
        return fut.result(timeout + 5)


class Closed(Exception):
    def __init__(self, code, reason):
        super().__init__("closed %s %r" % (code, reason))
        self.code = code
        self.reason = reason


class WS:
    """A synchronous WebSocket client. Every receive has a timeout."""

    def __init__(self, conn, version):
        self.token = None
        self.conn = conn
        self.version = version
        self.closed = None           # Closed once the connection is closed

    @classmethod
    def connect(cls, url, headers=None, version=2, compression="deflate", timeout=RECV_TIMEOUT,
                ssl=None):
        extra = {"ssl": ssl} if ssl is not None else {}

        async def go():
            return await websockets.connect(url, extra_headers=headers or {},
                                            compression=compression, ping_interval=None,
                                            open_timeout=scaled(timeout),
                                            close_timeout=scaled(2), max_size=2 ** 24, **extra)
        conn = _LoopThread.run(go(), scaled(timeout))
        return cls(conn, version)

    def _run(self, coro, timeout):
        return _LoopThread.run(coro, timeout)

    # -- sending ------------------------------------------------------------
    def send_text(self, text):
        self._run(self.conn.send(text), scaled(RECV_TIMEOUT))

    def send_binary(self, data):
        self._run(self.conn.send(bytes(data)), scaled(RECV_TIMEOUT))

    def send_json(self, obj):
        self.send_text(json.dumps(obj))

    def send_op(self, op, data=None):
        msg = {"op": op}
        if data is not None:
            msg["data"] = data
        self.send_json(msg)

    # -- receiving ----------------------------------------------------------
    def recv_raw(self, timeout=RECV_TIMEOUT):
        """Next message (str or bytes); None on timeout; raises Closed."""
        t = scaled(timeout)

        async def go():
            try:
                return await asyncio.wait_for(self.conn.recv(), t)
            except asyncio.TimeoutError:
                return None
            except websockets.exceptions.ConnectionClosed as e:
                rc = e.rcvd
                return Closed(rc.code if rc else None, rc.reason if rc else None)
        r = self._run(go(), t)
        if isinstance(r, Closed):
            self.closed = r
            raise r
        return r

    def recv_json(self, timeout=RECV_TIMEOUT):
        try:
            msg = self.recv_raw(timeout)
        except Closed as c:
            raise AssertionError("connection closed (code %s, reason %r) while waiting "
                                 "for a message" % (c.code, c.reason)) from None
        if msg is None:
            raise AssertionError("no message within %.1fs" % scaled(timeout))
        assert isinstance(msg, str), "server sent a binary frame: %r" % msg[:80]
        try:
            return json.loads(msg)
        except ValueError:
            raise AssertionError("server frame is not JSON: %r" % msg[:200]) from None

    def expect_reply(self, op, data=None, timeout=RECV_TIMEOUT):
        msg = self.recv_json(timeout)
        assert msg == {"op": op, "code": 0, "data": data}, \
            "expected %s reply, got %r" % (op, msg)
        return msg

    def expect_init(self, version=None):
        v = version or self.version or 1
        return self.expect_reply("init", {"version": v})

    def subscribe(self, name, ack=True):
        self.send_op("subscribe", {"event_name": name})
        if ack:
            self.expect_reply("subscribe")

    def start(self, ack=True):
        self.send_op("start")
        if ack:
            self.expect_reply("start")

    def ping(self, payload, ack=True):
        self.send_op("ping", {"payload": payload})
        if ack:
            self.expect_reply("pong", {"payload": payload})

    def renew(self, token, ack=True):
        self.send_op("token", {"token": token.id if isinstance(token, Token) else token})
        if ack:
            self.expect_reply("token")

    def recv_event(self, timeout=RECV_TIMEOUT):
        """Next event body: v2 => checks the wrapper and returns its data; v1
        => the frame itself."""
        msg = self.recv_json(timeout)
        if self.version == 2:
            assert isinstance(msg, dict) and msg.get("op") == "event" and msg.get("code") == 0 \
                and set(msg) == {"op", "code", "data"}, "expected a v2 event frame, got %r" % msg
            return msg["data"]
        return msg

    def recv_marker(self, timeout=RECV_TIMEOUT):
        """The `data.marker` of the next event (see publish helpers)."""
        ev = self.recv_event(timeout)
        return marker_of(ev)

    def assert_no_event(self, timeout=NO_EVENT_WAIT):
        """Nothing arrives (and the session stays open) within `timeout`."""
        try:
            msg = self.recv_raw(timeout)
        except Closed as c:
            raise AssertionError("connection closed (code %s, reason %r)" % (c.code, c.reason)) \
                from None
        assert msg is None, "unexpected message: %r" % (msg,)

    def expect_close(self, code, reason=None, timeout=RECV_TIMEOUT):
        """Asserts the server closes with `code` (and `reason` if not None)
        and sends no message before that."""
        if self.closed is None:
            try:
                msg = self.recv_raw(timeout)
            except Closed:
                pass
            else:
                if msg is None:
                    raise AssertionError("connection not closed within %.1fs (expected %d)"
                                         % (scaled(timeout), code))
                raise AssertionError("expected close %d, got message %r" % (code, msg))
        assert self.closed.code == code, "close code %s (reason %r), expected %s %r" % (
            self.closed.code, self.closed.reason, code, reason)
        if reason is not None:
            assert self.closed.reason == reason, "close reason %r, expected %r" % (
                self.closed.reason, reason)
        return self.closed

    def close(self):
        try:
            self._run(self.conn.close(), scaled(3))
        except Exception:
            pass

    def abort(self):
        """Drops the TCP connection without a closing handshake (done on the
        loop thread: asyncio transports are not thread-safe)."""
        async def go():
            self.conn.transport.abort()
            await asyncio.wait_for(self.conn.wait_closed(), 1)
        try:
            self._run(go(), 1)
        except Exception:
            pass


SENTINEL = "tb_sentinel"


def marker_of(ev):
    assert isinstance(ev, dict) and isinstance(ev.get("data"), dict) and "marker" in ev["data"], \
        "event without data.marker: %r" % (ev,)
    return ev["data"]["marker"]


# --------------------------------------------------------------------------
# Event builders for POST /api/events. Each carries data.marker (unique) so
# tests can tell exactly which event arrived.

def mark():
    return "m-" + _uuid.uuid4().hex[:12]


def ev_service(name="svc_evt", marker=None, **kw):
    e = {"name": name, "data": {"marker": marker or mark()}}
    e.update(kw)
    return e


def ev_tenant(tenant, name="tenant_evt", marker=None, **kw):
    return ev_service(name, marker, tenant_uuid=tenant, **kw)


def ev_user(tenant, user, name="user_evt", marker=None, **kw):
    return ev_service(name, marker, tenant_uuid=tenant, user_uuid=user, **kw)


def ev_users(tenant, users, name="multi_evt", marker=None, **kw):
    return ev_service(name, marker, tenant_uuid=tenant, user_uuids=list(users), **kw)


def marker(event):
    return event["data"]["marker"]


# --------------------------------------------------------------------------
# Raw WebSocket client for byte-level tests.

class RawWS:
    def __init__(self, port, path="/", timeout=RECV_TIMEOUT, ssl_context=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=scaled(timeout))
        if ssl_context is not None:
            self.sock = ssl_context.wrap_socket(self.sock, server_hostname="127.0.0.1")
        self.buf = b""
        self.path = path

    def handshake(self, extra_headers=""):
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
               "Sec-WebSocket-Version: 13\r\n%s\r\n" % (self.path, key, extra_headers))
        self.sock.sendall(req.encode())
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise AssertionError("connection closed during handshake: %r" % self.buf)
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status = head.split(b"\r\n", 1)[0]
        assert b" 101 " in status + b" ", "handshake failed: %r" % head
        return head

    @staticmethod
    def frame(payload, opcode=1, fin=True, mask=True):
        if isinstance(payload, str):
            payload = payload.encode()
        b0 = (0x80 if fin else 0) | opcode
        n = len(payload)
        mbit = 0x80 if mask else 0
        if n < 126:
            hdr = struct.pack("!BB", b0, mbit | n)
        elif n < 65536:
            hdr = struct.pack("!BBH", b0, mbit | 126, n)
        else:
            hdr = struct.pack("!BBQ", b0, mbit | 127, n)
        if not mask:
            return hdr + payload
        key = os.urandom(4)
        masked = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
        return hdr + key + masked

    def send(self, data):
        self.sock.sendall(data)

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError("connection closed by server mid-frame")
            self.buf += chunk

    def recv_frame(self):
        """Returns (opcode, payload bytes); server frames must be unmasked."""
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        assert not b1 & 0x80, "server frame is masked"
        n = b1 & 0x7F
        off = 2
        if n == 126:
            self._need(4)
            n = struct.unpack("!H", self.buf[2:4])[0]
            off = 4
        elif n == 127:
            self._need(10)
            n = struct.unpack("!Q", self.buf[2:10])[0]
            off = 10
        self._need(off + n)
        payload = self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        assert b0 & 0x80, "fragmented server frame"
        return b0 & 0x0F, payload

    def recv_json(self):
        while True:
            op, payload = self.recv_frame()
            if op == 1:
                return json.loads(payload)
            if op == 8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                raise AssertionError("server closed: %s %r" % (code, payload[2:]))
            # ping/pong: skip

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
