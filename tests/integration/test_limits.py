"""Limits (docs/limits.md): each one configured small, hit, and answered with
its documented close code or HTTP status."""

import json
import socket
import struct
import threading
import time

import pytest

from tenbus_harness import RawWS, ev_user, mark, scaled, wait_for


def raw_session(d, tok, sock=None):
    """An authenticated v2 session over a raw socket (nothing subscribed)."""
    d.ensure_started()
    if sock is None:
        raw = RawWS(d.port, "/?token=%s&version=2" % tok.id)
    else:
        raw = RawWS.__new__(RawWS)
        raw.sock, raw.buf, raw.path = sock, b"", "/?token=%s&version=2" % tok.id
    raw.handshake()
    assert raw.recv_json() == {"op": "init", "code": 0, "data": {"version": 2}}
    return raw


def recv_close(raw):
    """Reads (skipping data and pings) up to the server's close frame."""
    while True:
        op, payload = raw.recv_frame()
        if op == 8:
            code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
            return code, payload[2:].decode()


def http_raw(port, data, timeout=5.0):
    """Sends raw bytes, returns everything the server sends until it closes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=scaled(timeout))
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()


def status_of(resp):
    line = resp.split(b"\r\n", 1)[0]
    assert line.startswith(b"HTTP/1.1 "), "not an HTTP response: %r" % resp[:80]
    return int(line.split()[1])


def metric(d, name):
    text = wait_for(lambda: (lambda r: r[0] == 200 and r[1])(d.get("/metrics")),
                    message="GET /metrics")
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("metric %s not found" % name)


# --------------------------------------------------------------------------
# WebSocket frames

FRAME_LIMITS = {"max_frame_size": 1024, "max_message_size": 2048}


def test_frame_over_max_frame_size_closes_1009(make_daemon):
    d = make_daemon(limits=FRAME_LIMITS)
    raw = raw_session(d, d.user())
    try:
        # Refused from the header alone: the payload is never buffered.
        raw.send(RawWS.frame(b"x" * 1025)[:20])
        assert recv_close(raw) == (1009, "")
    finally:
        raw.close()


def test_frame_at_max_frame_size_is_read(make_daemon):
    d = make_daemon(limits=FRAME_LIMITS)
    raw = raw_session(d, d.user())
    try:
        head = '{"op":"ping","data":{"payload":"'
        pad = "p" * (1024 - len(head) - 3)
        raw.send(RawWS.frame(head + pad + '"}}'))
        assert raw.recv_json() == {"op": "pong", "code": 0, "data": {"payload": pad}}
    finally:
        raw.close()


def test_message_over_max_message_size_closes_1009(make_daemon):
    d = make_daemon(limits=FRAME_LIMITS)
    raw = raw_session(d, d.user())
    try:
        # Three fragments, each under max_frame_size, 2100 bytes together.
        raw.send(RawWS.frame("a" * 1000, fin=False) + RawWS.frame("b" * 1000, opcode=0, fin=False)
                 + RawWS.frame("c" * 100, opcode=0))
        assert recv_close(raw) == (1009, "")
    finally:
        raw.close()


def test_message_at_max_message_size_is_read(make_daemon):
    d = make_daemon(limits=FRAME_LIMITS)
    raw = raw_session(d, d.user())
    try:
        head = '{"op":"ping","data":{"payload":"'
        pad = "p" * (2048 - len(head) - 3)
        text = head + pad + '"}}'
        raw.send(RawWS.frame(text[:1000], fin=False) + RawWS.frame(text[1000:2000], opcode=0, fin=False)
                 + RawWS.frame(text[2000:], opcode=0))
        assert raw.recv_json() == {"op": "pong", "code": 0, "data": {"payload": pad}}
    finally:
        raw.close()


@pytest.mark.parametrize("frame, code", [
    (RawWS.frame(b'{"op":"start"}\xff'), 1007),                     # invalid UTF-8
    (RawWS.frame(b'{"op":"st\xed\xa0\x80"}'), 1007),                # UTF-16 surrogate
    (RawWS.frame('{"op":"start"}', mask=False), 1002),              # unmasked client frame
    (bytes([0x80 | 0x40 | 1]) + RawWS.frame('{"op":"start"}')[1:], 1002),  # RSV1
    (bytes([0x80 | 0x10 | 1]) + RawWS.frame('{"op":"start"}')[1:], 1002),  # RSV3
    (RawWS.frame(b"", opcode=3), 1002),                             # reserved opcode
    (RawWS.frame(b"x", opcode=9, fin=False), 1002),                 # fragmented ping
], ids=["utf8", "surrogate", "unmasked", "rsv1", "rsv3", "opcode", "fragmented-ping"])
def test_bad_frames_close_with_their_code(make_daemon, frame, code):
    d = make_daemon()
    raw = raw_session(d, d.user())
    try:
        raw.send(frame)
        assert recv_close(raw) == (code, "")
    finally:
        raw.close()


# --------------------------------------------------------------------------
# HTTP phase

def upgrade_head(pad=0, path="/"):
    return ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            "X-Pad: %s\r\n\r\n" % (path, "a" * pad)).encode()


def test_head_over_max_header_size_is_431_in_one_read(make_daemon):
    d = make_daemon(limits={"max_header_size": 1024}).start()
    resp = http_raw(d.port, upgrade_head(pad=3000))
    assert status_of(resp) == 431
    assert b"101" not in resp.split(b"\r\n", 1)[0]


def test_head_over_max_header_size_is_431_across_reads(make_daemon):
    d = make_daemon(limits={"max_header_size": 1024}).start()
    head = upgrade_head(pad=3000)
    s = socket.create_connection(("127.0.0.1", d.port), timeout=scaled(5))
    try:
        s.sendall(head[:600])
        time.sleep(0.1)
        try:
            s.sendall(head[600:])
        except OSError:
            pass
        resp = s.recv(4096)
    finally:
        s.close()
    assert status_of(resp) == 431


def test_head_under_max_header_size_upgrades(make_daemon):
    d = make_daemon(limits={"max_header_size": 1024}).start()
    head = upgrade_head(pad=700)
    assert len(head) < 1024
    s = socket.create_connection(("127.0.0.1", d.port), timeout=scaled(5))
    try:
        s.sendall(head)
        assert s.recv(4096).startswith(b"HTTP/1.1 101 ")
    finally:
        s.close()


def test_body_over_max_body_size_is_413(make_daemon):
    d = make_daemon(limits={"max_body_size": 1024})
    big = [ev_user(d.master_tenant, "u", marker="x" * 100) for _ in range(20)]
    status, body = d.request("POST", "/api/events", body=big, token=d.publisher.id)
    assert status == 413, (status, body)
    # Chunked: no Content-Length to refuse up front, refused while reading.
    chunk = b"[" + b" " * 2000 + b"]"
    resp = http_raw(d.port, b"POST /api/events HTTP/1.1\r\nHost: x\r\nX-Auth-Token: "
                    + d.publisher.id.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + b"%x\r\n" % len(chunk) + chunk + b"\r\n0\r\n\r\n")
    assert status_of(resp) == 413
    # A body within the limit still goes through.
    d.publish(ev_user(d.master_tenant, "u"))


@pytest.mark.parametrize("sent", [b"", b"GET /?token=x HTTP/1.1\r\nHost: 127.0.0.1\r\nUpg"],
                         ids=["nothing", "partial-head"])
def test_slowloris_closed_after_handshake_timeout(make_daemon, sent):
    d = make_daemon(limits={"handshake_timeout": 1}).start()
    s = socket.create_connection(("127.0.0.1", d.port), timeout=scaled(5))
    t0 = time.monotonic()
    try:
        if sent:
            s.sendall(sent)
        try:
            got = s.recv(4096)
        except ConnectionResetError:
            got = b""
    finally:
        s.close()
    elapsed = time.monotonic() - t0
    assert got == b"", "expected a silent close, got %r" % got[:80]
    assert 0.8 <= elapsed <= scaled(3), "closed after %.2fs" % elapsed
    wait_for(lambda: metric(d, "tenbus_handshake_timeouts_total") >= 1)


def test_handshake_timeout_spares_sessions(make_daemon):
    d = make_daemon(limits={"handshake_timeout": 1})
    ws = d.session(d.user())
    ws.assert_no_event(timeout=1.8)
    ws.ping("still-here")


def http_status_keepalive(port):
    """Opens a connection, GET /status on it, returns (socket, status)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=scaled(5))
    s.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
    resp = b""
    while b"\r\n\r\n" not in resp:
        chunk = s.recv(65536)
        if not chunk:
            break
        resp += chunk
    return s, status_of(resp)


def test_max_connections_503_then_slot_frees(make_daemon):
    d = make_daemon(limits={"max_connections": 3}).start()
    held = []
    try:
        # Until the harness's readiness probe is gone, a slot may be taken.
        def three_open():
            for s in held:
                s.close()
            held.clear()
            for _ in range(3):
                s, st = http_status_keepalive(d.port)
                held.append(s)
                if st != 200:
                    return False
            return True
        wait_for(three_open, message="three connections accepted")
        s4, st = http_status_keepalive(d.port)
        s4.close()
        assert st == 503
        held.pop().close()

        def fourth_ok():
            s, st = http_status_keepalive(d.port)
            if st == 200:
                held.append(s)
                return True
            s.close()
            return False
        wait_for(fourth_ok, message="a slot to free after a client left")
    finally:
        for s in held:
            s.close()
    assert metric(d, "tenbus_connections_refused_total") >= 1


# --------------------------------------------------------------------------
# Sessions

def test_max_subscriptions_closes_1008(make_daemon):
    d = make_daemon(limits={"max_subscriptions": 3})
    ws = d.connect(d.user())
    ws.expect_init()
    for name in ("a", "b", "c", "a", "*"):    # repeats and "*" take no slot
        ws.subscribe(name)
    ws.send_op("subscribe", {"event_name": "d"})
    ws.expect_close(1008, "too many subscriptions")


class Reader(threading.Thread):
    """A fast consumer on a raw socket: collects the marker of every event."""

    def __init__(self, raw):
        super().__init__(daemon=True)
        self.raw = raw
        self.markers = []
        self.error = None

    def run(self):
        try:
            while True:
                op, payload = self.raw.recv_frame()
                if op == 1:
                    msg = json.loads(payload)
                    if msg.get("op") == "event":
                        self.markers.append(msg["data"]["data"]["marker"])
                elif op == 8:
                    self.error = "closed: %r" % payload
                    return
        except Exception as e:     # socket closed by the test at the end
            self.error = repr(e)


def test_slow_consumer_closed_1008_others_unaffected(make_daemon):
    # A queue must hold a burst: one POST's events are queued before any write.
    d = make_daemon(limits={"max_queue_bytes": "1M", "max_body_size": "4M"}, workers=1)
    tenant = d.master_tenant
    fast_tok, slow_tok = d.master(), d.master()

    fast = raw_session(d, fast_tok)
    fast.sock.settimeout(scaled(20))
    for m in ({"op": "subscribe", "data": {"event_name": "*"}}, {"op": "start"}):
        fast.send(RawWS.frame(json.dumps(m)))
        fast.recv_json()
    reader = Reader(fast)
    reader.start()

    # The slow one has a tiny receive buffer and, once started, never reads.
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(scaled(5))
    s.connect(("127.0.0.1", d.port))
    slow = raw_session(d, slow_tok, sock=s)
    for m in ({"op": "subscribe", "data": {"event_name": "*"}}, {"op": "start"}):
        slow.send(RawWS.frame(json.dumps(m)))
        slow.recv_json()

    sent = []
    pad = "z" * 16000
    for _ in range(200):
        batch = [ev_user(tenant, fast_tok.user, name="bulk", marker=mark()) for _ in range(20)]
        for e in batch:
            e["data"]["pad"] = pad
        d.publish(batch)
        sent += [e["data"]["marker"] for e in batch]
        if metric(d, "tenbus_slow_consumer_closes_total") >= 1:
            break
    else:
        pytest.fail("the slow consumer was never closed")

    # The slow session's last frame is its close, behind what the kernel holds.
    slow.sock.settimeout(scaled(10))
    assert recv_close(slow) == (1008, "slow consumer")
    slow.close()

    last = mark()
    d.publish(ev_user(tenant, fast_tok.user, name="bulk", marker=last))
    sent.append(last)
    wait_for(lambda: reader.markers[-1:] == [last] or reader.error, timeout=20,
             message="the fast consumer to get every event")
    assert reader.error is None, reader.error
    assert reader.markers == sent
    fast.close()


def test_silent_session_closed_after_ping_timeout(make_daemon):
    d = make_daemon(ping_interval=1)
    raw = raw_session(d, d.user())
    live = d.session(d.user())          # the websockets client answers pings
    t0 = time.monotonic()
    try:
        pings = 0
        while True:
            op, payload = raw.recv_frame()
            if op == 9:
                pings += 1
            elif op == 8:
                break
        elapsed = time.monotonic() - t0
        assert struct.unpack("!H", payload[:2])[0] == 1011
        assert payload[2:] == b"ping timeout"
        assert pings >= 1
        assert 1.5 <= elapsed <= scaled(4), "closed after %.2fs" % elapsed
    finally:
        raw.close()
    live.ping("alive")
    live.assert_no_event(timeout=1.5)
    live.ping("still alive")


def test_ping_timeout_setting(make_daemon):
    d = make_daemon(limits={"ping_timeout": 1})    # pings every 60 s: none sent
    raw = raw_session(d, d.user())
    talker = raw_session(d, d.user())
    try:
        # A session that keeps sending (without ever answering a ping) lives.
        t0 = time.monotonic()
        while time.monotonic() - t0 < 1.8:
            talker.send(RawWS.frame(json.dumps({"op": "ping", "data": {"payload": "x"}})))
            assert talker.recv_json()["op"] == "pong"
            time.sleep(0.3)
        assert recv_close(raw) == (1011, "ping timeout")
    finally:
        raw.close()
        talker.close()
