"""Direct TLS on the listener (websocket.certificate / websocket.private_key):
wss:// sessions and https:// publishing against a self-signed certificate
made here with the openssl tool; plain clients on the TLS port; large and
bursty deliveries; shutdown with TLS sessions open; start-up errors."""

import json
import os
import shutil
import socket
import ssl
import subprocess

import pytest

import tenbus_harness as th


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    """(certificate, private_key) for 127.0.0.1, self-signed."""
    if not shutil.which("openssl"):
        pytest.skip("the openssl command-line tool is not installed")
    d = tmp_path_factory.mktemp("tls")
    crt, key = str(d / "cert.pem"), str(d / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", crt],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return crt, key


@pytest.fixture
def tls_daemon(make_daemon, cert):
    return make_daemon(tls=cert)


def test_wss_session_receives_event_published_over_https(tls_daemon):
    d = tls_daemon
    tok = d.user()
    ws = d.session(tok)
    ev = th.ev_user(tok.tenant, tok.user)
    d.publish(ev)
    assert ws.recv_marker() == th.marker(ev)
    ws.ping("over-tls")
    status, _ = d.get("/status")
    assert status == 200
    assert "tls=on" in d.log_text()


def test_v1_session_over_tls(tls_daemon):
    d = tls_daemon
    tok = d.user()
    ws = d.session(tok, version=1)
    ev = th.ev_user(tok.tenant, tok.user)
    d.publish(ev)
    assert th.marker(ws.recv_event()) == th.marker(ev)


def test_plain_client_on_tls_port_fails_cleanly(tls_daemon):
    d = tls_daemon
    tok = d.user()
    d.start()
    # A plain HTTP upgrade request: the daemon answers with no HTTP and closes.
    s = socket.create_connection(("127.0.0.1", d.port), timeout=th.scaled(5))
    s.sendall(b"GET /?token=%s&version=2 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              b"Sec-WebSocket-Version: 13\r\n\r\n" % tok.id.encode())
    got = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    except ConnectionResetError:
        pass
    s.close()
    assert b"HTTP/1.1" not in got, got
    th.wait_for(lambda: "TLS handshake failed" in d.log_text(),
                message="handshake failure logged")
    # Garbage that is not even HTTP, then a client that connects and leaves.
    s = socket.create_connection(("127.0.0.1", d.port), timeout=th.scaled(5))
    s.sendall(os.urandom(64))
    s.close()
    # The daemon keeps serving TLS clients.
    ws = d.session(tok)
    ev = th.ev_user(tok.tenant, tok.user)
    d.publish(ev)
    assert ws.recv_marker() == th.marker(ev)


def test_large_event_arrives_intact(tls_daemon):
    d = tls_daemon
    tok = d.user()
    ws = d.session(tok)
    blob = os.urandom(100 * 1024).hex()        # 200 KB of text
    ev = th.ev_user(tok.tenant, tok.user)
    ev["data"]["blob"] = blob
    d.publish(ev)
    got = ws.recv_event()
    assert th.marker_of(got) == th.marker(ev)
    assert got["data"]["blob"] == blob


def test_burst_arrives_in_order(tls_daemon):
    d = tls_daemon
    a, b = d.user(), d.user()
    wa, wb = d.session(a), d.session(b)
    sent_a, sent_b = [], []
    for _ in range(10):
        batch = []
        for _ in range(100):
            ea = _padded(a, 300)
            eb = th.ev_user(b.tenant, b.user)
            batch += [ea, eb]
            sent_a.append(th.marker(ea))
            sent_b.append(th.marker(eb))
        d.publish(batch)
    assert [wa.recv_marker() for _ in sent_a] == sent_a
    assert [wb.recv_marker() for _ in sent_b] == sent_b


def test_backlog_behind_a_full_socket_arrives_in_order(make_daemon, cert):
    """A client that does not read while ~3 MB are published: the TLS
    writes back up into uv_write and ciphertext blocks, then drain in order."""
    d = make_daemon(tls=cert, limits={"max_queue_bytes": "64M", "max_body_size": "4M"},
                    workers=1)
    tok = d.user()
    ws = d.session(tok)
    sent = []
    for _ in range(10):
        batch = [_padded(tok, 20000) for _ in range(15)]
        d.publish(batch)
        sent += [th.marker(e) for e in batch]
    assert [ws.recv_marker(timeout=20) for _ in sent] == sent


def _padded(tok, size):
    ev = th.ev_user(tok.tenant, tok.user)
    ev["data"]["pad"] = "p" * size
    return ev


def _metric(d, name):
    status, text = d.get("/metrics")
    assert status == 200
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("metric %s not found" % name)


def test_slow_tls_consumer_closed_1008(make_daemon, cert):
    d = make_daemon(tls=cert, limits={"max_queue_bytes": "256k", "max_body_size": "4M"},
                    workers=1)
    tok = d.master()
    d.start()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(th.scaled(10))
    s.connect(("127.0.0.1", d.port))
    raw = th.RawWS.__new__(th.RawWS)
    raw.sock = d.client_ssl.wrap_socket(s, server_hostname="127.0.0.1")
    raw.buf, raw.path = b"", "/?token=%s&version=2" % tok.id
    try:
        raw.handshake()
        assert raw.recv_json()["op"] == "init"
        for m in ({"op": "subscribe", "data": {"event_name": "*"}}, {"op": "start"}):
            raw.send(raw.frame(json.dumps(m)))
            raw.recv_json()
        for _ in range(100):
            d.publish([_padded(tok, 16000) for _ in range(20)])
            if _metric(d, "tenbus_slow_consumer_closes_total") >= 1:
                break
        else:
            pytest.fail("the slow TLS consumer was never closed")
        while True:
            op, payload = raw.recv_frame()
            if op == 8:
                assert payload[:2] == b"\x03\xf0" and payload[2:] == b"slow consumer"
                break
    finally:
        raw.close()
    # Others are still served.
    other = d.user()
    ws = d.session(other)
    ev = th.ev_user(other.tenant, other.user)
    d.publish(ev)
    assert ws.recv_marker() == th.marker(ev)


def test_fragmented_records_and_pipelined_frames(tls_daemon):
    """The upgrade request one byte per TLS record, then several WebSocket
    frames in one record: plaintext split and joined across records."""
    d = tls_daemon
    tok = d.user()
    d.start()
    raw = th.RawWS(d.port, path="/?token=%s&version=2" % tok.id, ssl_context=d.client_ssl)
    try:
        key = "dGhlIHNhbXBsZSBub25jZQ=="
        req = ("GET /?token=%s&version=2 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n" % (tok.id, key)).encode()
        for i in range(len(req)):
            raw.send(req[i:i + 1])
        while b"\r\n\r\n" not in raw.buf:
            raw.buf += raw.sock.recv(4096)
        head, raw.buf = raw.buf.split(b"\r\n\r\n", 1)
        assert b" 101 " in head.split(b"\r\n", 1)[0] + b" ", head
        assert raw.recv_json() == {"op": "init", "code": 0, "data": {"version": 2}}
        ops = [{"op": "subscribe", "data": {"event_name": "*"}}, {"op": "start"},
               {"op": "ping", "data": {"payload": "p"}}]
        raw.send(b"".join(raw.frame(json.dumps(o)) for o in ops))
        assert raw.recv_json()["op"] == "subscribe"
        assert raw.recv_json()["op"] == "start"
        assert raw.recv_json() == {"op": "pong", "code": 0, "data": {"payload": "p"}}
        ev = th.ev_user(tok.tenant, tok.user)
        d.publish(ev)
        assert th.marker_of(raw.recv_json()["data"]) == th.marker(ev)
    finally:
        raw.close()


def test_sigterm_with_tls_sessions_closes_1001_and_exits_0(tls_daemon):
    d = tls_daemon
    toks = [d.user() for _ in range(3)]
    wss = [d.session(t) for t in toks]
    d.terminate()
    for ws in wss:
        ws.expect_close(1001)
    assert d.wait_exit() == 0


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_tls_handshake_rejects_old_protocol(tls_daemon):
    d = tls_daemon
    d.start()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(d.tls[0])
    try:
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        pytest.skip("the local OpenSSL cannot offer TLS 1.1")
    with socket.create_connection(("127.0.0.1", d.port), timeout=th.scaled(5)) as s:
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            ctx.wrap_socket(s, server_hostname="127.0.0.1").close()
    th.wait_for(lambda: "TLS handshake failed" in d.log_text(),
                message="handshake failure logged")


@pytest.mark.parametrize("which", ["certificate", "private_key"])
def test_missing_file_is_named_at_start(make_daemon, cert, tmp_path, which):
    missing = str(tmp_path / "nope.pem")
    tls = (missing, cert[1]) if which == "certificate" else (cert[0], missing)
    d = make_daemon(tls=tls)
    with pytest.raises(th.DaemonError):
        d.start()
    assert "websocket.%s" % which in d.log_text()
    assert missing in d.log_text()


def test_key_not_matching_certificate_is_refused(make_daemon, cert, tmp_path):
    other = str(tmp_path / "other.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-out", other],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    d = make_daemon(tls=(cert[0], other))
    with pytest.raises(th.DaemonError):
        d.start()
    assert "does not match" in d.log_text()


def test_only_one_of_certificate_and_key_leaves_tls_off(make_daemon, cert):
    """As wazo-websocketd: TLS needs both keys; one alone (which wazo files
    may carry) is a warning and the listener stays plain."""
    d = make_daemon()
    d.start(args=["--set", "websocket.certificate=%s" % cert[0]])
    assert "TLS is off" in d.log_text()
    tok = d.user()
    ws = d.session(tok)
    ev = th.ev_user(tok.tenant, tok.user)
    d.publish(ev)
    assert ws.recv_marker() == th.marker(ev)
