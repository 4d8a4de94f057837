"""wazo-websocketd's client-visible limits (DESIGN.md §3): messages up to
1 MiB by default, a clean 1009 close above that (the client reads the close
frame: no reset), and HTTP/1.1 or later for the upgrade (RFC 6455 §4.2.1)."""

import socket

import tenbus_harness as th


def test_512k_ping_gets_its_pong(make_daemon):
    d = make_daemon()
    ws = d.session(d.user())
    payload = "x" * (512 * 1024)
    ws.ping(payload)
    ws.ping("after")                        # and the session goes on


def test_message_over_1mib_gets_a_clean_1009(make_daemon):
    d = make_daemon()
    ws = d.session(d.user())
    ws.send_op("ping", {"payload": "y" * (1536 * 1024)})
    # A reset would leave no close frame to read: closed.code would be None.
    ws.expect_close(1009)


def test_message_over_1mib_in_fragments_gets_a_clean_1009(make_daemon):
    d = make_daemon()
    ws = d.session(d.user())
    big = '{"op":"ping","data":{"payload":"%s"}}' % ("z" * (1100 * 1024))
    chunks = [big[i:i + 64 * 1024] for i in range(0, len(big), 64 * 1024)]
    th._LoopThread.run(ws.conn.send(iter(chunks)), th.scaled(10))
    ws.expect_close(1009)


def _raw_request(d, head):
    s = socket.create_connection(("127.0.0.1", d.port), timeout=th.scaled(5))
    try:
        s.sendall(head)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data
    finally:
        s.close()


UPGRADE = (b"GET /?token=%s&version=2 HTTP/%s\r\nHost: x\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           b"Sec-WebSocket-Version: 13\r\n\r\n")


def test_http10_upgrade_is_refused_with_400(make_daemon):
    d = make_daemon()
    tok = d.user()
    d.start()
    got = _raw_request(d, UPGRADE % (tok.id.encode(), b"1.0"))
    assert got.startswith(b"HTTP/1.1 400 "), got[:200]
    got = _raw_request(d, UPGRADE % (tok.id.encode(), b"1.1"))
    assert got.startswith(b"HTTP/1.1 101 "), got[:200]
