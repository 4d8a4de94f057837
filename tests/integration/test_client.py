"""The service side (issue 11): libtenbus's client through `tenbus publish
--bus` and `tenbus consume`, against the real RabbitMQ.

Wire format: what the C publisher sends must equal what a Wazo service
sends for the same event, recorded in tests/fixtures/wazo_bus/*.json from
wazo-bus's rules (WazoEventMixin headers, kombu's message properties,
py-amqp's header types). It is read back with kombu/py-amqp, whose table
decoder is wrapped to keep each value's AMQP type tag, so a boolean sent as
the string "true", or an integer of the wrong width, fails.

The other way: messages published with kombu exactly as wazo-bus publishes
them (Producer(exchange=Exchange(name, 'headers', durable=True)).publish(
payload, headers=..., routing_key=...)) reach the C consumer with the right
filters.
"""

import contextlib
import json
import os
import shlex
import subprocess
import threading
import time
import uuid

import pytest

import tenbus_harness as th

kombu = pytest.importorskip("kombu")
amqp_ser = pytest.importorskip("amqp.serialization")

HOST = os.environ.get("TENBUS_RABBITMQ_HOST", "127.0.0.1")
PORT = int(os.environ.get("TENBUS_RABBITMQ_PORT", "5672"))
BUS = "amqp://guest:guest@%s:%d/" % (HOST, PORT)
KOMBU_URL = "amqp://guest:guest@%s:%d//" % (HOST, PORT)
CTL = shlex.split(os.environ.get("TENBUS_RABBITMQCTL", "rabbitmqctl"))
REQUIRED = os.environ.get("TENBUS_RABBITMQ") == "1"
FIXTURES = os.path.join(th.REPO, "tests", "fixtures", "wazo_bus")
WIRE_CASES = sorted(f[:-5] for f in os.listdir(FIXTURES)
                    if f.endswith(".json") and f != "header_types.json")
EXAMPLE = os.environ.get("TENBUS_EXAMPLE") or os.path.join(
    os.path.dirname(th.TENBUS_CLI), "example-confd-service")


@pytest.fixture(scope="module", autouse=True)
def broker():
    try:
        with kombu.Connection(KOMBU_URL, connect_timeout=5) as c:
            c.connect()
    except Exception:
        if REQUIRED:
            pytest.fail("TENBUS_RABBITMQ=1 but no broker at %s" % BUS)
        pytest.skip("no RabbitMQ at %s" % BUS)


@pytest.fixture
def exchange():
    name = "wazo-headers-client-" + uuid.uuid4().hex[:10]
    yield name
    with contextlib.suppress(Exception), kombu.Connection(KOMBU_URL) as c:
        kombu.Exchange(name, "headers")(c.default_channel).delete()


def fixture(name):
    with open(os.path.join(FIXTURES, name + ".json")) as f:
        return json.load(f)


# -- kombu side ---------------------------------------------------------------

@contextlib.contextmanager
def typed_tables():
    """While active, py-amqp decodes every field value as [type tag, value]."""
    orig = amqp_ser._read_item

    def typed(buf, offset):
        tag = chr(buf[offset])
        val, offset = orig(buf, offset)
        return [tag, val], offset

    amqp_ser._read_item = typed
    try:
        yield
    finally:
        amqp_ser._read_item = orig


class KombuQueue:
    """An exclusive queue bound like a wazo-bus consumer's, read with
    basic.get (py-amqp decodes the headers as the frame arrives)."""

    def __init__(self, exchange, binding):
        self.conn = kombu.Connection(KOMBU_URL)
        self.ex = kombu.Exchange(exchange, "headers", durable=True)
        self.q = kombu.Queue("tb-client-test-" + uuid.uuid4().hex[:8], exchange=self.ex,
                             binding_arguments=binding, exclusive=True)
        self.q(self.conn.default_channel).declare()

    def get(self, timeout=5.0, typed=True):
        end = time.monotonic() + th.scaled(timeout)
        while time.monotonic() < end:
            with typed_tables() if typed else contextlib.nullcontext():
                m = self.q(self.conn.default_channel).get(no_ack=True)
            if m is not None:
                return m
            time.sleep(0.02)
        return None

    def close(self):
        self.conn.release()


def kombu_publish(exchange, headers, payload, routing_key):
    """What wazo-bus's PublisherMixin does for an event."""
    with kombu.Connection(KOMBU_URL) as c:
        producer = kombu.Producer(c, exchange=kombu.Exchange(exchange, "headers", durable=True),
                                  auto_declare=True)
        producer.publish(payload, headers=headers, routing_key=routing_key)


def wazo_headers(name, *, tenant=None, users=(), all_users=False, origin=None, extra=None):
    """Headers in WazoEventMixin's order and types."""
    h = dict(extra or {})
    if tenant:
        h["tenant_uuid"] = tenant
    if all_users:
        h["user_uuid:*"] = True
    h["name"] = name
    for u in users:
        h["user_uuid:" + u] = True
    h["required_access"] = "event." + name
    h["required_acl"] = "events." + name
    h["origin_uuid"] = origin
    h["timestamp"] = th.iso_in(0)
    return h


def wazo_publish(exchange, name, data, routing_key=None, **kw):
    h = wazo_headers(name, **kw)
    kombu_publish(exchange, h, dict(h, data=data), routing_key or name)


# -- the CLI ------------------------------------------------------------------

def publish(cli, exchange, *args, env=None, check=True):
    e = dict(os.environ)
    e.pop("XIVO_UUID", None)
    e.update(env or {})
    p = subprocess.run([cli, "publish", "--bus", BUS, "--exchange", exchange] + list(args),
                       capture_output=True, text=True, timeout=th.scaled(20), env=e)
    if check:
        assert p.returncode == 0, "publish --bus failed (%d): %s" % (p.returncode, p.stderr)
    return p


class Consume:
    """`tenbus consume` running; start() returns once it printed ready."""

    def __init__(self, cli, *args):
        self.proc = subprocess.Popen([cli, "consume"] + list(args), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.err = []
        self.ready = threading.Event()
        self._t_out = threading.Thread(target=self._read_out, daemon=True)
        self._t_err = threading.Thread(target=self._read_err, daemon=True)
        self._t_out.start()
        self._t_err.start()
        assert self.ready.wait(th.scaled(15)), "consume not ready: %s" % "".join(self.err)

    def _read_out(self):
        for line in self.proc.stdout:
            self.lines.append(json.loads(line))

    def _read_err(self):
        for line in self.proc.stderr:
            self.err.append(line)
            if line == "ready\n":
                self.ready.set()

    def wait_lines(self, n, timeout=5.0):
        th.wait_for(lambda: len(self.lines) >= n, timeout=th.scaled(timeout),
                    message="%d lines (got %d; stderr %s)" % (n, len(self.lines), self.err))
        return self.lines[:n]

    def markers(self):
        return [line["body"]["data"].get("marker") for line in self.lines]

    def wait_exit(self, timeout=10.0):
        rc = self.proc.wait(th.scaled(timeout))
        self._t_out.join(5)
        return rc

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def consumers():
    started = []
    yield started
    for c in started:
        c.stop()


def consume(consumers, cli, *args):
    c = Consume(cli, *args)
    consumers.append(c)
    return c


def ctl(*args):
    r = subprocess.run(CTL + ["-q"] + list(args), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, "rabbitmqctl %s: %s" % (args, r.stderr)
    return r.stdout


# -- wire format: C publisher == Wazo publisher --------------------------------

def untyped(v):
    """[tag, value] trees (typed_tables) -> plain values."""
    tag, val = v
    if tag == "F":
        return {k: untyped(x) for k, x in val.items()}
    if tag == "A":
        return [untyped(x) for x in val]
    return val


@pytest.mark.parametrize("case", WIRE_CASES)
def test_publisher_sends_what_wazo_bus_sends(cli_path, exchange, case):
    fx = fixture(case)
    q = KombuQueue(exchange, {"x-match": "all", "name": fx["headers"]["name"][1]})
    try:
        publish(cli_path, exchange, *fx["cli"])
        m = q.get()
        assert m is not None, "nothing received"
        headers = dict(m.headers)
        assert fx["headers"]["timestamp"] == ["S", "*"]
        ts = headers.pop("timestamp")
        assert ts[0] == "S" and ts[1].startswith(time.strftime("%Y-")), ts
        want = {k: v for k, v in fx["headers"].items() if k != "timestamp"}
        assert headers == want
        assert m.delivery_info["routing_key"] == fx["routing_key"]
        for k, v in fx["properties"].items():
            assert m.properties.get(k) == v, (k, m.properties)
        body = json.loads(m.body)
        assert body.pop("timestamp") == ts[1]
        want_body = dict(fx["body"])
        want_body.pop("timestamp")
        assert body == want_body
        # The body is every header plus data, with the headers' values.
        assert {k: untyped(v) for k, v in m.headers.items()} == \
            {k: v for k, v in json.loads(m.body).items() if k != "data"}
    finally:
        q.close()


@pytest.mark.parametrize("case", WIRE_CASES)
def test_fixture_is_what_kombu_sends(exchange, case):
    """The fixtures' types are py-amqp's for the same Python values: the
    recording is checked against the library Wazo services run."""
    fx = fixture(case)
    q = KombuQueue(exchange, {"x-match": "all", "name": fx["headers"]["name"][1]})
    try:
        headers = {k: v[1] for k, v in fx["headers"].items()}
        kombu_publish(exchange, headers, fx["body"], fx["routing_key"])
        m = q.get()
        assert m is not None
        assert dict(m.headers) == fx["headers"]
        for k, v in fx["properties"].items():
            assert m.properties.get(k) == v, (k, m.properties)
    finally:
        q.close()


def test_origin_uuid_from_xivo_uuid(cli_path, exchange):
    q = KombuQueue(exchange, {"x-match": "all", "name": "svc_evt"})
    try:
        origin = th.new_uuid()
        publish(cli_path, exchange, "--name", "svc_evt", "--data", "{}",
                env={"XIVO_UUID": origin})
        m = q.get()
        assert m.headers["origin_uuid"] == ["S", origin]
        publish(cli_path, exchange, "--name", "svc_evt", "--origin-uuid", "o-flag", "--data", "{}",
                env={"XIVO_UUID": origin})
        assert q.get().headers["origin_uuid"] == ["S", "o-flag"]
    finally:
        q.close()


@pytest.mark.parametrize("args, why", [
    (["--level", "tenant"], "event level requires a tenant_uuid"),
    (["--level", "user", "--tenant", "t1"], "user event without user_uuid"),
    (["--routing-key-fmt", "a.{missing}"], "format names a field"),
    (["--routing-key-fmt", "a.{bad"], "malformed format"),
    (["--users", "u1,,u2", "--tenant", "t1"], "user_uuids"),
])
def test_unbuildable_event_publishes_nothing(cli_path, exchange, args, why):
    q = KombuQueue(exchange, {"x-match": "all"})
    try:
        p = publish(cli_path, exchange, "--name", "bad_evt", "--data", "{}", *args, check=False)
        assert p.returncode != 0
        assert why in p.stderr, p.stderr
        publish(cli_path, exchange, "--name", "after", "--data", "{}")
        m = q.get(typed=False)
        assert m is not None and m.headers["name"] == "after"   # the first one never went out
    finally:
        q.close()


def test_tenbusd_publisher_types_integers_as_py_amqp(make_daemon, exchange):
    """tenbusd's RabbitMQ publisher writes through the same codec sink as
    the client: extra headers that are integers are 'I' when they fit in a
    signed 32-bit, else 'L', as py-amqp (wazo-bus) types them."""
    d = make_daemon(bus={"host": HOST, "port": PORT, "username": "guest", "password": "guest",
                         "vhost": "/", "exchange_name": exchange, "exchange_type": "headers"})
    d.start()
    q = KombuQueue(exchange, {"x-match": "all", "name": "typed_ints"})
    try:
        ints = {"small": 5, "neg": -7, "i32max": 2**31 - 1, "i32min": -2**31,
                "big": 2**40, "nbig": -2**40}
        d.publish({"name": "typed_ints", "headers": ints, "data": {}})
        m = q.get()
        assert m is not None, "nothing received"
        got = {k: v for k, v in m.headers.items() if k in ints}
        assert got == {"small": ["I", 5], "neg": ["I", -7], "i32max": ["I", 2**31 - 1],
                       "i32min": ["L", -2**31], "big": ["L", 2**40], "nbig": ["L", -2**40]}
        assert m.headers["origin_uuid"] == ["S", d.uuid]
    finally:
        q.close()


def test_publish_refusals_from_the_broker(cli_path, exchange):
    # The exchange exists with another type: the broker refuses the
    # declaration (406); nothing is reported as published.
    with kombu.Connection(KOMBU_URL) as c:
        kombu.Exchange(exchange, "topic", durable=True)(c.default_channel).declare()
    p = publish(cli_path, exchange, "--name", "x", "--data", "{}", check=False)
    assert p.returncode == 1
    assert "406" in p.stderr, p.stderr
    p = subprocess.run([cli_path, "publish", "--bus", "amqp://guest:guest@127.0.0.1:1/",
                        "--name", "x", "--data", "{}"], capture_output=True, text=True,
                       timeout=th.scaled(20))
    assert p.returncode == 1 and "cannot connect" in p.stderr, p.stderr
    p = subprocess.run([cli_path, "publish", "--bus", "amqp://nobody:wrong@%s:%d/" % (HOST, PORT),
                        "--name", "x", "--data", "{}"], capture_output=True, text=True,
                       timeout=th.scaled(20))
    assert p.returncode == 1 and "login" in p.stderr, p.stderr


# -- the consumer ---------------------------------------------------------------

def test_consume_prints_typed_headers_and_body(cli_path, exchange, consumers):
    c = consume(consumers, cli_path, "--bus", BUS, "--exchange", exchange, "--name", "typed_evt",
                "--count", "1")
    extra = {"n": None, "i": 7, "big": -2 ** 40, "f": 2.5, "o": {"k": [1, "a"]}, "b": False}
    h = wazo_headers("typed_evt", tenant="t1", users=["u1"], extra=extra)
    kombu_publish(exchange, h, dict(h, data={"marker": "m1"}), "some.key")
    assert c.wait_exit() == 0
    (line,) = c.lines
    assert line["routing_key"] == "some.key"
    assert line["headers"] == h       # void -> null, 'L' signed, tables, arrays, booleans
    assert line["headers"]["user_uuid:u1"] is True
    assert line["body"] == dict(h, data={"marker": "m1"})


def test_consume_tenant_filter_match_all(cli_path, exchange, consumers):
    t1, t2 = th.new_uuid(), th.new_uuid()
    c = consume(consumers, cli_path, "--bus", BUS, "--exchange", exchange, "--name", "call_created",
                "--header", "tenant_uuid=" + t1, "--count", "2", "--timeout", "10")
    wazo_publish(exchange, "call_created", {"marker": "other"}, tenant=t2, all_users=True)
    wazo_publish(exchange, "call_ended", {"marker": "other-name"}, tenant=t1, all_users=True)
    wazo_publish(exchange, "call_created", {"marker": "a"}, tenant=t1, all_users=True)
    wazo_publish(exchange, "call_created", {"marker": "b"}, tenant=t1, users=["u1"])
    assert c.wait_exit() == 0
    assert c.markers() == ["a", "b"]


def test_consume_user_booleans_match_any(cli_path, exchange, consumers):
    u1, u2, u3 = "u-" + th.mark(), "u-" + th.mark(), "u-" + th.mark()
    c = consume(consumers, cli_path, "--bus", BUS, "--exchange", exchange,
                "--header", "user_uuid:%s=true" % u1, "--header", "user_uuid:%s=true" % u2,
                "--match", "any", "--count", "3", "--timeout", "10")
    wazo_publish(exchange, "e", {"marker": "u3"}, tenant="t", users=[u3])
    # A string "true" is not the boolean a Wazo binding matches.
    h = wazo_headers("e", tenant="t")
    h["user_uuid:" + u1] = "true"
    kombu_publish(exchange, h, dict(h, data={"marker": "string-true"}), "e")
    wazo_publish(exchange, "e", {"marker": "u1"}, tenant="t", users=[u1])
    wazo_publish(exchange, "e", {"marker": "u2"}, tenant="t", users=[u2])
    wazo_publish(exchange, "e", {"marker": "both"}, tenant="t", users=[u1, u2, u3])
    assert c.wait_exit() == 0
    assert c.markers() == ["u1", "u2", "both"]


def test_consume_several_names_one_line_per_message(cli_path, exchange, consumers):
    c = consume(consumers, cli_path, "--bus", BUS, "--exchange", exchange, "--name", "a",
                "--name", "b", "--header", "tenant_uuid=t1", "--match", "any",
                "--timeout", "2")
    # x-match any: name a OR tenant t1 -> all three, each printed once
    wazo_publish(exchange, "a", {"marker": "1"}, tenant="t2")
    wazo_publish(exchange, "c", {"marker": "2"}, tenant="t1")
    wazo_publish(exchange, "b", {"marker": "3"}, tenant="t1")
    wazo_publish(exchange, "c", {"marker": "no"}, tenant="t2")
    assert c.wait_exit() == 0          # --timeout exits 0
    assert c.markers() == ["1", "2", "3"]


def test_bindings_are_wazo_bus_bindings(cli_path, exchange, consumers):
    consume(consumers, cli_path, "--bus", BUS, "--exchange", exchange, "--name", "n1",
            "--name", "n2", "--header", "tenant_uuid=t1", "--header", "user_uuid:u1=true",
            "--timeout", "30")
    rows = json.loads(ctl("list_bindings", "source_name", "destination_name", "arguments",
                          "--formatter", "json") or "[]")
    args = sorted((sorted((k, t, v) for k, t, v in r["arguments"]))
                  for r in rows if r["source_name"] == exchange)
    assert args == [
        [("name", "longstr", n), ("tenant_uuid", "longstr", "t1"), ("user_uuid:u1", "bool", True),
         ("x-match", "longstr", "all")] for n in ("n1", "n2")]
    ex = [e for e in json.loads(ctl("list_exchanges", "name", "type", "durable", "auto_delete",
                                    "internal", "arguments", "--formatter", "json"))
          if e["name"] == exchange]
    assert ex == [{"name": exchange, "type": "headers", "durable": True, "auto_delete": False,
                   "internal": False, "arguments": []}]


def test_bad_messages_are_skipped(cli_path, exchange, consumers):
    c = consume(consumers, cli_path, "--bus", BUS, "--exchange", exchange, "--count", "1",
                "--timeout", "10")
    with kombu.Connection(KOMBU_URL) as conn:
        p = kombu.Producer(conn, exchange=kombu.Exchange(exchange, "headers", durable=True))
        p.publish(b"not json", headers={"name": "x"}, content_type="application/json",
                  content_encoding="utf-8")
        p.publish(b"[1]", headers={"name": "x"}, content_type="application/json",
                  content_encoding="utf-8")
        p.publish({"no": "name"}, headers={})
        p.publish({"name": "good", "data": {"marker": "ok"}}, headers={})
    assert c.wait_exit() == 0
    assert c.markers() == ["ok"]


def test_named_durable_queue_keeps_events_across_restarts(cli_path, exchange, consumers):
    qname = "tb-client-durable-" + uuid.uuid4().hex[:8]
    try:
        c = consume(consumers, cli_path, "--bus", BUS, "--exchange", exchange, "--queue", qname,
                    "--name", "kept", "--count", "1")
        wazo_publish(exchange, "kept", {"marker": "1"})
        assert c.wait_exit() == 0 and c.markers() == ["1"]
        # Consumer gone: the queue stays bound and keeps what is published.
        wazo_publish(exchange, "kept", {"marker": "2"})
        wazo_publish(exchange, "kept", {"marker": "3"})
        c = consume(consumers, cli_path, "--bus", BUS, "--exchange", exchange, "--queue", qname,
                    "--name", "kept", "--count", "2")
        assert c.wait_exit() == 0 and c.markers() == ["2", "3"]
        q = [r for r in json.loads(ctl("list_queues", "name", "durable", "auto_delete",
                                       "exclusive", "--formatter", "json")) if r["name"] == qname]
        assert q == [{"name": qname, "durable": True, "auto_delete": False, "exclusive": False}]
    finally:
        with contextlib.suppress(Exception), kombu.Connection(KOMBU_URL) as conn:
            kombu.Queue(qname)(conn.default_channel).delete()


def _consumer_connections(pid):
    """Broker-side pids of the consumer connection of CLI process `pid` (the
    client names its connections "tenbus-client pid=N consumer"). The
    tab-separated form, as close_connection wants the pid as printed there."""
    want = "tenbus-client pid=%d consumer" % pid
    return [line.split("\t", 1)[0] for line in ctl("list_connections", "pid",
                                                   "client_properties").splitlines()
            if want in line]


def test_consumer_reconnects_and_rebinds(cli_path, exchange, consumers):
    c = consume(consumers, cli_path, "--bus", BUS, "--exchange", exchange, "--name", "rb",
                "--count", "2", "--timeout", "30")
    wazo_publish(exchange, "rb", {"marker": "before"})
    c.wait_lines(1)
    th.wait_for(lambda: _consumer_connections(c.proc.pid), timeout=10,
                message="consumer connection listed")
    (pid,) = _consumer_connections(c.proc.pid)
    ctl("close_connection", pid, "test: forced close")
    th.wait_for(lambda: any("reconnected" in e for e in c.err), timeout=th.scaled(15),
                message="reconnected (stderr: %s)" % c.err)
    wazo_publish(exchange, "rb", {"marker": "after"})
    assert c.wait_exit() == 0
    assert c.markers() == ["before", "after"]


# -- the example service ---------------------------------------------------------

class Example:
    """examples/confd_service.c running; started once it printed ready."""

    def __init__(self, *args):
        if not os.access(EXAMPLE, os.X_OK):
            pytest.skip("example not built: %s (set TENBUS_EXAMPLE)" % EXAMPLE)
        self.proc = subprocess.Popen([EXAMPLE] + list(args), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()
        assert line == "ready\n", line + self.proc.stderr.read()

    def wait(self):
        out, err = self.proc.communicate(timeout=th.scaled(15))
        assert self.proc.returncode == 0, err
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def _user_created(user, tenant):
    return {"id": 42, "uuid": user, "tenant_uuid": tenant, "subscription_type": 0,
            "created_at": None}


def test_example_service_on_rabbitmq(make_daemon, exchange, cli_path):
    qname = "example-confd-" + uuid.uuid4().hex[:8]
    d = make_daemon(bus={"host": HOST, "port": PORT, "username": "guest", "password": "guest",
                         "vhost": "/", "exchange_name": exchange, "exchange_type": "headers"})
    d.start()
    alice = d.user()
    other = d.admin()          # a tenant admin of another tenant sees all of its tenant
    ws_alice = d.session(alice, names=["do_something"])
    ws_other = d.session(other, names=["do_something"])
    ex = Example("--bus", BUS, "--exchange", exchange, "--queue", qname, "--origin-uuid", d.uuid,
                 "--count", "1")
    try:
        # user_created as wazo-confd publishes it: service level here.
        publish(cli_path, exchange, "--name", "user_created", "--service", "confd",
                "--routing-key-fmt", "config.user.created", "--origin-uuid", d.uuid,
                "--data", json.dumps(_user_created(alice.user, alice.tenant)))
        out = ex.wait()
        assert out == "do_something config.%s %s\n" % (alice.user, alice.user)
        ev = ws_alice.recv_event()
        assert ev["name"] == "do_something" and ev["tenant_uuid"] == alice.tenant
        assert ev["user_uuid:" + alice.user] is True
        assert ev["required_acl"] == "events.config." + alice.user
        assert ev["data"] == {"user_uuid": alice.user, "action": "welcome"}
        with pytest.raises(Exception):
            ws_other.recv_event(timeout=th.NO_EVENT_WAIT * 3)
        q = [r for r in json.loads(ctl("list_queues", "name", "durable", "--formatter", "json"))
             if r["name"] == qname]
        assert q == [{"name": qname, "durable": True}]
    finally:
        ex.stop()
        with contextlib.suppress(Exception), kombu.Connection(KOMBU_URL) as conn:
            kombu.Queue(qname)(conn.default_channel).delete()


def test_example_service_on_embedded_tenbusd(daemon):
    svc = daemon.master(acl=["websocketd", "events.#", "tenbus.publish.#"])
    alice = daemon.user()
    other = daemon.admin()
    daemon.start()
    ws_alice = daemon.session(alice, names=["do_something"])
    ws_other = daemon.session(other, names=["do_something"])
    ex = Example("--bus", "ws://127.0.0.1:%d" % daemon.port, "--token", svc.id, "--count", "1")
    try:
        daemon.publish({"name": "user_created", "routing_key": "config.user.created",
                        "data": _user_created(alice.user, alice.tenant)})
        out = ex.wait()
        assert out == "do_something config.%s %s\n" % (alice.user, alice.user)
        ev = ws_alice.recv_event()
        assert ev["name"] == "do_something" and ev["origin_uuid"] == daemon.uuid
        assert ev["user_uuid:" + alice.user] is True
        assert ev["required_acl"] == "events.config." + alice.user
        assert ev["data"] == {"user_uuid": alice.user, "action": "welcome"}
        with pytest.raises(Exception):
            ws_other.recv_event(timeout=th.NO_EVENT_WAIT * 3)
    finally:
        ex.stop()


def test_consume_from_embedded_tenbusd(daemon, cli_path, consumers):
    """`tenbus consume --url ws:// --token`: same output shape (routing_key
    null: the WebSocket protocol does not carry it)."""
    svc = daemon.master(acl=["websocketd", "events.#"])
    t1 = th.new_uuid()
    daemon.start()
    c = consume(consumers, cli_path, "--url", "ws://127.0.0.1:%d" % daemon.port, "--token", svc.id,
                "--name", "call_created", "--header", "tenant_uuid=" + t1, "--count", "2",
                "--timeout", "10")
    daemon.publish([{"name": "call_created", "tenant_uuid": th.new_uuid(), "data": {"marker": "x"}},
                    {"name": "call_created", "tenant_uuid": t1, "data": {"marker": "a"}},
                    {"name": "other", "tenant_uuid": t1, "data": {"marker": "y"}},
                    {"name": "call_created", "tenant_uuid": t1, "user_uuid": "u1",
                     "data": {"marker": "b"}}])
    assert c.wait_exit() == 0
    assert c.markers() == ["a", "b"]
    line = c.lines[1]
    assert line["routing_key"] is None
    assert line["headers"]["user_uuid:u1"] is True and "data" not in line["headers"]
    assert line["body"] == dict(line["headers"], data={"marker": "b"})
