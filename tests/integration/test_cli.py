"""The `tenbus` CLI against a real daemon (the "Done means" scenario)."""

import json
import subprocess
import time

import pytest

from tenbus_harness import Token, mark, new_uuid, scaled


def cli_publish(cli, d, *args, token=None, check=True):
    cmd = [cli, "publish", "--url", "http://127.0.0.1:%d" % d.port,
           "--token", (token or d.publisher).id] + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=scaled(10))
    if check:
        assert p.returncode == 0, "tenbus publish failed (%d): %s %s" % (
            p.returncode, p.stdout, p.stderr)
    return p


def cli_listen(cli, d, token, *names, version=2, count=1, timeout=10):
    cmd = [cli, "listen", "--url", "ws://127.0.0.1:%d" % d.port, "--token", token.id,
           "--version", str(version), "--count", str(count), "--timeout", str(timeout)]
    return subprocess.Popen(cmd + list(names), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def publish_until_exit(proc, publish_round, deadline=10.0):
    """The listener prints nothing until an event arrives, so keep
    publishing rounds until it exits (it subscribes at some point)."""
    end = time.monotonic() + scaled(deadline)
    while proc.poll() is None and time.monotonic() < end:
        publish_round()
        try:
            proc.wait(0.1)
        except subprocess.TimeoutExpired:
            pass
    if proc.poll() is None:
        proc.kill()
    out, err = proc.communicate(timeout=scaled(5))
    return proc.returncode, out, err


def test_listen_receives_own_user_event_not_other_tenants(daemon, cli_path):
    alice = daemon.user()
    other_tenant = new_uuid()
    daemon.start()
    listener = cli_listen(cli_path, daemon, alice, count=1)
    sent = []

    def round_():
        m_other, m_mine = mark(), mark()
        # foreign tenant first: if it leaked, it would be the first line
        cli_publish(cli_path, daemon, "--name", "chat_msg", "--tenant", other_tenant,
                    "--user", alice.user, "--data", json.dumps({"marker": m_other}))
        cli_publish(cli_path, daemon, "--name", "chat_msg", "--tenant", alice.tenant,
                    "--user", alice.user, "--data", json.dumps({"marker": m_mine}))
        sent.append(m_mine)

    rc, out, err = publish_until_exit(listener, round_)
    assert rc == 0, "listen exited %s: %s" % (rc, err)
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 1, out
    body = json.loads(lines[0])
    assert body["name"] == "chat_msg"
    assert body["tenant_uuid"] == alice.tenant
    assert body["user_uuid:" + alice.user] is True
    assert body["data"]["marker"] in sent


@pytest.mark.parametrize("version", [1, 2])
def test_listen_prints_event_body_per_line(daemon, cli_path, version):
    alice = daemon.user()
    daemon.start()
    listener = cli_listen(cli_path, daemon, alice, "wanted", version=version, count=2)

    def round_():
        cli_publish(cli_path, daemon, "--name", "unwanted", "--tenant", alice.tenant,
                    "--user", alice.user, "--data", json.dumps({"marker": mark()}))
        cli_publish(cli_path, daemon, "--name", "wanted", "--tenant", alice.tenant,
                    "--user", alice.user, "--data", json.dumps({"marker": mark()}))

    rc, out, err = publish_until_exit(listener, round_)
    assert rc == 0, "listen exited %s: %s" % (rc, err)
    lines = [json.loads(ln) for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 2, out
    for body in lines:
        assert body["name"] == "wanted"          # the event body itself, not a v2 wrapper
        assert "op" not in body


def test_listen_times_out_with_3_when_nothing_for_it(daemon, cli_path):
    alice = daemon.user()
    daemon.start()
    listener = cli_listen(cli_path, daemon, alice, count=1, timeout=1)
    t0 = time.monotonic()
    while listener.poll() is None and time.monotonic() - t0 < scaled(10):
        cli_publish(cli_path, daemon, "--name", "x", "--tenant", new_uuid(),
                    "--user", alice.user)
        try:
            listener.wait(0.1)
        except subprocess.TimeoutExpired:
            pass
    if listener.poll() is None:
        listener.kill()
    out, err = listener.communicate(timeout=5)
    assert listener.returncode == 3, (listener.returncode, out, err)
    assert out.strip() == ""


def test_publish_cli_levels_and_options(daemon, cli_path):
    t = new_uuid()
    a, b, c = daemon.user(t), daemon.user(t), daemon.user(t)
    m = daemon.master()
    wa, wb, wc, wm = (daemon.session(x) for x in (a, b, c, m))
    # multi-user: a and b only
    m1 = mark()
    cli_publish(cli_path, daemon, "--name", "multi", "--tenant", t, "--user", a.user,
                "--user", b.user, "--data", json.dumps({"marker": m1}))
    # tenant-wide
    m2 = mark()
    cli_publish(cli_path, daemon, "--name", "all", "--tenant", t, "--data",
                json.dumps({"marker": m2}))
    # service level: master only
    m3 = mark()
    cli_publish(cli_path, daemon, "--name", "svc", "--data", json.dumps({"marker": m3}))
    assert daemon.collect(wa, wb, wc, wm) == [[m1, m2], [m1, m2], [m2], [m1, m2, m3]]


def test_publish_cli_acl_options(daemon, cli_path):
    alice = daemon.user(acl=["websocketd", "events.granted.#"])
    ws = daemon.session(alice)
    ok, no, free = mark(), mark(), mark()
    common = ["--name", "evt", "--tenant", alice.tenant, "--user", alice.user]
    cli_publish(cli_path, daemon, *common, "--acl", "events.granted.x",
                "--data", json.dumps({"marker": ok}))
    cli_publish(cli_path, daemon, *common, "--acl", "events.denied.x",
                "--data", json.dumps({"marker": no}))
    cli_publish(cli_path, daemon, *common, "--no-acl", "--data", json.dumps({"marker": free}))
    assert daemon.collect(ws) == [[ok, free]]


def test_publish_cli_bad_token_fails(daemon, cli_path):
    alice = daemon.user()
    ws = daemon.session(alice)
    bogus = Token(tenant=alice.tenant)      # never written to the daemon's file
    p = cli_publish(cli_path, daemon, "--name", "x", "--tenant", alice.tenant,
                    "--user", alice.user, token=bogus, check=False)
    assert p.returncode != 0
    assert daemon.collect(ws) == [[]]
