"""HTTP API (docs/http-api.md): publish validation and permissions, batch
all-or-nothing, /status, /metrics, unknown paths. Every refused publish is
also checked to have published nothing (a master session sees only the
sentinel)."""

import http.client
import json

import pytest

from tenbus_harness import (ev_service, ev_tenant, ev_user, ev_users, mark, marker, new_uuid)


@pytest.fixture
def watcher(daemon):
    """A master-tenant session subscribed to everything."""
    m = daemon.master()
    return daemon.session(m)


def assert_invalid(status, body, field, index=None):
    assert status == 400, (status, body)
    assert isinstance(body, dict), body
    assert body.get("error") == "invalid_event", body
    assert body.get("field") == field, body
    if index is None:
        assert "index" not in body, body
    else:
        assert body.get("index") == index, body


# --- validation -----------------------------------------------------------------

@pytest.mark.parametrize("event,field", [
    ({"data": {}}, "name"),
    ({"name": 5}, "name"),
    ({"name": "x", "level": "tenant"}, "tenant_uuid"),
    ({"name": "x", "level": "user", "tenant_uuid": "T"}, "user_uuid"),
    ({"name": "x", "user_uuid": "U"}, "tenant_uuid"),                    # inferred user
    ({"name": "x", "level": "multi_user", "tenant_uuid": "T"}, "user_uuids"),
    ({"name": "x", "tenant_uuid": "T", "user_uuids": "U"}, "user_uuids"),
    ({"name": "x", "tenant_uuid": "T", "user_uuids": {"u": 1}}, "user_uuids"),
    ({"name": "x", "tenant_uuid": "T", "user_uuids": [1, 2]}, "user_uuids"),
    ({"name": "x", "user_uuids": ["U"]}, "tenant_uuid"),                  # inferred multi
    ({"name": "x", "level": "bogus"}, "level"),
    ({"name": "x", "tenant_uuid": 7}, "tenant_uuid"),
    ({"name": "x", "required_acl": 3}, "required_acl"),
    ({"name": "x", "routing_key": "a", "routing_key_fmt": "b"}, "routing_key_fmt"),
], ids=["no-name", "name-not-string", "tenant-no-tenant", "user-no-user",
        "user-inferred-no-tenant", "multi-no-list", "user_uuids-string", "user_uuids-object",
        "user_uuids-not-strings", "multi-inferred-no-tenant", "bad-level",
        "tenant-not-string", "required_acl-not-string", "routing-key-both"])
def test_publish_invalid_event_400_names_field(daemon, watcher, event, field):
    status, body = daemon.publish(event, expect=None)
    if field == "routing_key_fmt":
        # exclusive pair: either field may be named
        assert status == 400 and body.get("field") in ("routing_key", "routing_key_fmt"), body
    else:
        assert_invalid(status, body, field)
    assert daemon.collect(watcher) == [[]]


def test_tenant_event_without_tenant_is_400(daemon, watcher):
    status, body = daemon.publish({"name": "x", "level": "tenant", "data": {}}, expect=None)
    assert_invalid(status, body, "tenant_uuid")
    assert daemon.collect(watcher) == [[]]


@pytest.mark.parametrize("payload", [b"{not json", b"", b"\xff\xfe", b"[1, 2", b"42", b"null",
                                     b'"event"'],
                         ids=["broken", "empty", "not-utf8", "truncated-array", "number",
                              "null", "string"])
def test_publish_malformed_body_400(daemon, watcher, payload):
    status, body = daemon.request("POST", "/api/events", body=payload, token=daemon.publisher.id)
    assert status == 400, (status, body)
    assert isinstance(body, dict) and "error" in body, body
    assert daemon.collect(watcher) == [[]]


def test_batch_with_one_invalid_event_publishes_nothing(daemon, watcher):
    t = new_uuid()
    batch = [ev_tenant(t), ev_user(t, new_uuid()), {"name": "x", "level": "user",
                                                     "tenant_uuid": t}]
    status, body = daemon.publish(batch, expect=None)
    assert_invalid(status, body, "user_uuid", index=2)
    assert daemon.collect(watcher) == [[]]


def test_valid_batch_publishes_all_in_order(daemon, watcher):
    t = new_uuid()
    batch = [ev_tenant(t), ev_user(t, new_uuid()), ev_users(t, [new_uuid()]), ev_service()]
    status, body = daemon.publish(batch)
    assert body == {"published": 4}
    assert daemon.collect(watcher) == [[marker(e) for e in batch]]


def test_empty_batch(daemon, watcher):
    status, body = daemon.request("POST", "/api/events", body=[], token=daemon.publisher.id)
    assert status in (202, 400), (status, body)
    if status == 202:
        assert body == {"published": 0}
    assert daemon.collect(watcher) == [[]]


def test_publish_response_and_delivery(daemon):
    alice = daemon.user()
    ws = daemon.session(alice)
    e = ev_user(alice.tenant, alice.user)
    status, body = daemon.publish(e)
    assert (status, body) == (202, {"published": 1})
    assert ws.recv_marker() == marker(e)


def test_extra_headers_become_body_fields(daemon):
    alice = daemon.user()
    ws = daemon.session(alice)
    room = new_uuid()
    daemon.publish(ev_user(alice.tenant, alice.user, headers={"room_uuid": room}))
    assert ws.recv_event()["room_uuid"] == room


def test_extra_headers_may_not_replace_generated_ones(daemon, watcher):
    t = new_uuid()
    e = ev_tenant(t, headers={"tenant_uuid": new_uuid()})
    status, body = daemon.publish(e, expect=None)
    if status == 400:
        assert body.get("field") in ("headers", "headers.tenant_uuid", "tenant_uuid"), body
        assert daemon.collect(watcher) == [[]]
    else:
        # accepted: the generated tenant header must win
        assert status == 202, (status, body)
        ev = watcher.recv_event()
        assert ev["tenant_uuid"] == t


def test_routing_key_fmt_escapes_values(daemon):
    alice = daemon.user(acl=["websocketd", "events.#"])
    ws = daemon.session(alice)
    e = ev_user(alice.tenant, alice.user, name="room_evt",
                routing_key_fmt="chatd.rooms.{room}.{user_uuid}",
                data={"marker": mark(), "room": "a.b#c*d"})
    daemon.publish(e)
    body = ws.recv_event()
    assert body["required_acl"] == "events.chatd.rooms.a__DOT__b__HASH__c__STAR__d.%s" % alice.user


def test_literal_routing_key_and_explicit_acl(daemon):
    alice = daemon.user()                                   # events.#
    m = daemon.master(acl=["websocketd", "#"])
    wa, wm = daemon.session(alice), daemon.session(m)
    e1 = ev_user(alice.tenant, alice.user, routing_key="x.y.z")
    e2 = ev_user(alice.tenant, alice.user, required_acl="custom.acl")
    daemon.publish(e1)
    daemon.publish(e2)
    assert wm.recv_event()["required_acl"] == "events.x.y.z"
    assert wm.recv_event()["required_acl"] == "custom.acl"
    # alice's events.# does not grant custom.acl
    assert daemon.collect(wa) == [[marker(e1)]]


def test_data_defaults_to_empty_object(daemon):
    alice = daemon.user()
    ws = daemon.session(alice)
    daemon.publish({"name": "nodata", "tenant_uuid": alice.tenant, "user_uuid": alice.user})
    assert ws.recv_event()["data"] == {}


# --- authentication / permissions ------------------------------------------------------

def test_publish_without_token_401(daemon, watcher):
    status, body = daemon.request("POST", "/api/events", body=ev_service())
    assert status == 401, (status, body)
    assert body.get("error") == "unauthorized", body
    assert daemon.collect(watcher) == [[]]


def test_publish_with_unknown_token_401(daemon, watcher):
    status, body = daemon.publish(ev_service(), token="tok-nope", expect=None)
    assert status == 401, (status, body)
    assert body.get("error") == "unauthorized", body
    assert daemon.collect(watcher) == [[]]


def test_publish_with_expired_token_401(daemon):
    old = daemon.master(acl=["tenbus.publish.#"], expires_at="2000-01-01T00:00:00+00:00")
    watcher = daemon.session(daemon.master())
    status, body = daemon.publish(ev_service(), token=old, expect=None)
    assert status == 401, (status, body)
    assert daemon.collect(watcher) == [[]]


def test_publish_without_publish_acl_403(daemon, watcher):
    tok = daemon.master(acl=["websocketd", "events.#"])
    status, body = daemon.publish(ev_service(), token=tok, expect=None)
    assert status == 403, (status, body)
    assert body.get("error") == "forbidden", body
    assert daemon.collect(watcher) == [[]]


def test_publish_acl_is_per_name(daemon, watcher):
    tok = daemon.master(acl=["tenbus.publish.allowed_evt"])
    t = new_uuid()
    status, body = daemon.publish(ev_tenant(t, name="other_evt"), token=tok, expect=None)
    assert status == 403, (status, body)
    ok = ev_tenant(t, name="allowed_evt")
    daemon.publish(ok, token=tok)
    assert daemon.collect(watcher) == [[marker(ok)]]


def test_publish_acl_negative_entry(daemon, watcher):
    tok = daemon.master(acl=["tenbus.publish.#", "!tenbus.publish.secret"])
    status, _ = daemon.publish(ev_service(name="secret"), token=tok, expect=None)
    assert status == 403
    assert daemon.collect(watcher) == [[]]


def test_tenant_token_publishes_own_tenant(daemon, watcher):
    t = new_uuid()
    pub = daemon.token(tenant=t, purpose="internal", acl=["tenbus.publish.#"])
    events = [ev_tenant(t), ev_user(t, new_uuid()), ev_users(t, [new_uuid()])]
    for e in events:
        daemon.publish(e, token=pub)
    assert daemon.collect(watcher) == [[marker(e) for e in events]]


@pytest.mark.parametrize("kind", ["tenant", "user", "multi_user"])
def test_tenant_token_publishing_to_other_tenant_403(daemon, watcher, kind):
    t = new_uuid()
    pub = daemon.token(tenant=t, purpose="internal", acl=["tenbus.publish.#"])
    other = new_uuid()
    e = {"tenant": ev_tenant(other), "user": ev_user(other, new_uuid()),
         "multi_user": ev_users(other, [new_uuid()])}[kind]
    status, body = daemon.publish(e, token=pub, expect=None)
    assert status == 403, (status, body)
    assert daemon.collect(watcher) == [[]]


def test_tenant_token_publishing_service_event_403(daemon, watcher):
    pub = daemon.token(tenant=new_uuid(), purpose="internal", acl=["tenbus.publish.#"])
    status, body = daemon.publish(ev_service(), token=pub, expect=None)
    assert status == 403, (status, body)
    assert daemon.collect(watcher) == [[]]


def test_batch_with_one_forbidden_event_publishes_nothing(daemon, watcher):
    t = new_uuid()
    pub = daemon.token(tenant=t, purpose="internal", acl=["tenbus.publish.#"])
    status, body = daemon.publish([ev_tenant(t), ev_tenant(new_uuid())], token=pub, expect=None)
    assert status == 403, (status, body)
    assert daemon.collect(watcher) == [[]]


# --- raw publish ---------------------------------------------------------------------

def test_raw_publish_requires_publish_raw_acl(daemon, watcher):
    tok = daemon.master(acl=["tenbus.publish.#"])
    h = daemon.raw_headers("evt", tenant=new_uuid(), all_users=True)
    status, _ = daemon.publish_raw(h, {"data": {"marker": mark()}}, token=tok, expect=None)
    assert status == 403
    assert daemon.collect(watcher) == [[]]


def test_raw_publish_requires_master_tenant(daemon, watcher):
    tok = daemon.token(tenant=new_uuid(), purpose="internal",
                       acl=["tenbus.publish.#", "tenbus.publish-raw"])
    h = daemon.raw_headers("evt", tenant=tok.tenant, all_users=True)
    status, _ = daemon.publish_raw(h, {"data": {"marker": mark()}}, token=tok, expect=None)
    assert status == 403
    assert daemon.collect(watcher) == [[]]


@pytest.mark.parametrize("payload", [{"body": {}}, {"headers": {"name": "x"}},
                                     {"headers": [], "body": {}}, {"headers": {}, "body": []}],
                         ids=["no-headers", "no-body", "headers-not-object", "body-not-object"])
def test_raw_publish_malformed_400(daemon, watcher, payload):
    status, body = daemon.request("POST", "/api/events/raw", body=payload,
                                  token=daemon.publisher.id)
    assert status == 400, (status, body)
    assert daemon.collect(watcher) == [[]]


# --- other endpoints ---------------------------------------------------------------

def test_status(daemon):
    status, body = daemon.get("/status")
    assert status == 200, (status, body)
    assert body["status"] == "ok"


def test_status_counts_sessions(daemon):
    alice = daemon.user()
    daemon.session(alice)
    daemon.session(alice)
    status, body = daemon.get("/status")
    assert status == 200 and body["status"] == "ok"
    if "sessions" in body:
        assert body["sessions"] >= 2, body


def test_metrics(daemon):
    status, body = daemon.get("/metrics")
    assert status == 200
    assert isinstance(body, str) and body.strip(), body
    # Prometheus text format: every non-comment line is "name[{labels}] value"
    for line in body.splitlines():
        if not line or line.startswith("#"):
            continue
        name_part, _, value = line.rpartition(" ")
        assert name_part, line
        float(value)


@pytest.mark.parametrize("method,path", [("GET", "/nope"), ("POST", "/api/nope"),
                                         ("GET", "/api/events/raw/x")])
def test_unknown_path_404(daemon, method, path):
    status, _ = daemon.request(method, path, body=b"{}" if method == "POST" else None,
                               token=daemon.publisher.id)
    assert status == 404


def test_wrong_method_405(daemon):
    status, _ = daemon.request("GET", "/api/events", token=daemon.publisher.id)
    assert status == 405


def test_keep_alive_serves_several_requests(daemon):
    daemon.start()
    conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=5)
    try:
        for _ in range(3):
            conn.request("GET", "/status")
            resp = conn.getresponse()
            assert resp.status == 200
            assert json.loads(resp.read())["status"] == "ok"
    finally:
        conn.close()


def test_body_too_large_413(daemon, watcher):
    big = json.dumps(ev_service(data={"marker": mark(), "pad": "x" * (2 * 1024 * 1024)}))
    try:
        status, _ = daemon.request("POST", "/api/events", body=big, token=daemon.publisher.id)
    except (ConnectionError, http.client.HTTPException):
        status = None      # the server may answer 413 and close before reading it all
    daemon.close()
    assert status in (413, None)
    assert daemon.collect(watcher) == [[]]
