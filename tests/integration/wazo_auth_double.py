"""A stand-in for wazo-auth's token API (the only test double of the suite:
wazo-auth is an external product). Python stdlib only.

Serves, under a configurable prefix (default none):

* ``GET /0.1/token/{id}?scope=S`` -> 200 ``{"data": token}``, 404 unknown,
  revoked or expired, 403 when the token's ACL does not grant S;
* ``HEAD`` on the same URL -> 204 valid, 403 / 404 as above;
* ``POST /0.1/token`` with HTTP basic auth of a known service -> 200 with a
  token whose ``metadata.tenant_uuid`` is the service's tenant; 401 else.

Tests drive it in-process (``WazoAuthDouble`` methods): add / revoke tokens,
a response delay, failure modes (an HTTP status such as 500, or closing the
connection without an answer), the service login on or off, per-token
request counts, stop / restart on the same port.

Every response closes its connection (HTTP/1.0), so a stopped double is
really unreachable: no kept-alive connection outlives stop().
"""

import base64
import datetime as _dt
import http.server
import json
import re
import threading
import time
import urllib.parse
import uuid as _uuid
from collections import Counter


def _iso(ts):
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).isoformat()


def _parse_iso(s):
    return _dt.datetime.fromisoformat(s).timestamp()


def acl_grants(acl, required):
    """Simplified wazo ACL check: `*` one word, `#` anything, `!` negates."""
    def rx(pattern):
        out = ""
        for ch in pattern:
            out += "[^.#]*" if ch == "*" else ".*" if ch == "#" else re.escape(ch)
        return re.compile(out + r"\Z")
    granted = False
    for entry in acl:
        neg = entry.startswith("!")
        if rx(entry[1:] if neg else entry).match(required):
            if neg:
                return False
            granted = True
    return granted


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    server_version = "wazo-auth-double"

    def log_message(self, fmt, *args):   # quiet
        pass

    def _reply(self, status, body=None):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD" and data:
            self.wfile.write(data)

    def _route(self):
        d = self.server.double
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        if not path.startswith(d.prefix + "/0.1/token"):
            return None, None, None
        rest = path[len(d.prefix) + len("/0.1/token"):]
        query = urllib.parse.parse_qs(url.query)
        if rest in ("", "/"):
            return "login", None, query
        if rest.startswith("/") and "/" not in rest[1:]:
            return "token", urllib.parse.unquote(rest[1:]), query
        return None, None, None

    def _common(self, method):
        d = self.server.double
        kind, token_id, query = self._route()
        d._count(method, token_id if kind == "token" else None, self.path)
        delay, fail = d.delay, d.fail
        if delay:
            time.sleep(delay)
        if fail == "close":
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
            return None
        if isinstance(fail, int):
            self._reply(fail, {"reason": ["injected failure"], "status_code": fail})
            return None
        if kind is None:
            self._reply(404, {"reason": ["no such resource"], "status_code": 404})
            return None
        return kind, token_id, query

    def _token_answer(self, method):
        r = self._common(method)
        if r is None:
            return
        kind, token_id, query = r
        if kind != "token":
            self._reply(405, {"reason": ["method not allowed"], "status_code": 405})
            return
        d = self.server.double
        tok = d.find(token_id)
        if tok is None:
            self._reply(404, {"reason": ["No such token"], "status_code": 404})
            return
        scope = (query.get("scope") or [None])[0]
        if scope and not acl_grants(tok["acl"], scope):
            self._reply(403, {"reason": ["Unauthorized"], "status_code": 403})
            return
        if method == "HEAD":
            self._reply(204)
        else:
            self._reply(200, {"data": tok})

    def do_GET(self):
        self._token_answer("GET")

    def do_HEAD(self):
        self._token_answer("HEAD")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        r = self._common("POST")
        if r is None:
            return
        kind, _, _ = r
        d = self.server.double
        if kind != "login":
            self._reply(405, {"reason": ["method not allowed"], "status_code": 405})
            return
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            self._reply(400, {"reason": ["invalid JSON"], "status_code": 400})
            return
        auth = self.headers.get("Authorization", "")
        user = password = None
        if auth.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                pass
        if d.login_delay:
            time.sleep(d.login_delay)
        with d._lock:
            d.logins.append({"user": user, "body": body})
            status = d.login_status
        if status != 200:
            self._reply(status, {"reason": ["login refused"], "status_code": status})
            return
        svc = d.services.get(user)
        if svc is None or svc[0] != password:
            self._reply(401, {"reason": ["Authentication Failed"], "status_code": 401})
            return
        expiration = int(body.get("expiration") or 7200)
        tok = d.make_token(tenant=svc[1], user=_uuid.uuid4().hex, acl=["#"],
                           purpose="internal", expires_in=expiration)
        self._reply(200, {"data": tok})


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # tenbusd opens up to 64 connections at once (one per lookup, HTTP/1.0);
    # the default backlog of 5 drops SYNs under a burst (bench/wazo_auth_memory.py).
    request_queue_size = 256


class WazoAuthDouble:
    """In-process wazo-auth stand-in. start() binds 127.0.0.1 (port 0 =
    any free port the first time; a restart keeps the port)."""

    def __init__(self, prefix="", port=0):
        self.prefix = prefix.rstrip("/")
        self.port = port
        self.delay = 0.0          # seconds before every answer
        self.fail = None          # None, an HTTP status (e.g. 500), or "close"
        self.login_status = 200   # anything else: service logins answer that
        self.login_delay = 0.0    # seconds before a service login is answered
        self.services = {}        # service_id -> (key, tenant uuid)
        self.tokens = {}          # id -> wazo-auth token object
        self.logins = []          # {"user": ..., "body": ...} per POST
        self.counts = Counter()   # (method, token id or None) -> requests
        self.paths = []           # request paths, in order
        self._lock = threading.Lock()
        self._server = None
        self._thread = None

    # -- lifecycle ---------------------------------------------------------
    def start(self):
        if self._server is not None:
            return self
        self._server = _Server(("127.0.0.1", self.port), _Handler)
        self._server.double = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stops answering: the port is closed (connection refused)."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        self._server = None

    @property
    def running(self):
        return self._server is not None

    # -- data --------------------------------------------------------------
    def add_service(self, service_id, key, tenant):
        self.services[service_id] = (key, tenant)

    def make_token(self, *, tenant, user=None, acl=(), purpose="user", admin=False,
                   expires_in=None, expires_at=None, session=None, token_id=None):
        """Registers and returns a wazo-auth token object. Expiry: ISO 8601
        `expires_at`, or `expires_in` seconds from now, or none (null)."""
        now = time.time()
        if expires_at is None and expires_in is not None:
            expires_at = _iso(now + expires_in)
        tok = {
            "token": token_id or str(_uuid.uuid4()),
            "session_uuid": session or str(_uuid.uuid4()),
            "auth_id": user, "pbx_user_uuid": user, "xivo_uuid": None,
            "issued_at": _iso(now), "utc_issued_at": _iso(now),
            "expires_at": expires_at, "utc_expires_at": expires_at,
            "acl": list(acl),
            "metadata": {"uuid": user, "tenant_uuid": tenant, "purpose": purpose,
                         "admin": admin, "auth_id": user, "pbx_user_uuid": user},
            "user_agent": "", "remote_addr": "127.0.0.1",
        }
        with self._lock:
            self.tokens[tok["token"]] = tok
        return tok

    def add_token(self, token):
        """Registers a harness Token (tenbus_harness.Token) as is."""
        obj = token.to_json()
        obj["expires_at"] = obj["utc_expires_at"]
        with self._lock:
            self.tokens[token.id] = obj
        return token

    def revoke(self, token_id):
        with self._lock:
            self.tokens.pop(getattr(token_id, "id", token_id), None)

    def find(self, token_id):
        """The token if it exists and has not expired, else None."""
        with self._lock:
            tok = self.tokens.get(token_id)
        if tok is None:
            return None
        exp = tok.get("utc_expires_at")
        if exp and _parse_iso(exp) <= time.time():
            return None
        return tok

    # -- counters ----------------------------------------------------------
    def _count(self, method, token_id, path):
        with self._lock:
            self.counts[(method, token_id)] += 1
            self.paths.append((method, path))

    def count(self, method, token_id=None):
        with self._lock:
            return self.counts[(method, getattr(token_id, "id", token_id))]

    def reset_counts(self):
        with self._lock:
            self.counts.clear()
            self.paths.clear()
