"""Faults and load at the daemon's edges (issue: hostile input, faults and
isolation): connection churn must not leak descriptors or memory, and
reload / shutdown under load must lose nothing and close cleanly.

Figures (fd counts, RSS) are printed; run with -s to see them.
"""

import asyncio
import base64
import json
import os
import signal
import socket
import struct
import threading
import time

import tenbus_harness as th
from tenbus_harness import ev_tenant

CHURN = int(os.environ.get("TENBUS_CHURN_CONNECTIONS", "10000"))


def daemon_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def daemon_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def is_asan_build():
    with open(th.TENBUSD, "rb") as f:
        return b"__asan_init" in f.read()


async def open_and_drop(port, token):
    """A full session set-up (upgrade + init), then an abrupt reset."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(("GET /?token=%s&version=2 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
                  % (token, key)).encode())
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    frame = await reader.readexactly(2)
    payload = await reader.readexactly(frame[1] & 0x7F)
    assert json.loads(payload)["op"] == "init", payload
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def churn(port, token, n, concurrency=200):
    sem = asyncio.Semaphore(concurrency)

    async def one():
        async with sem:
            await open_and_drop(port, token)

    await asyncio.gather(*(one() for _ in range(n)))


def test_connection_churn_returns_fds_and_memory_to_baseline(make_daemon):
    d = make_daemon(workers=2)
    tok = d.user()
    d.start()
    pid = d.proc.pid
    # Warm-up: let the allocator and the loops reach their working size.
    asyncio.run(churn(d.port, tok.id, 1000))
    th.wait_for(lambda: d.get("/status")[1]["connections"] == 1, message="warm-up connections gone")
    fds0, rss0 = daemon_fds(pid), daemon_rss_kib(pid)
    t0 = time.monotonic()
    asyncio.run(churn(d.port, tok.id, CHURN))
    elapsed = time.monotonic() - t0
    th.wait_for(lambda: d.get("/status")[1]["connections"] == 1, timeout=10,
                message="churned connections gone")
    fds1, rss1 = daemon_fds(pid), daemon_rss_kib(pid)
    print("\nchurn: %d sessions opened+reset in %.1fs; fds %d -> %d; RSS %d -> %d KiB"
          % (CHURN, elapsed, fds0, fds1, rss0, rss1))
    assert fds1 == fds0, "descriptor leak: %d -> %d" % (fds0, fds1)
    if not is_asan_build():  # ASan's quarantine keeps freed memory resident
        assert rss1 - rss0 < 4096, "RSS grew by %d KiB over %d sessions" % (rss1 - rss0, CHURN)
    # and the daemon still serves
    ws = d.session(tok)
    e = ev_tenant(tok.tenant)
    d.publish(e)
    assert th.marker(ws.recv_event()) == th.marker(e)
    metrics = d.get("/metrics")[1]
    assert "tenbus_sessions 1" in metrics, metrics


def publisher(d, tenant, stop, counter, batch=20, pause=0.0):
    while not stop.is_set():
        d.publish([ev_tenant(tenant, name="load") for _ in range(batch)])
        counter[0] += batch
        if pause:
            time.sleep(pause)


def test_sighup_under_load_loses_nothing(make_daemon):
    d = make_daemon(workers=2)
    tenant = th.new_uuid()
    toks = [d.user(tenant) for _ in range(10)]
    d.start()
    sessions = [d.session(t, names=("load",)) for t in toks]
    stop, counter = threading.Event(), [0]
    # Paced: the sessions read only at the end, so everything published must
    # fit in their queues (a flat-out publisher fills 4 MiB within a second
    # and gets them closed as slow consumers, which is not what this tests).
    pub = threading.Thread(target=publisher, args=(d, tenant, stop, counter),
                           kwargs={"pause": 0.005})
    pub.start()
    try:
        for _ in range(8):  # each adds a token: rewrite, SIGHUP, wait until known
            late = d.user(tenant)
            time.sleep(0.05)
        ws = d.session(late, names=("load",))
    finally:
        stop.set()
        pub.join()
    total = counter[0]
    assert total > 0
    for s in sessions:
        got = 0
        while got < total:
            s.recv_event()
            got += 1
        s.assert_no_event()
    assert ws is not None


def test_sigterm_under_load_closes_every_session_1001(make_daemon):
    d = make_daemon(workers=2)
    tenant = th.new_uuid()
    toks = [d.user(tenant) for _ in range(50)]
    d.start()
    sessions = [d.session(t, names=("load",)) for t in toks]
    stop, counter = threading.Event(), [0]

    def pub():
        try:
            publisher(d, tenant, stop, counter)
        except Exception:  # the daemon goes away under it: expected
            pass

    p = threading.Thread(target=pub)
    p.start()
    th.wait_for(lambda: counter[0] >= 200, message="load flowing")
    d.signal(signal.SIGTERM)
    try:
        assert d.wait_exit() == 0, d.log_tail()
    finally:
        stop.set()
        p.join()
    for s in sessions:
        while True:
            try:
                s.recv_raw(timeout=5)
            except th.Closed as c:
                assert c.code == 1001, (c.code, c.reason)
                break
    assert "session end" in d.log_text() and "code=1001" in d.log_text()
