"""systemd readiness (sd_notify): tenbusd tells $NOTIFY_SOCKET READY=1 once
it listens and its bus is connected, RELOADING=1/READY=1 around SIGHUP,
STOPPING=1 on SIGTERM; with the bus down it says what it waits for and is
not ready."""

import os
import signal
import socket

import pytest

import tenbus_harness as th


@pytest.fixture
def notify_socket(tmp_path, monkeypatch):
    path = str(tmp_path / "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(th.scaled(5))
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    yield s
    s.close()


def messages_until(s, want):
    got = []
    while True:
        msg = s.recv(4096).decode()
        got.append(msg)
        if want in msg.split("\n"):
            return got


def test_ready_reload_stopping(make_daemon, notify_socket):
    d = make_daemon()
    d.start()
    got = messages_until(notify_socket, "READY=1")
    assert any("STATUS=listening on 127.0.0.1:%d" % d.port in m for m in got)
    d.signal(signal.SIGHUP)
    assert messages_until(notify_socket, "RELOADING=1")
    assert messages_until(notify_socket, "READY=1")
    d.terminate()
    assert messages_until(notify_socket, "STOPPING=1")
    assert d.wait_exit() == 0


def test_not_ready_while_the_bus_is_down(make_daemon, notify_socket):
    d = make_daemon(bus={"host": "127.0.0.1", "port": th.free_port()})
    d.start()
    first = notify_socket.recv(4096).decode()
    assert "waiting for the bus (rabbitmq)" in first and "READY=1" not in first
    notify_socket.settimeout(1.0)
    with pytest.raises(socket.timeout):
        notify_socket.recv(4096)
