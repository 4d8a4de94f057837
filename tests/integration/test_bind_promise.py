"""A subscribe/start reply is a promise on RabbitMQ (DESIGN.md §3, §5).

* The reply to `subscribe` (v2; v1 before start) and to `start` comes only
  once the node's binding for every subscribed name is confirmed by the
  broker: an event published right after the reply is delivered. 500 rounds
  of new session -> subscribe to a name nobody on the node had -> reply ->
  start -> reply -> publish at once (pika, publisher confirms) -> the event
  arrives; for v1 and v2, 1 and 2 workers, and two nodes of one stack.
* Sessions that arrive while tenbusd's first broker connection is in
  progress wait for it instead of getting 1011.

Real broker, as test_rabbitmq.py (same skip/fail rules).
"""

import os
import threading
import time

import pytest

import tenbus_harness as th
import test_rabbitmq as rq
from test_rabbitmq import broker  # noqa: F401  (autouse: skip/fail without a broker)

pika = pytest.importorskip("pika")

ROUNDS = int(os.environ.get("TENBUS_BIND_ROUNDS", "500"))
EVENT_WAIT = 3.0           # seconds: a lost event shows up as this long a wait


exchange = rq.exchange
pub = rq.pub


def _nodes(make_daemon, exchange, n, workers):
    nodes = [make_daemon(bus=rq.bus_conf(exchange), workers=workers) for _ in range(n)]
    for d in nodes[1:]:
        d.uuid, d.master_tenant = nodes[0].uuid, nodes[0].master_tenant   # one stack
    tenant = th.new_uuid()
    tok = nodes[0].user(tenant)
    for d in nodes[1:]:
        d.tokens.append(tok)
    for d in nodes:
        d.start()
        th.wait_for(lambda: rq.bus_connected(d), timeout=15, interval=0.05,
                    message="bus connected")
    return nodes, tok


def _rounds(nodes, tok, pub, version, tag, rounds=ROUNDS):
    """Runs `rounds` rounds; returns the rounds whose event never arrived."""
    lost = []
    for i in range(rounds):
        d = nodes[i % len(nodes)]
        name = "fresh_%s_%d" % (tag, i)
        ws = th.WS.connect(d.ws_url(tok, version), version=version)
        try:
            ws.expect_init()
            ws.subscribe(name)
            ws.start()
            m = pub.event(d, name, tenant=tok.tenant, users=[tok.user])
            try:
                got = ws.recv_marker(EVENT_WAIT)
            except AssertionError:
                got = None
            if got != m:
                lost.append((i, name, got))
        finally:
            ws.close()
    return lost


@pytest.mark.parametrize("version,workers", [(1, 1), (2, 1), (1, 2), (2, 2)])
def test_event_right_after_reply_is_delivered(make_daemon, exchange, pub, version, workers):
    nodes, tok = _nodes(make_daemon, exchange, 1, workers)
    lost = _rounds(nodes, tok, pub, version, "v%dw%d" % (version, workers))
    assert lost == [], "%d of %d events lost, first: %r" % (len(lost), ROUNDS, lost[:3])


def test_event_right_after_reply_two_nodes(make_daemon, exchange, pub):
    nodes, tok = _nodes(make_daemon, exchange, 2, 2)
    half = ROUNDS // 2
    lost = []
    for version in (1, 2):
        lost += _rounds(nodes, tok, pub, version, "2n_v%d" % version, half)
    assert lost == [], "%d of %d events lost, first: %r" % (len(lost), 2 * half, lost[:3])


def test_concurrent_first_subscribers_share_one_bind(make_daemon, exchange, pub):
    """Sessions on both workers subscribe to one new name at once: each gets
    its reply only with the binding in place, and one binding exists."""
    nodes, tok = _nodes(make_daemon, exchange, 1, 2)
    d = nodes[0]
    wss = []
    for _ in range(8):
        ws = d.connect(tok)
        ws.expect_init()
        wss.append(ws)
    for ws in wss:
        ws.send_op("subscribe", {"event_name": "shared_new"})
    for ws in wss:
        ws.expect_reply("subscribe")
    for ws in wss:
        ws.start()
    m = pub.event(d, "shared_new", tenant=tok.tenant, users=[tok.user])
    assert [ws.recv_marker() for ws in wss] == [m] * len(wss)
    assert rq.bound_names(exchange, d) == {"shared_new"}


def test_commands_stay_in_order_while_binding(make_daemon, exchange, pub):
    """Commands sent back to back (no waiting for replies) are answered in
    order, each subscribe after its binding, and the start reply comes
    before any event."""
    nodes, tok = _nodes(make_daemon, exchange, 1, 2)
    d = nodes[0]
    ws = d.connect(tok)
    ws.expect_init()
    names = ["burst_%d" % i for i in range(20)]
    for n in names:
        ws.send_op("subscribe", {"event_name": n})
    ws.send_op("ping", {"payload": "p"})
    ws.send_op("start")
    for _ in names:
        ws.expect_reply("subscribe")
    ws.expect_reply("pong", {"payload": "p"})
    ws.expect_reply("start")
    marks = [pub.event(d, n, tenant=tok.tenant, users=[tok.user]) for n in names]
    assert [ws.recv_marker() for _ in names] == marks


def test_sessions_during_startup_never_get_1011(make_daemon, exchange):
    """Sessions opened in a loop from the moment tenbusd accepts (its first
    broker connection still in progress) all get init, never 1011."""
    d = make_daemon(bus=rq.bus_conf(exchange), workers=2)
    tok = d.user()
    results = []
    stop = threading.Event()

    def opener():
        while not stop.is_set():
            try:
                ws = th.WS.connect(d.ws_url(tok, 2), version=2, timeout=10)
            except OSError:
                time.sleep(0.001)       # not listening yet
                continue
            try:
                results.append(("init", ws.recv_json(10)))
            except th.Closed as c:
                results.append(("closed", c.code, c.reason))
            except AssertionError as e:
                results.append(("error", str(e)))
            finally:
                ws.close()

    threads = [threading.Thread(target=opener) for _ in range(3)]
    for t in threads:
        t.start()                   # already knocking when the port opens
    d.start()
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(30)
    assert results, "no session opened"
    bad = [r for r in results if r[0] != "init"]
    assert bad == [], "%d of %d sessions refused: %r" % (len(bad), len(results), bad[:3])
    assert all(r[1] == {"op": "init", "code": 0, "data": {"version": 2}} for r in results)
    print("%d sessions, %d waited for the first broker connection" % (
        len(results), d.log_text().count("waiting for the bus connection attempt")))


def test_broker_refusing_still_1011_promptly(make_daemon, exchange):
    """Nothing listens on the bus port: the attempt fails at once, and a new
    session is refused with 1011 in well under the wait bound."""
    d = make_daemon(bus=rq.bus_conf(exchange, port=th.free_port()))
    tok = d.user()
    d.start()
    th.wait_for(lambda: "rabbitmq reconnect in" in d.log_text(), timeout=10,
                message="first attempt failed")
    t0 = time.monotonic()
    ws = d.connect(tok)
    ws.expect_close(1011, "bus connection error")
    assert time.monotonic() - t0 < 2.0
