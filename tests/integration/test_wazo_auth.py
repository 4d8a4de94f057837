"""The wazo-auth backend (DESIGN.md §3 token expiry, §4): tenbusd against a
stand-in of wazo-auth's token API (wazo_auth_double.py); everything else is
the real daemon over real sockets."""

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import tenbus_harness as th
from tenbus_harness import Daemon, Token, ev_tenant, ev_user, iso_in, marker, scaled, wait_for
from wazo_auth_double import WazoAuthDouble

AUTH_FAILED = "authentication failed"
AUTH_EXPIRED = "authentication expired"
SERVICE_ID = "tenbus-test"
SERVICE_KEY = "s3cret-key-never-logged"


class WazoDaemon(Daemon):
    """A Daemon whose tokens live in the wazo-auth double instead of a
    tokens file; the double's service login yields the master tenant."""

    def __init__(self, workdir, double, *, prefix="", timeout=2, key_file=True, **kw):
        self.double = double
        self.prefix = prefix
        self.auth_timeout = timeout
        self.use_key_file = key_file
        super().__init__(workdir, **kw)
        self.key_path = os.path.join(self.dir, "key.yml")
        double.add_service(SERVICE_ID, SERVICE_KEY, self.master_tenant)
        # Lookups are scoped to websocketd (as wazo-websocketd's are), so the
        # HTTP API's publisher token grants it too.
        self.publisher.acl.append(th.WS_ACL)
        double.add_token(self.publisher)

    def write_config(self):
        lines = [
            "uuid: %s" % self.uuid,
            "log_level: debug",
            "websocket: {listen: 127.0.0.1, port: %d, ping_interval: 60}" % self.port,
            "auth_check_strategy: %s" % self.strategy,
        ]
        if self.strategy == "static":
            lines.append("auth_check_static_interval: %d" % self.static_interval)
        lines += [
            "auth:",
            "  host: 127.0.0.1",
            "  port: %d" % self.double.port,
            '  prefix: "%s"' % self.prefix,
            "  timeout: %d" % self.auth_timeout,
        ]
        if self.use_key_file:
            lines.append("  key_file: %s" % self.key_path)
        else:
            lines += ["  username: %s" % SERVICE_ID, "  password: %s" % SERVICE_KEY]
        lines += [
            "tenbus:",
            "  bus_backend: embedded",
            "  auth_backend: wazo-auth",
            "  workers: %d" % self.workers,
        ]
        with open(self.conf_path, "w") as f:
            f.write("\n".join(lines) + "\n" + self.extra_config)
        with open(self.key_path, "w") as f:
            f.write("service_id: %s\nservice_key: %s\n" % (SERVICE_ID, SERVICE_KEY))

    def write_tokens(self):
        pass  # no tokens file: the double holds them

    def token(self, *, tenant=None, reload=True, **kw):
        kw.pop("reload", None)
        t = Token(tenant=tenant or th.new_uuid(), **kw)
        self.tokens.append(t)
        if hasattr(self, "double"):
            self.double.add_token(t)
        return t

    def remove_token(self, tok, reload=True):
        self.double.revoke(tok)

    def auth_ready(self):
        status, body = self.get("/status")
        return status in (200, 503) and isinstance(body, dict) and \
            body.get("auth", {}).get("ready") is True

    def start(self, args=(), wait_ready=True):
        super().start(args)
        if wait_ready:
            wait_for(self.auth_ready, timeout=10, message="master tenant learned from wazo-auth")
        return self


@pytest.fixture
def double():
    d = WazoAuthDouble().start()
    yield d
    d.stop()


@pytest.fixture
def make_wazo(tmp_path, request, double):
    daemons = []
    request.node._tenbus_daemons = daemons

    def make(**kw):
        if not os.access(th.TENBUSD, os.X_OK):
            pytest.skip("tenbusd not built: %s" % th.TENBUSD)
        d = WazoDaemon(tmp_path / ("w%d" % len(daemons)), double, **kw)
        daemons.append(d)
        return d

    yield make
    errors = []
    for d in daemons:
        try:
            d.close()
            d.stop()
        except AssertionError as e:
            errors.append(str(e))
        log = d.log_text()
        if SERVICE_KEY in log:
            errors.append("the service key appears in the daemon's log")
        leaked = [t.id for t in d.tokens if t.id in log]
        if leaked:
            errors.append("token ids appear in the daemon's log: %s" % leaked)
    if errors:
        pytest.fail("\n".join(errors), pytrace=False)


@pytest.fixture
def wazo(make_wazo):
    return make_wazo().start()


def token_gets(double, tok):
    return double.count("GET", tok)


# --- lookups at connect --------------------------------------------------------

def test_valid_token_gets_init_and_events(wazo, double):
    alice = wazo.user()
    ws = wazo.session(alice)
    e = ev_user(alice.tenant, alice.user)
    wazo.publish(e)
    assert ws.recv_marker() == marker(e)
    # the lookup asked for the websocketd scope, with the id in the path
    assert ("GET", "/0.1/token/%s?scope=websocketd" % alice.id) in double.paths


def test_service_login_uses_key_file_credentials(wazo, double):
    assert double.logins, "no service login"
    login = double.logins[-1]
    assert login["user"] == SERVICE_ID
    assert login["body"] == {"expiration": 3600}


def test_username_password_when_no_key_file(make_wazo):
    d = make_wazo(key_file=False).start()
    alice = d.user()
    d.session(alice)


def test_prefix_is_honoured(tmp_path, request):
    dbl = WazoAuthDouble(prefix="/api/auth").start()
    try:
        d = WazoDaemon(tmp_path / "p", dbl, prefix="/api/auth")
        request.node._tenbus_daemons = [d]
        d.start()
        alice = d.user()
        d.session(alice)
        assert ("GET", "/api/auth/0.1/token/%s?scope=websocketd" % alice.id) in dbl.paths
        d.stop()
    finally:
        dbl.stop()


def test_unknown_token_closes_4002(wazo):
    ws = wazo.connect("tok-unknown-to-wazo-auth")
    ws.expect_close(4002, AUTH_FAILED)


def test_token_id_is_url_escaped(wazo, double):
    ws = wazo.connect("a%2Fb%20c")   # the client sends "a/b c" escaped; we escape again
    ws.expect_close(4002, AUTH_FAILED)
    weird = wazo.user(token_id="tok/with?odd&chars")
    ws = wazo.connect(weird.id.replace("/", "%2F").replace("?", "%3F").replace("&", "%26"))
    ws.expect_init(2)


def test_token_without_websocketd_scope_closes_4002(wazo, double):
    tok = wazo.user(acl=["events.#"])
    ws = wazo.connect(tok)
    ws.expect_close(4002, AUTH_FAILED)
    assert token_gets(double, tok) == 1   # the double answered 403


def test_expired_token_closes_4002(wazo):
    tok = wazo.user(expires_at=iso_in(-60))
    ws = wazo.connect(tok)
    ws.expect_close(4002, AUTH_FAILED)


def test_auth_server_down_closes_4002_quickly(wazo, double):
    alice = wazo.user()
    double.stop()
    t0 = time.monotonic()
    ws = wazo.connect(alice)
    ws.expect_close(4002, AUTH_FAILED)
    assert time.monotonic() - t0 < scaled(1.5)


@pytest.mark.parametrize("mode", [500, 503, "close"])
def test_auth_server_errors_close_4002(wazo, double, mode):
    alice = wazo.user()
    double.fail = mode
    ws = wazo.connect(alice)
    ws.expect_close(4002, AUTH_FAILED)
    double.fail = None
    # an error is not cached: the next connection asks again and succeeds
    wazo.connect(alice).expect_init(2)


def test_slow_auth_server_times_out_4002(make_wazo, double):
    d = make_wazo(timeout=1).start()
    alice = d.user()
    double.delay = 3
    t0 = time.monotonic()
    ws = d.connect(alice)
    ws.expect_close(4002, AUTH_FAILED, timeout=5)
    took = time.monotonic() - t0
    double.delay = 0
    assert 0.8 <= took < scaled(2.5), took


def test_malformed_answer_closes_4002(wazo, double):
    bad = wazo.user()
    double.tokens[bad.id]["metadata"] = "not an object"
    wazo.connect(bad).expect_close(4002, AUTH_FAILED)
    other = wazo.user()
    double.tokens[other.id]["token"] = "some-other-token"
    wazo.connect(other).expect_close(4002, AUTH_FAILED)


# --- master tenant ---------------------------------------------------------------

def test_master_tenant_learned_from_service_token(make_wazo, double):
    double.login_status = 503
    d = make_wazo()
    d.start(wait_ready=False)
    master = d.master()
    user = d.user()
    # the service login fails: every connection is refused
    wait_for(lambda: len(double.logins) >= 1, message="first service login attempt")
    d.connect(user).expect_close(4002, AUTH_FAILED)
    d.connect(master).expect_close(4002, AUTH_FAILED)
    assert not d.auth_ready()
    double.login_status = 200
    wait_for(d.auth_ready, timeout=8, message="login retried with back-off")
    assert len(double.logins) >= 2
    ws = d.session(master)
    other = d.user()
    e1, e2 = ev_tenant(other.tenant), ev_user(user.tenant, user.user)
    d.publish([e1, e2])
    assert [ws.recv_marker(), ws.recv_marker()] == [marker(e1), marker(e2)]
    assert "service login failed attempt=1" in d.log_text()


def test_sessions_wait_for_the_first_service_login(make_wazo, double):
    """Sessions that connect while tenbusd's first service login is still
    under way (the master tenant is not known yet) wait for it and open, as
    a client connecting right after a restart expects; none gets 4002."""
    double.login_delay = 1.5
    d = make_wazo()
    d.start(wait_ready=False)
    users = [d.user() for _ in range(3)]
    master = d.master()
    t0 = time.monotonic()
    wss = [d.session(u) for u in users] + [d.session(master)]
    assert d.auth_ready()
    assert time.monotonic() - t0 < 5, "waited for the login, not for tenbus.bus_wait_timeout"
    e = ev_user(users[0].tenant, users[0].user)
    d.publish([e])
    assert wss[0].recv_marker() == marker(e)
    assert wss[-1].recv_marker() == marker(e)   # the master tenant's session sees it
    assert "master tenant not known" not in d.log_text()


def test_wrong_service_key_keeps_refusing(make_wazo, double):
    d = make_wazo()
    double.add_service(SERVICE_ID, "another-key", d.master_tenant)
    d.start(wait_ready=False)
    wait_for(lambda: len(double.logins) >= 2, timeout=5, message="login retried")
    assert not d.auth_ready()
    d.connect(d.user()).expect_close(4002, AUTH_FAILED)
    assert "status=401" in d.log_text()


# --- checks while connected ---------------------------------------------------------

def test_dynamic_expiry_closes_4003(wazo):
    tok = wazo.user(expires_at=iso_in(2))
    ws = wazo.session(tok)
    ws.expect_close(4003, AUTH_EXPIRED, timeout=6)


def test_static_check_revoked_token_closes_4003(make_wazo, double):
    d = make_wazo(strategy="static", static_interval=1).start()
    alice = d.user()
    ws = d.session(alice)
    wait_for(lambda: double.count("HEAD", alice) >= 1, timeout=3, message="a first check")
    ws.assert_no_event()                       # that check passed: still open
    double.revoke(alice)
    ws.expect_close(4003, AUTH_EXPIRED, timeout=4)
    # the failed check evicted the cached token: a new connection asks again
    d.connect(alice).expect_close(4002, AUTH_FAILED)


def test_auth_down_at_check_closes_4003(make_wazo, double):
    d = make_wazo(strategy="static", static_interval=1).start()
    alice = d.user()
    ws = d.session(alice)
    double.stop()
    ws.expect_close(4003, AUTH_EXPIRED, timeout=4)


def test_check_bypasses_cache(make_wazo, double):
    d = make_wazo(strategy="static", static_interval=1).start()
    alice = d.user()
    d.session(alice)
    wait_for(lambda: double.count("HEAD", alice) >= 2, timeout=4, message="two checks")
    assert token_gets(double, alice) == 1


# --- renewal ------------------------------------------------------------------------

def test_renewal_with_wazo_token_applies_new_acl(wazo):
    tenant = th.new_uuid()
    user = th.new_uuid()
    narrow = wazo.user(tenant=tenant, user=user, acl=["websocketd"])
    wide = wazo.user(tenant=tenant, user=user)
    ws = wazo.session(narrow)
    e1 = ev_user(tenant, user)
    wazo.publish(e1)
    ws.assert_no_event()
    ws.renew(wide)
    e2 = ev_user(tenant, user)
    wazo.publish(e2)
    assert ws.recv_marker() == marker(e2)


def test_invalid_renewal_closes_4002(wazo):
    alice = wazo.user()
    ws = wazo.session(alice)
    ws.renew("tok-unknown", ack=False)
    ws.expect_close(4002, AUTH_FAILED)


# --- coalescing and cache -----------------------------------------------------------

def test_concurrent_lookups_share_one_request(make_wazo, double):
    d = make_wazo(workers=2).start()
    alice = d.user()
    double.delay = 0.5              # keep the first lookup in flight
    with ThreadPoolExecutor(10) as pool:
        wss = list(pool.map(lambda _: d.connect(alice), range(30)))
    for ws in wss:
        ws.expect_init(2)
    double.delay = 0
    assert token_gets(double, alice) == 1


def test_reconnect_within_token_life_uses_cache(wazo, double):
    alice = wazo.user(expires_at=iso_in(600))
    for _ in range(3):
        ws = wazo.connect(alice)
        ws.expect_init(2)
        ws.close()
    assert token_gets(double, alice) == 1


def test_cache_never_outlives_expiry(wazo, double):
    tok = wazo.user(expires_at=iso_in(1.5))
    wazo.connect(tok).expect_init(2)
    time.sleep(1.7)
    wazo.connect(tok).expect_close(4002, AUTH_FAILED)
    assert token_gets(double, tok) == 2


def test_sighup_clears_cache(wazo, double):
    alice = wazo.user()
    wazo.connect(alice).expect_init(2)
    wazo.signal(th.signal.SIGHUP)
    wait_for(lambda: "token cache cleared" in wazo.log_text(), message="reload logged")
    wazo.connect(alice).expect_init(2)
    assert token_gets(double, alice) == 2


# --- HTTP API --------------------------------------------------------------------------

def test_http_api_publish_with_wazo_token(wazo, double):
    alice = wazo.user()
    ws = wazo.session(alice)
    e = ev_user(alice.tenant, alice.user)
    wazo.publish(e)                               # the publisher's token is in the double
    assert ws.recv_marker() == marker(e)
    assert token_gets(double, wazo.publisher) == 1
    status, body = wazo.request("POST", "/api/events", body=e, token="tok-unknown")
    assert status == 401, body
    double.stop()
    status, body = wazo.request("POST", "/api/events", body=e, token="tok-other-unknown")
    assert status == 503, body


# --- shutdown -------------------------------------------------------------------------

def test_shutdown_with_lookups_in_flight(make_wazo, double):
    """SIGTERM while lookups wait on a slow wazo-auth: exit 0 in time, and
    every pending callback still runs (ASan's leak check would catch a conn
    whose callback was lost)."""
    d = make_wazo(timeout=10).start()
    alice = d.user()
    double.delay = 6
    wss = [d.connect(alice) for _ in range(5)]
    result = {}

    def api():
        try:
            result["status"] = d.request("POST", "/api/events", token=d.user().id,
                                         body=ev_user(alice.tenant, alice.user), timeout=8)[0]
        except Exception as e:          # the daemon may drop the connection
            result["error"] = e
    t = threading.Thread(target=api)
    t.start()
    wait_for(lambda: double.count("GET", alice) == 1 and len(double.counts) >= 3,
             message="lookups in flight")
    d.terminate()
    for ws in wss:
        try:
            ws.expect_close(1001, timeout=3)
        except AssertionError:
            pass                        # dropped without a close frame: fine too
    assert d.wait_exit() == 0, d.log_tail()
    t.join(10)
