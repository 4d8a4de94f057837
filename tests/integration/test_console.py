"""The browser console (/console, docs/console.md) in Debian's headless
Chromium, driven through playwright-core (tests/console/driver.js, one JSON
command per line).

Needs node, npm and /usr/bin/chromium (`npm ci` in tests/console runs once,
here); without them the browser tests skip, unless TENBUS_CONSOLE=1 (set by
scripts/test.sh, which installs chromium), where they fail.
TENBUS_CONSOLE_SCREENSHOT=FILE also saves the screenshot to FILE (that is how
docs/console.png was made).
"""

import json
import os
import shutil
import subprocess
import threading

import pytest

import tenbus_harness as th
from tenbus_harness import scaled

CONSOLE_DIR = os.path.join(th.REPO, "tests", "console")
DRIVER = os.path.join(CONSOLE_DIR, "driver.js")
CHROMIUM = os.environ.get("TENBUS_CHROMIUM", "/usr/bin/chromium")

CONSOLE_ON = ["-o", "tenbus.console=true"]


@pytest.fixture(scope="module")
def node():
    """node + playwright-core in tests/console/node_modules (th.node_project)."""
    return th.node_project(CONSOLE_DIR, "TENBUS_CONSOLE", CHROMIUM)


class Browser:
    """One driver.js process (one Chromium, several pages)."""

    def __init__(self, node, workdir):
        self.stderr_path = os.path.join(str(workdir), "driver.stderr")
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([node, DRIVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, cwd=CONSOLE_DIR)

    def call(self, cmd, timeout=30, **kw):
        kw["cmd"] = cmd
        self.proc.stdin.write((json.dumps(kw) + "\n").encode())
        self.proc.stdin.flush()
        out = {}

        def read():
            out["line"] = self.proc.stdout.readline()

        t = threading.Thread(target=read, daemon=True)
        t.start()
        t.join(scaled(timeout))
        line = out.get("line")
        if not line:
            raise AssertionError("driver.js gave no answer to %r\n%s" % (kw, self.stderr()))
        r = json.loads(line)
        if not r.get("ok"):
            raise AssertionError("driver.js %r failed: %s" % (kw, r.get("error")))
        return r

    def wait(self, page, selector, text=None, timeout=10):
        return self.call("wait", timeout=timeout + 10, page=page, selector=selector, text=text,
                         ms=int(scaled(timeout) * 1000))

    def texts(self, page, selector):
        return self.call("texts", page=page, selector=selector)["texts"]

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-4000:]
        except OSError:
            return ""

    def close(self):
        try:
            self.proc.stdin.write(b'{"cmd": "quit"}\n')
            self.proc.stdin.flush()
            self.proc.wait(scaled(20))
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        self._stderr.close()


@pytest.fixture
def browser(node, tmp_path):
    b = Browser(node, tmp_path)
    yield b
    b.close()


def console_url(d, token=None, **params):
    q = dict(params)
    if token is not None:
        q["token"] = token.id if isinstance(token, th.Token) else token
    return "http://127.0.0.1:%d/console?%s" % (d.port, "&".join("%s=%s" % kv for kv in q.items()))


# -- HTTP side (no browser needed) ---------------------------------------------

def test_console_off_by_default(daemon):
    status, _ = daemon.get("/console")
    assert status == 404
    status, _ = daemon.get("/console/console.js")
    assert status == 404


def test_console_assets_and_headers(make_daemon):
    import http.client
    d = make_daemon()
    d.start(CONSOLE_ON)
    for path, ctype in (("/console", "text/html"), ("/console/", "text/html"),
                        ("/console/console.js", "text/javascript"),
                        ("/console/console.css", "text/css")):
        c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=5)
        c.request("GET", path + "?token=secret-token-in-url")
        r = c.getresponse()
        body = r.read()
        assert r.status == 200, path
        assert r.getheader("Content-Type").startswith(ctype)
        csp = r.getheader("Content-Security-Policy")
        assert "default-src 'none'" in csp and "script-src 'self'" in csp
        assert "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert r.getheader("X-Frame-Options") == "DENY"
        assert r.getheader("Referrer-Policy") == "no-referrer"
        assert r.getheader("Cache-Control") == "no-store"
        assert r.getheader("Access-Control-Allow-Origin") is None
        # nothing external: no http(s) URL the browser would fetch
        assert b"https://" not in body and b"http://" not in body
        c.close()
    status, _ = d.request("POST", "/console", body="x")
    assert status == 405
    status, _ = d.get("/console/nope.js")
    assert status == 404
    # Cross-origin publishing fails at the CORS preflight: no CORS headers.
    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=5)
    c.request("OPTIONS", "/api/events", headers={"Origin": "http://evil.example",
                                                 "Access-Control-Request-Method": "POST"})
    r = c.getresponse()
    r.read()
    assert r.status >= 400 and r.getheader("Access-Control-Allow-Origin") is None
    c.close()
    assert "secret-token-in-url" not in d.log_text()


# -- in the browser --------------------------------------------------------------

def test_console_two_tenants_publish_form_and_revocation(make_daemon, browser, tmp_path):
    d = make_daemon()
    tenant_a, tenant_b = th.new_uuid(), th.new_uuid()
    alice = d.user(tenant=tenant_a)
    bob = d.admin(tenant=tenant_b)
    publisher = d.publisher
    d.start(CONSOLE_ON)

    # Two pages, driven by URL parameters only: connect, subscribe, start.
    browser.call("open", page="a", url=console_url(d, alice, version=2,
                                                   subscribe="chat_message,call_created", start=1))
    browser.call("open", page="b", url=console_url(d, bob, version=1, subscribe="*", start=1))
    browser.wait("a", "#state", "^started")
    browser.wait("b", "#state", "^started")
    # The token left the address bar once read.
    assert "token=" not in browser.call("url", page="a")["url"]

    # A third page publishes through its form (POST /api/events).
    browser.call("open", page="pub", url=console_url(d, publisher))

    def publish(level, name, tenant, users, data):
        browser.call("select", page="pub", selector="#pub-level", value=level)
        browser.call("fill", page="pub", selector="#pub-name", value=name)
        browser.call("fill", page="pub", selector="#pub-tenant", value=tenant)
        browser.call("fill", page="pub", selector="#pub-users", value=users)
        browser.call("fill", page="pub", selector="#pub-data", value=json.dumps(data))
        # The click's submit handler shows "publishing…" at once, so the wait
        # below sees this publication's answer, not the previous one's.
        browser.call("click", page="pub", selector="#publish")
        browser.wait("pub", "#publish-result", r"^202 .*\"published\":1")

    publish("user", "chat_message", tenant_a, alice.user, {"text": "for alice"})
    browser.wait("a", "#events li .name", "^chat_message$")
    publish("tenant", "call_created", tenant_b, "", {"text": "for bob's tenant"})
    browser.wait("b", "#events li .name", "^call_created$")

    a_items = browser.texts("a", "#events li .data")
    b_items = browser.texts("b", "#events li .data")
    assert a_items == ['{"text":"for alice"}'], a_items
    assert b_items == ['{"text":"for bob\'s tenant"}'], b_items
    assert browser.texts("a", "#count-received") == ["1"]

    # Expand: headers and body of the event.
    browser.call("click", page="a", selector="#events li .summary")
    headers = json.loads(browser.texts("a", "#events li pre.headers")[0])
    assert headers["tenant_uuid"] == tenant_a and headers["user_uuid:%s" % alice.user] is True
    assert headers["name"] == "chat_message" and "data" not in headers
    body = json.loads(browser.texts("a", "#events li pre.body")[0])
    assert body["data"] == {"text": "for alice"}

    # Newest first; filter by text; pause holds events until resumed.
    publish("user", "call_created", tenant_a, alice.user, {"n": 2})
    browser.wait("a", "#count-received", "^2$")
    assert browser.texts("a", "#events li .name") == ["call_created", "chat_message"]
    browser.call("fill", page="a", selector="#filter", value="for alice")
    browser.wait("a", "#count-shown", "^1$")
    browser.call("fill", page="a", selector="#filter", value="")
    browser.call("click", page="a", selector="#pause")
    publish("user", "chat_message", tenant_a, alice.user, {"n": 3})
    browser.wait("a", "#count-held", "^1$")
    assert len(browser.texts("a", "#events li")) == 2
    browser.call("click", page="a", selector="#pause")
    browser.wait("a", "#count-shown", "^3$")
    assert browser.texts("a", "#events li .data")[0] == '{"n":3}'

    shot = str(tmp_path / "console.png")
    browser.call("screenshot", page="a", path=shot)
    assert os.path.getsize(shot) > 10000
    extra = os.environ.get("TENBUS_CONSOLE_SCREENSHOT")
    if extra:
        shutil.copyfile(shot, extra)

    # Renew in place with another token of the same user: acknowledged (v2).
    alice2 = d.user(tenant=tenant_a, user=alice.user)
    browser.call("fill", page="a", selector="#renew-token", value=alice2.id)
    browser.call("click", page="a", selector="#renew")
    browser.wait("a", "#renew-result", "^token renewed$")

    # Revoke bob's token: tokens file edited, SIGHUP. His page says why.
    d.remove_token(bob)
    browser.wait("b", "#close", "^closed 400[23]: authentication (expired|failed)")
    assert browser.wait("b", "#state", "not connected")
    # Reconnecting with the revoked token: 4002 in words.
    browser.call("click", page="b", selector="#connect")
    browser.wait("b", "#close", "^closed 4002: authentication failed")

    # The page itself ran clean under its CSP (no violation, no script error).
    for p in ("a", "b", "pub"):
        msgs = browser.call("console", page=p)["messages"]
        assert not [m for m in msgs if "error" in m.lower() and "websocket" not in m.lower()], msgs

    # No token ever reached the log (debug level, access to /console?token=).
    log = d.log_text()
    for t in (alice, alice2, bob, publisher):
        assert t.id not in log
    assert "session end" in log
