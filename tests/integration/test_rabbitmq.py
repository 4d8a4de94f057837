"""The RabbitMQ bus backend (DESIGN.md §5) against a real broker.

Needs a RabbitMQ on 127.0.0.1:5672 (guest/guest; `scripts/rabbitmq.sh
start`), Debian's python3-pika and `rabbitmqctl` (run as root, or with
TENBUS_RABBITMQCTL="sudo rabbitmqctl"). Tests skip when the broker is not
reachable, unless TENBUS_RABBITMQ=1 (scripts/test.sh), where they fail.

Each test uses its own exchange (wazo-headers-<random>), so bindings and
messages of one test never reach another. Events are published with pika
the way wazo-bus does: typed AMQP headers (user_uuid:<uuid> = boolean
true), the JSON body holding the headers plus `data`.
"""

import datetime
import decimal
import json
import os
import shlex
import subprocess
import time
import uuid

import pytest

import tenbus_harness as th

pika = pytest.importorskip("pika")

HOST = os.environ.get("TENBUS_RABBITMQ_HOST", "127.0.0.1")
PORT = int(os.environ.get("TENBUS_RABBITMQ_PORT", "5672"))
CTL = shlex.split(os.environ.get("TENBUS_RABBITMQCTL", "rabbitmqctl"))
REQUIRED = os.environ.get("TENBUS_RABBITMQ") == "1"
RECONNECT_TIMEOUT = 45     # back-off 1+2+4+8+16 s, then 32 s steps


def _params():
    return pika.ConnectionParameters(HOST, PORT, connection_attempts=1, socket_timeout=5,
                                     blocked_connection_timeout=10)


def _broker_up():
    try:
        pika.BlockingConnection(_params()).close()
        return True
    except Exception:
        return False


def ctl(*args, timeout=60):
    r = subprocess.run(CTL + ["-q"] + list(args), capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, "rabbitmqctl %s: %s %s" % (" ".join(args), r.stdout, r.stderr)
    return r.stdout


@pytest.fixture(scope="module", autouse=True)
def broker():
    if not _broker_up():
        if REQUIRED:
            pytest.fail("TENBUS_RABBITMQ=1 but no broker on %s:%d (scripts/rabbitmq.sh start)"
                        % (HOST, PORT))
        pytest.skip("no RabbitMQ on %s:%d" % (HOST, PORT))


class Pub:
    """A pika publisher with publisher confirms: when publish() returns, the
    broker has routed the message, so messages of one Pub reach a queue in
    publish order."""

    def __init__(self, exchange):
        self.exchange = exchange
        self.conn = pika.BlockingConnection(_params())
        self.ch = self.conn.channel()
        self.ch.exchange_declare(exchange, "headers", durable=True)
        self.ch.confirm_delivery()

    def raw(self, headers, body):
        if isinstance(body, str):
            body = body.encode()
        props = pika.BasicProperties(headers=headers, content_type="application/json",
                                     delivery_mode=2)
        self.ch.basic_publish(self.exchange, "", body, props)

    def event(self, d, name, *, tenant=None, users=(), all_users=False, required_acl="__default__",
              origin=None, marker=None, extra=None):
        """Publishes a Wazo-style event for daemon `d`'s stack; returns its marker."""
        m = marker or th.mark()
        h = d.raw_headers(name, tenant=tenant, users=users, all_users=all_users,
                          required_acl=required_acl, origin=origin)
        body = dict(h)
        body["data"] = {"marker": m}
        h.update(extra or {})          # AMQP-only types: headers, not body
        self.raw(h, json.dumps(body))
        return m

    def collect(self, d, *wss, timeout=th.RECV_TIMEOUT):
        """Like Daemon.collect, with the sentinels published here (same
        channel as the events, hence ordered after them)."""
        sentinels = []
        for ws in wss:
            s = "sentinel-" + th.mark()
            self.event(d, th.SENTINEL, tenant=ws.token.tenant, users=[ws.token.user],
                       required_acl=None, marker=s)
            sentinels.append(s)
        out = []
        for ws, s in zip(wss, sentinels):
            got = []
            while True:
                x = ws.recv_marker(timeout)
                if x == s:
                    break
                if not x.startswith("sentinel-"):
                    got.append(x)
            out.append(got)
        return out

    def close(self):
        try:
            self.conn.close()
        except Exception:
            pass


@pytest.fixture
def exchange():
    name = "wazo-headers-test-" + uuid.uuid4().hex[:10]
    yield name
    try:
        c = pika.BlockingConnection(_params())
        c.channel().exchange_delete(name)
        c.close()
    except Exception:
        pass


@pytest.fixture
def pub(exchange):
    p = Pub(exchange)
    yield p
    p.close()


def bus_conf(exchange, **kw):
    c = {"host": HOST, "port": PORT, "username": "guest", "password": "guest", "vhost": "/",
         "exchange_name": exchange, "exchange_type": "headers"}
    c.update(kw)
    return c


def bus_connected(d):
    status, body = d.get("/status")
    return isinstance(body, dict) and body.get("bus", {}).get("connected") is True


def bindings(exchange):
    """{queue: [args dict]} of the bindings from `exchange`."""
    out = {}
    for b in json.loads(ctl("list_bindings", "source_name", "destination_name", "arguments",
                            "--formatter", "json") or "[]"):
        if b["source_name"] == exchange:
            args = {k: v for k, _t, v in b["arguments"]}
            out.setdefault(b["destination_name"], []).append(args)
    return out


def bound_names(exchange, d):
    """Set of names bound for daemon d ('*' for the catch-all binding)."""
    names = set()
    for args_list in bindings(exchange).values():
        for a in args_list:
            assert a.get("x-match") == "all" and a.get("origin_uuid") == d.uuid, a
            names.add(a.get("name", "*"))
    return names


@pytest.fixture
def rmq_daemon(make_daemon, exchange):
    """Factory: a started tenbusd on the RabbitMQ bus, connected."""
    def make(wait=True, **kw):
        bus = bus_conf(exchange, **kw.pop("bus", {}))
        d = make_daemon(bus=bus, **kw)
        d.start()
        if wait:
            th.wait_for(lambda: bus_connected(d), timeout=15, interval=0.1,
                        message="bus connected")
        return d
    return make


def wait_bound(exchange, d, names):
    th.wait_for(lambda: bound_names(exchange, d) == set(names), timeout=10, interval=0.1,
                message="bindings %s" % sorted(names))


# ---------------------------------------------------------------------------

def test_delivery_rules(rmq_daemon, exchange, pub):
    d = rmq_daemon()
    t1, t2 = th.new_uuid(), th.new_uuid()
    alice, bob, carol = d.user(t1), d.user(t1), d.user(t2)
    admin, master = d.admin(t1), d.master()
    wss = [d.session(t) for t in (alice, bob, carol, admin, master)]
    named = d.session(d.user(t1), names=("only_this", th.SENTINEL))
    wait_bound(exchange, d, {"*", "only_this", th.SENTINEL})

    m_alice = pub.event(d, "chatd_user_room_created", tenant=t1, users=[alice.user])
    m_t1 = pub.event(d, "tenant_evt", tenant=t1, all_users=True)
    m_t2 = pub.event(d, "tenant_evt", tenant=t2, users=[carol.user])
    m_svc = pub.event(d, "svc_evt")                              # service level
    pub.event(d, "user_evt", tenant=t1, users=[alice.user], origin=th.new_uuid())  # other stack
    pub.event(d, "user_evt", tenant=t1, users=[alice.user], required_acl="__omit__")
    m_named = pub.event(d, "only_this", tenant=t1, all_users=True)

    got = pub.collect(d, *wss, named)
    assert got[0] == [m_alice, m_t1, m_named]                    # alice
    assert got[1] == [m_t1, m_named]                             # bob
    assert got[2] == [m_t2]                                      # carol, other tenant
    assert got[3] == [m_alice, m_t1, m_named]                    # admin of t1
    assert got[4] == [m_alice, m_t1, m_t2, m_svc, m_named]       # master tenant
    assert got[5] == [m_named]                                   # subscribed to one name


def test_v1_body_byte_identical(rmq_daemon, exchange, pub):
    d = rmq_daemon()
    tok = d.user()
    ws = d.session(tok, version=1)
    wait_bound(exchange, d, {"*"})
    h = d.raw_headers("odd_body", tenant=tok.tenant, users=[tok.user])
    body = ('{ "name" : "odd_body",\n  "data": {"marker": "x", "s": "caf\\u00e9 \u2603",'
            ' "n": 1.50, "z": [ ]}, "tenant_uuid": "%s" }' % tok.tenant)
    pub.raw(h, body)
    assert ws.recv_raw() == body


def test_bad_messages_dropped(rmq_daemon, exchange, pub):
    d = rmq_daemon()
    tok = d.user()
    ws = d.session(tok)
    wait_bound(exchange, d, {"*"})
    good = d.raw_headers("evt", tenant=tok.tenant, users=[tok.user])
    pub.raw(good, b"not json {")
    pub.raw(good, b"[1, 2, 3]")
    pub.raw(good, b"\"a string\"")
    pub.raw(good, b"\xff\xfe{}")
    pub.raw(good, b"")
    nameless = {k: v for k, v in good.items() if k != "name"}
    pub.raw(nameless, json.dumps({"data": {"marker": "nameless"}}))
    # The name may come from the body when the header lacks it.
    m_body_name = th.mark()
    pub.raw(nameless, json.dumps({"name": "evt", "data": {"marker": m_body_name}}))
    # Odd but valid header types around a deliverable event.
    m_odd = pub.event(d, "evt", tenant=tok.tenant, users=[tok.user], extra={
        "nested": {"a": {"b": [1, "x", None, True]}}, "small": 7, "big": 2 ** 40,
        "neg": -5, "dec": decimal.Decimal("3.14"), "void": None,
        "when": datetime.datetime(2024, 1, 2, 3, 4, 5), "raw": b"\x00\x01bytes",
        "user_uuid:" + th.new_uuid(): "true"})
    assert pub.collect(d, ws) == [[m_body_name, m_odd]]
    log = d.log_text()
    for reason in ("body_not_json", "body_not_object", "no_name"):
        assert "reason=%s" % reason in log, reason
    assert d.running


def test_odd_headers_never_widen_delivery(rmq_daemon, exchange, pub):
    """A required_acl the gateway cannot read as a string (bytes that are
    not UTF-8, a number) must not count as 'no ACL needed'; a tenant_uuid of
    another type is no tenant."""
    d = rmq_daemon()
    tok = d.user()
    ws = d.session(tok)
    wait_bound(exchange, d, {"*"})
    for acl in (b"\xff\xfe", 12, {"a": "b"}):
        h = d.raw_headers("evt", tenant=tok.tenant, users=[tok.user])
        h["required_acl"] = acl
        pub.raw(h, json.dumps({"name": "evt", "data": {"marker": "bad-acl"}}))
    h = d.raw_headers("evt", tenant=tok.tenant, users=[tok.user])
    h["tenant_uuid"] = tok.tenant.encode("utf-16")
    pub.raw(h, json.dumps({"name": "evt", "data": {"marker": "bad-tenant"}}))
    assert pub.collect(d, ws) == [[]]


def test_http_publish_reaches_broker(rmq_daemon, exchange, pub):
    d = rmq_daemon()
    q = pub.ch.queue_declare("", exclusive=True, auto_delete=True).method.queue
    pub.ch.queue_bind(q, exchange, arguments={"x-match": "all"})
    tenant, user = th.new_uuid(), th.new_uuid()
    ev = th.ev_user(tenant, user, name="chatd_user_room_created")
    d.publish(ev)
    deadline = time.monotonic() + th.scaled(5)
    msg = None
    while msg is None and time.monotonic() < deadline:
        msg = pub.ch.basic_get(q, auto_ack=True)
        if msg[0] is None:
            msg = None
            time.sleep(0.05)
    assert msg is not None, "nothing reached the broker"
    _method, props, body = msg
    h = props.headers
    assert h["name"] == "chatd_user_room_created"
    assert h["origin_uuid"] == d.uuid
    assert h["tenant_uuid"] == tenant
    assert h["user_uuid:" + user] is True          # a boolean, not "true"
    assert h["required_acl"] == "events.chatd_user_room_created" or \
        h["required_acl"].startswith("events.")
    assert props.content_type == "application/json"
    assert props.delivery_mode == 2
    b = json.loads(body)
    assert b["data"] == ev["data"] and b["name"] == "chatd_user_room_created"
    assert b["user_uuid:" + user] is True


def test_http_publish_round_trip(rmq_daemon, exchange):
    """POST /api/events on a RabbitMQ node comes back through the broker."""
    d = rmq_daemon()
    tok = d.user()
    ws = d.session(tok)
    wait_bound(exchange, d, {"*"})
    ev = th.ev_user(tok.tenant, tok.user)
    d.publish(ev)
    assert ws.recv_marker() == th.marker(ev)


def test_bindings_follow_subscriptions(rmq_daemon, exchange):
    d = rmq_daemon()
    assert bound_names(exchange, d) == set()
    t = th.new_uuid()
    a = d.session(d.user(t), names=("foo",))
    b = d.session(d.user(t), names=("foo", "bar"))
    wait_bound(exchange, d, {"foo", "bar"})
    c = d.session(d.user(t), names=("*",))
    wait_bound(exchange, d, {"foo", "bar", "*"})
    assert len(bindings(exchange)) == 1                          # one queue for the node
    args = [x for x in list(bindings(exchange).values())[0] if "name" not in x]
    assert args == [{"x-match": "all", "origin_uuid": d.uuid}]
    a.close()
    time.sleep(0.3)
    assert bound_names(exchange, d) == {"foo", "bar", "*"}       # b still has foo
    b.close()
    wait_bound(exchange, d, {"*"})
    c.close()
    wait_bound(exchange, d, set())


def test_one_queue_for_many_sessions(rmq_daemon, exchange, pub):
    d = rmq_daemon()
    t = th.new_uuid()
    toks = [d.token(tenant=t, reload=False) for _ in range(40)]
    d.reload(wait_known=toks[-1:])
    wss = [d.session(tok, names=("*", "n%d" % (i % 4))) for i, tok in enumerate(toks)]
    wait_bound(exchange, d, {"*", "n0", "n1", "n2", "n3"})
    assert len(bindings(exchange)) == 1
    m = pub.event(d, "tenant_evt", tenant=t, all_users=True)
    for ws in wss:
        assert ws.recv_marker() == m                             # once each, not 2x


@pytest.fixture
def broker_restored():
    """For tests that stop the broker's app: always start it again."""
    yield
    ctl("start_app", timeout=120)
    ctl("await_startup", timeout=120)
    th.wait_for(_broker_up, timeout=60, interval=0.5, message="broker back")


def test_broker_loss_and_reconnect(rmq_daemon, exchange, broker_restored):
    d = rmq_daemon()
    t = th.new_uuid()
    tok = d.user(t)
    ws1 = d.session(tok, names=("*",))
    ws2 = d.session(d.user(t), version=1, names=("foo",))
    wait_bound(exchange, d, {"*", "foo"})

    ctl("stop_app", timeout=120)
    ws1.expect_close(1011, "bus connection lost", timeout=15)
    ws2.expect_close(1011, "bus connection lost", timeout=15)
    th.wait_for(lambda: not bus_connected(d), timeout=5, message="bus down in /status")
    ws = d.connect(tok)
    ws.expect_close(1011, "bus connection error")
    d.publish(th.ev_user(t, tok.user), expect=503)

    ctl("start_app", timeout=120)
    ctl("await_startup", timeout=120)
    th.wait_for(lambda: bus_connected(d), timeout=RECONNECT_TIMEOUT, interval=0.25,
                message="bus reconnected")
    ws3 = d.session(tok)
    wait_bound(exchange, d, {"*"})                               # re-declared, re-bound
    p = Pub(exchange)
    try:
        m = p.event(d, "user_evt", tenant=t, users=[tok.user])
        assert ws3.recv_marker() == m
    finally:
        p.close()
    assert "bus connection lost" in d.log_text() or "connection lost" in d.log_text()


def test_broker_down_at_start(make_daemon, exchange):
    """Start-up with no broker is not fatal: sessions are refused with 1011
    meanwhile and the daemon still stops cleanly."""
    d = make_daemon(bus=bus_conf(exchange, port=th.free_port()))
    tok = d.user()           # before start: probing it would need the bus
    d.start()
    assert not bus_connected(d)
    ws = d.connect(tok)
    ws.expect_close(1011, "bus connection error")
    status, body = d.publish(th.ev_user(tok.tenant, tok.user), expect=503)
    assert body.get("error") == "bus_unavailable"


def test_two_nodes_one_broker(make_daemon, exchange, pub):
    """Node A's HTTP API -> broker -> session on node B; tenants stay apart."""
    a = make_daemon(bus=bus_conf(exchange))
    b = make_daemon(bus=bus_conf(exchange))
    b.uuid, b.master_tenant = a.uuid, a.master_tenant            # one stack, two nodes
    for d in (a, b):
        d.start()
        th.wait_for(lambda: bus_connected(d), timeout=15, interval=0.1, message="bus connected")
    t1, t2 = th.new_uuid(), th.new_uuid()
    alice, eve = b.user(t1), b.user(t2)
    eve_admin = b.admin(t2)
    wa, we, wadm = b.session(alice), b.session(eve), b.session(eve_admin)
    th.wait_for(lambda: len(bindings(exchange)) == 1 and bound_names(exchange, b) == {"*"},
                timeout=10, interval=0.1, message="node B bound")

    ev1 = th.ev_user(t1, alice.user)
    ev2 = th.ev_tenant(t1)
    a.publish([ev1, ev2])
    assert [wa.recv_marker(), wa.recv_marker()] == [th.marker(ev1), th.marker(ev2)]
    got = pub.collect(b, we, wadm)
    assert got == [[], []]
    assert len(bindings(exchange)) == 1          # A has no subscriber: no binding for it
