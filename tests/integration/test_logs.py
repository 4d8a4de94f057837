"""Structured logs: --log-format json / tenbus.log_format: json gives one
JSON object per line; a session's end is one line with its close code,
reason, tenant, user, duration and events delivered, and no token."""

import json

import tenbus_harness as th
from tenbus_harness import ev_user, wait_for


def json_lines(d):
    out = []
    for line in d.log_text().splitlines():
        if not line.strip():
            continue
        # Every line is an object (ASan/UBSan reports aside, which fail the test anyway).
        obj = json.loads(line)
        assert isinstance(obj, dict), line
        assert isinstance(obj["time"], str) and obj["time"].endswith("Z")
        assert obj["level"] in ("debug", "info", "warning", "error")
        assert isinstance(obj["msg"], str)
        out.append(obj)
    return out


def ends(d):
    return [o for o in json_lines(d) if o["msg"] == "session end"]


def test_json_log_lines_and_session_end(make_daemon):
    d = make_daemon()
    tenant = th.new_uuid()
    alice = d.user(tenant=tenant)
    bob = d.user(tenant=tenant)
    d.start(["--log-format", "json"])

    ws = d.session(alice)
    for _ in range(3):
        d.publish(ev_user(tenant, alice.user))
    for _ in range(3):
        ws.recv_event()
    ws.close()
    wait_for(lambda: len(ends(d)) == 1, message="session end logged")
    end = ends(d)[0]
    assert end["level"] == "info"
    assert end["user"] == alice.user and end["tenant"] == tenant
    assert end["session"] == alice.session
    assert end["code"] == 1000 and end["reason"] == ""   # client closed: no reason
    assert isinstance(end["duration"], (int, float)) and end["duration"] >= 0
    assert end["delivered"] == 3

    # Revoked: the server closes with 4003 and says why.
    ws2 = d.session(bob)
    d.remove_token(bob)
    ws2.expect_close(4003)
    # (the harness's probes of the revocation are sessions of bob's too)
    wait_for(lambda: [e for e in ends(d) if e["code"] == 4003], message="4003 session end logged")
    end = [e for e in ends(d) if e["code"] == 4003][0]
    assert end["user"] == bob.user and end["reason"] == "authentication expired"
    assert end["delivered"] == 0

    starts = [o for o in json_lines(d) if o["msg"] == "session start"]
    assert {s["user"] for s in starts} >= {alice.user, bob.user}
    assert all(s["version"] == 2 and s["admin"] is False for s in starts)

    d.stop()
    text = d.log_text()
    for t in (alice, bob, d.publisher):
        assert t.id not in text


def test_log_format_from_config_file(make_daemon):
    d = make_daemon()
    d.start(["-o", "tenbus.log_format=json"])
    d.get("/status")
    d.stop()
    lines = json_lines(d)
    assert any(o["msg"].startswith("tenbusd listening on") and o["bus"] == "embedded"
               for o in lines)


def test_log_format_refuses_unknown(make_daemon, tmp_path):
    import subprocess
    r = subprocess.run([th.TENBUSD, "--log-format", "xml", "--check-config"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode != 0
    assert "tenbus.log_format" in r.stderr and "text" in r.stderr and "json" in r.stderr
