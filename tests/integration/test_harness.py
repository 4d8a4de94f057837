"""Self-checks of the harness helpers that need no daemon."""

import datetime
import json
import os
import socket
import struct

import yaml

import tenbus_harness as th


def test_free_port_is_bindable():
    p = th.free_port()
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", p))
    assert 0 < p < 65536


def test_iso_in_is_utc_iso8601():
    s = th.iso_in(2)
    t = datetime.datetime.fromisoformat(s)
    assert t.utcoffset() == datetime.timedelta(0)
    delta = (t - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    assert 1 < delta <= 2


def test_token_json_shape():
    t = th.Token(tenant="T", user="U", acl=["websocketd"], purpose="external_api", admin=True,
                 expires_at="2030-01-01T00:00:00+00:00")
    assert t.to_json() == {
        "token": t.id, "session_uuid": t.session, "acl": ["websocketd"],
        "utc_expires_at": "2030-01-01T00:00:00+00:00",
        "metadata": {"uuid": "U", "tenant_uuid": "T", "purpose": "external_api", "admin": True},
    }
    assert th.Token(tenant="T").id != th.Token(tenant="T").id


def test_daemon_files(tmp_path):
    d = th.Daemon(tmp_path, strategy="static", static_interval=1)
    alice = d.user()
    d.write_config()
    d.write_tokens()
    with open(d.conf_path) as f:
        conf = yaml.safe_load(f)
    assert conf["uuid"] == d.uuid
    assert conf["websocket"] == {"listen": "127.0.0.1", "port": d.port, "ping_interval": 60}
    assert conf["auth_check_strategy"] == "static"
    assert conf["auth_check_static_interval"] == 1
    assert conf["tenbus"] == {"bus_backend": "embedded", "auth_backend": "file",
                              "tokens_file": d.tokens_path,
                              "master_tenant_uuid": d.master_tenant, "workers": 2}
    with open(d.tokens_path) as f:
        toks = yaml.safe_load(f)["tokens"]
    assert [t["token"] for t in toks] == [d.publisher.id, alice.id]
    assert toks[0]["metadata"]["tenant_uuid"] == d.master_tenant
    assert toks[1]["acl"] == ["websocketd", "events.#"]


def test_ws_url(tmp_path):
    d = th.Daemon(tmp_path)
    t = th.Token(tenant="T", token_id="tok-x")
    assert d.ws_url(t, 2) == "ws://127.0.0.1:%d/?token=tok-x&version=2" % d.port
    assert d.ws_url(None, None) == "ws://127.0.0.1:%d/" % d.port
    assert d.ws_url("a", 1, "/api/websocketd/", "userUuid=u").endswith(
        "/api/websocketd/?token=a&version=1&userUuid=u")


def test_raw_headers(tmp_path):
    d = th.Daemon(tmp_path)
    h = d.raw_headers("evt", tenant="T", users=["U"], all_users=True)
    assert h["origin_uuid"] == d.uuid and h["required_acl"] == "events.evt"
    assert h["user_uuid:U"] is True and h["user_uuid:*"] is True and h["tenant_uuid"] == "T"
    assert "required_acl" not in d.raw_headers("evt", required_acl="__omit__")
    assert d.raw_headers("evt", required_acl=None)["required_acl"] is None


def test_raw_frame_encoding():
    payload = json.dumps({"op": "start"}).encode()
    f = th.RawWS.frame(payload)
    assert f[0] == 0x81 and f[1] == 0x80 | len(payload)
    key = f[2:6]
    assert bytes(c ^ key[i % 4] for i, c in enumerate(f[6:])) == payload
    big = th.RawWS.frame(b"x" * 300, opcode=2, fin=False, mask=False)
    assert big[0] == 0x02 and big[1] == 126 and struct.unpack("!H", big[2:4])[0] == 300
    huge = th.RawWS.frame(b"x" * 70000, mask=False)
    assert huge[1] == 127 and struct.unpack("!Q", huge[2:10])[0] == 70000


def test_event_builders():
    e = th.ev_users("T", ["a", "b"], name="n")
    assert e["name"] == "n" and e["tenant_uuid"] == "T" and e["user_uuids"] == ["a", "b"]
    assert th.marker(e).startswith("m-")
    assert "tenant_uuid" not in th.ev_service()
    assert th.ev_user("T", "U", required_acl=None)["required_acl"] is None


def test_wait_for():
    calls = []
    assert th.wait_for(lambda: calls.append(1) or len(calls) >= 3, timeout=1) is True
    try:
        th.wait_for(lambda: False, timeout=0.05, message="never")
    except AssertionError as e:
        assert "never" in str(e)
    else:
        raise AssertionError("wait_for did not time out")


def test_binaries_paths_default_to_build_dir():
    if "TENBUSD" not in os.environ:
        assert th.TENBUSD == os.path.join(th.REPO, "build", "tenbusd")
    if "TENBUS_CLI" not in os.environ:
        assert th.TENBUS_CLI == os.path.join(th.REPO, "build", "tenbus")
