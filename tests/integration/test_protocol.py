"""WebSocket protocol: DESIGN.md §3 — handshake checks, ops and replies,
close codes and reasons, token renewal and expiry, shutdown."""

import json
import socket
import time

import pytest

from tenbus_harness import RawWS, ev_user, iso_in, marker

NO_TOKEN = "no token"
AUTH_FAILED = "authentication failed"
AUTH_EXPIRED = "authentication expired"


# --- handshake: version, token ------------------------------------------------

@pytest.mark.parametrize("version", ["3", "abc", "0", "", "2x", "-1"])
def test_unsupported_version_closes_4004_even_without_token(daemon, version):
    ws = daemon.connect(None, version=version)
    ws.expect_close(4004, "")


def test_unsupported_version_with_valid_token_closes_4004(daemon):
    alice = daemon.user()
    ws = daemon.connect(alice, version=3)
    ws.expect_close(4004, "")


def test_no_token_closes_4001(daemon):
    ws = daemon.connect(None, version=2)
    ws.expect_close(4001, NO_TOKEN)


def test_no_token_v1_default_closes_4001(daemon):
    ws = daemon.connect(None, version=None)
    ws.expect_close(4001, NO_TOKEN)


def test_unknown_token_closes_4002(daemon):
    daemon.user()
    ws = daemon.connect("tok-does-not-exist")
    ws.expect_close(4002, AUTH_FAILED)


def test_token_without_websocketd_acl_closes_4002(daemon):
    tok = daemon.user(acl=["events.#"])
    ws = daemon.connect(tok)
    ws.expect_close(4002, AUTH_FAILED)


def test_expired_token_at_connect_closes_4002(daemon):
    tok = daemon.user(expires_at=iso_in(-60))
    ws = daemon.connect(tok)
    ws.expect_close(4002, AUTH_FAILED)


def test_token_with_future_expiry_accepted(daemon):
    tok = daemon.user(expires_at="2099-01-01T00:00:00+00:00")
    ws = daemon.connect(tok)
    ws.expect_init(2)


def test_token_in_x_auth_token_header(daemon):
    alice = daemon.user()
    ws = daemon.connect(None, version=2, headers={"X-Auth-Token": alice.id})
    ws.expect_init(2)
    ws.subscribe("*")
    ws.start()
    e = ev_user(alice.tenant, alice.user)
    daemon.publish(e)
    assert ws.recv_marker() == marker(e)


def test_query_token_takes_precedence_over_header(daemon):
    alice = daemon.user()
    ws = daemon.connect(alice, headers={"X-Auth-Token": "tok-bogus"})
    ws.expect_init(2)


def test_bad_header_token_closes_4002(daemon):
    ws = daemon.connect(None, headers={"X-Auth-Token": "tok-bogus"})
    ws.expect_close(4002, AUTH_FAILED)


def test_version_defaults_to_1(daemon):
    alice = daemon.user()
    ws = daemon.connect(alice, version=None)
    ws.expect_init(1)


@pytest.mark.parametrize("version", [1, 2])
def test_init_reports_version(daemon, version):
    alice = daemon.user()
    ws = daemon.connect(alice, version=version)
    ws.expect_init(version)


def test_path_and_unknown_query_params_ignored(daemon):
    alice = daemon.user()
    ws = daemon.connect(alice, version=2, path="/api/websocketd/",
                        query="userUuid=%s&foo=bar" % alice.user)
    ws.expect_init(2)
    ws.subscribe("*")
    ws.start()
    e = ev_user(alice.tenant, alice.user)
    daemon.publish(e)
    assert ws.recv_marker() == marker(e)


def test_connect_without_compression(daemon):
    alice = daemon.user()
    ws = daemon.connect(alice, compression=None)
    ws.expect_init(2)
    ws.subscribe("*")
    ws.start()
    e = ev_user(alice.tenant, alice.user)
    daemon.publish(e)
    assert ws.recv_marker() == marker(e)


# --- protocol errors -> 4004 "" ------------------------------------------------

BAD_MESSAGES = {
    "not-json": "{not json",
    "json-array": "[]",
    "json-string": '"subscribe"',
    "json-number": "42",
    "json-null": "null",
    "no-op": '{"data": {"event_name": "*"}}',
    "op-not-string": '{"op": 1}',
    "op-null": '{"op": null}',
    "unknown-op": '{"op": "unsubscribe", "data": {"event_name": "*"}}',
    "subscribe-no-data": '{"op": "subscribe"}',
    "subscribe-data-not-object": '{"op": "subscribe", "data": "*"}',
    "subscribe-no-event-name": '{"op": "subscribe", "data": {}}',
    "subscribe-event-name-not-string": '{"op": "subscribe", "data": {"event_name": 1}}',
    "token-no-data": '{"op": "token"}',
    "token-no-token": '{"op": "token", "data": {}}',
    "token-not-string": '{"op": "token", "data": {"token": 5}}',
    "ping-no-payload": '{"op": "ping", "data": {}}',
    "ping-payload-not-string": '{"op": "ping", "data": {"payload": 3}}',
}


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("text", list(BAD_MESSAGES.values()), ids=list(BAD_MESSAGES))
def test_protocol_error_closes_4004_empty_reason(daemon, text, version):
    alice = daemon.user()
    ws = daemon.connect(alice, version=version)
    ws.expect_init()
    ws.send_text(text)
    ws.expect_close(4004, "")


@pytest.mark.parametrize("started", [False, True])
def test_binary_frame_closes_4004(daemon, started):
    alice = daemon.user()
    ws = daemon.connect(alice)
    ws.expect_init()
    if started:
        ws.subscribe("*")
        ws.start()
    ws.send_binary(json.dumps({"op": "ping", "data": {"payload": "x"}}).encode())
    ws.expect_close(4004, "")


def test_protocol_error_after_start_closes_4004(daemon):
    alice = daemon.user()
    ws = daemon.session(alice)
    ws.send_text('{"op": "nope"}')
    ws.expect_close(4004, "")


def test_protocol_error_does_not_affect_other_sessions(daemon):
    alice = daemon.user()
    good = daemon.session(alice)
    bad = daemon.session(alice)
    bad.send_text("garbage")
    bad.expect_close(4004, "")
    e = ev_user(alice.tenant, alice.user)
    daemon.publish(e)
    assert good.recv_marker() == marker(e)


# --- acknowledgements -----------------------------------------------------------

def test_v2_acknowledges_every_command(daemon):
    alice = daemon.user()
    other = daemon.user(alice.tenant, user=alice.user)
    ws = daemon.connect(alice, version=2)
    ws.expect_init(2)
    ws.subscribe("a")                 # each helper asserts its exact reply
    ws.renew(other)
    ws.start()
    ws.subscribe("b")
    ws.renew(alice)
    ws.ping("p")
    ws.start()                        # a second start is acknowledged too


def test_v1_acks_start_but_not_subscribe_or_token_after_start(daemon):
    alice = daemon.user()
    other = daemon.user(alice.tenant, user=alice.user)
    ws = daemon.connect(alice, version=1)
    ws.expect_init(1)
    ws.subscribe("first")             # acked before start
    ws.renew(other)                   # acked before start
    ws.start()
    ws.subscribe("second", ack=False)
    ws.renew(alice, ack=False)
    e = ev_user(alice.tenant, alice.user, name="second")
    daemon.publish(e)
    # the next frame is the event itself (v1 body), no ack in between
    assert ws.recv_json()["data"]["marker"] == marker(e)


def test_v1_start_always_acked(daemon):
    alice = daemon.user()
    ws = daemon.connect(alice, version=1)
    ws.expect_init(1)
    ws.start()
    ws.start()


def test_v2_ping_pong_with_payload(daemon):
    alice = daemon.user()
    ws = daemon.connect(alice, version=2)
    ws.expect_init(2)
    for payload in ("hello", "", "ünïcødé ✓", "x" * 1000):
        ws.ping(payload)


def test_v1_ping_ignored(daemon):
    alice = daemon.user()
    ws = daemon.session(alice, version=1)
    ws.ping("hello", ack=False)
    e = ev_user(alice.tenant, alice.user)
    daemon.publish(e)
    assert ws.recv_json()["data"]["marker"] == marker(e)


def test_v1_ping_before_start_ignored(daemon):
    alice = daemon.user()
    ws = daemon.connect(alice, version=1)
    ws.expect_init(1)
    ws.ping("hello", ack=False)
    ws.subscribe("*")                 # next frame is the subscribe ack, not a pong


def test_messages_handled_in_order_websockets_client(daemon):
    alice = daemon.user()
    ws = daemon.connect(alice, version=2)
    ws.expect_init(2)
    for i in range(20):
        ws.send_op("ping", {"payload": "p%d" % i})
    ws.send_op("subscribe", {"event_name": "*"})
    ws.send_op("start")
    ws.send_op("ping", {"payload": "last"})
    for i in range(20):
        ws.expect_reply("pong", {"payload": "p%d" % i})
    ws.expect_reply("subscribe")
    ws.expect_reply("start")
    ws.expect_reply("pong", {"payload": "last"})


def test_pipelined_frames_in_one_tcp_write(daemon):
    alice = daemon.user()
    daemon.start()
    raw = RawWS(daemon.port, "/?token=%s&version=2" % alice.id)
    try:
        raw.handshake()
        assert raw.recv_json() == {"op": "init", "code": 0, "data": {"version": 2}}
        burst = b"".join(RawWS.frame(json.dumps(m)) for m in (
            {"op": "subscribe", "data": {"event_name": "*"}},
            {"op": "start"},
            {"op": "ping", "data": {"payload": "after-start"}},
        ))
        raw.send(burst)
        assert raw.recv_json() == {"op": "subscribe", "code": 0, "data": None}
        assert raw.recv_json() == {"op": "start", "code": 0, "data": None}
        assert raw.recv_json() == {"op": "pong", "code": 0, "data": {"payload": "after-start"}}
        e = ev_user(alice.tenant, alice.user)
        daemon.publish(e)
        msg = raw.recv_json()
        assert msg["op"] == "event" and msg["data"]["data"]["marker"] == marker(e)
    finally:
        raw.close()


def test_fragmented_text_message(daemon):
    alice = daemon.user()
    daemon.start()
    raw = RawWS(daemon.port, "/?token=%s&version=2" % alice.id)
    try:
        raw.handshake()
        raw.recv_json()
        text = json.dumps({"op": "ping", "data": {"payload": "frag"}})
        raw.send(RawWS.frame(text[:5], opcode=1, fin=False)
                 + RawWS.frame(text[5:12], opcode=0, fin=False)
                 + RawWS.frame(text[12:], opcode=0, fin=True))
        assert raw.recv_json() == {"op": "pong", "code": 0, "data": {"payload": "frag"}}
    finally:
        raw.close()


def test_start_reply_precedes_events(daemon):
    # events keep flowing while the session starts: the start reply must
    # still come first, and every later frame must be an event
    alice = daemon.user()
    ws = daemon.connect(alice)
    ws.expect_init()
    ws.subscribe("*")
    for _ in range(3):
        daemon.publish(ev_user(alice.tenant, alice.user))
    ws.send_op("start")
    ws.expect_reply("start")
    e = ev_user(alice.tenant, alice.user)
    daemon.publish(e)
    assert daemon.collect(ws) == [[marker(e)]]


# --- token renewal ---------------------------------------------------------------

def test_token_renewal_accepted_events_continue(daemon):
    alice = daemon.user()
    renewed = daemon.user(alice.tenant, user=alice.user, session=alice.session)
    ws = daemon.session(alice)
    ws.renew(renewed)
    e = ev_user(alice.tenant, alice.user)
    daemon.publish(e)
    assert ws.recv_marker() == marker(e)


def test_token_renewal_losing_acl_stops_those_events(daemon):
    alice = daemon.user(acl=["websocketd", "events.#"])
    narrower = daemon.user(alice.tenant, user=alice.user, acl=["websocketd", "events.keep.#"])
    ws = daemon.session(alice)
    e1 = ev_user(alice.tenant, alice.user, required_acl="events.lose.x")
    daemon.publish(e1)
    assert ws.recv_marker() == marker(e1)
    ws.renew(narrower)
    lost = ev_user(alice.tenant, alice.user, required_acl="events.lose.x")
    kept = ev_user(alice.tenant, alice.user, required_acl="events.keep.x")
    daemon.publish(lost)
    daemon.publish(kept)
    assert daemon.collect(ws) == [[marker(kept)]]


def test_token_renewal_gaining_acl_starts_those_events(daemon):
    alice = daemon.user(acl=["websocketd"])
    wider = daemon.user(alice.tenant, user=alice.user, acl=["websocketd", "events.#"])
    ws = daemon.session(alice)
    before = ev_user(alice.tenant, alice.user)
    daemon.publish(before)
    assert daemon.collect(ws) == [[]]
    ws.renew(wider)
    after = ev_user(alice.tenant, alice.user)
    daemon.publish(after)
    assert daemon.collect(ws) == [[marker(after)]]


@pytest.mark.parametrize("version", [1, 2])
def test_token_renewal_with_unknown_token_closes_4002(daemon, version):
    alice = daemon.user()
    ws = daemon.session(alice, version=version)
    ws.renew("tok-unknown", ack=False)
    ws.expect_close(4002, AUTH_FAILED)


def test_token_renewal_with_expired_token_closes_4002(daemon):
    alice = daemon.user()
    old = daemon.user(alice.tenant, user=alice.user, expires_at=iso_in(-60), reload=False)
    ws = daemon.session(alice)
    ws.renew(old, ack=False)
    ws.expect_close(4002, AUTH_FAILED)


def test_token_renewal_without_websocketd_acl_closes_4002(daemon):
    alice = daemon.user()
    bare = daemon.user(alice.tenant, user=alice.user, acl=["events.#"])
    ws = daemon.session(alice)
    ws.renew(bare, ack=False)
    ws.expect_close(4002, AUTH_FAILED)


def test_token_renewal_replaces_expiry(daemon):
    # a token expiring in 2 s renewed with a long-lived one: no 4003 at the
    # old expiry (this test has to outwait that expiry)
    daemon.start()
    alice = daemon.user(expires_at=iso_in(2))
    longer = daemon.user(alice.tenant, user=alice.user, expires_at=iso_in(3600))
    t0 = time.monotonic()
    ws = daemon.session(alice)
    ws.renew(longer)
    ws.assert_no_event(timeout=max(0.3, 3.0 - (time.monotonic() - t0)))
    e = ev_user(alice.tenant, alice.user)
    daemon.publish(e)
    assert ws.recv_marker() == marker(e)


# --- expiry / revocation while connected -------------------------------------------

def test_dynamic_expiry_closes_4003(daemon):
    daemon.start()                # so the 2 s window starts after startup
    alice = daemon.user(expires_at=iso_in(2))
    ws = daemon.session(alice)
    t0 = time.monotonic()
    ws.expect_close(4003, AUTH_EXPIRED, timeout=5)
    assert time.monotonic() - t0 < 5


def test_dynamic_expiry_closes_unstarted_session(daemon):
    daemon.start()
    alice = daemon.user(expires_at=iso_in(2))
    ws = daemon.connect(alice)
    ws.expect_init()
    ws.expect_close(4003, AUTH_EXPIRED, timeout=5)


def test_static_strategy_revoked_token_closes_4003(make_daemon):
    d = make_daemon(strategy="static", static_interval=1)
    alice = d.user()
    bob = d.user(alice.tenant)
    wa = d.session(alice)
    wb = d.session(bob)
    d.remove_token(alice)
    wa.expect_close(4003, AUTH_EXPIRED, timeout=5)
    # bob's token is still in the file: his session survives the checks
    e = ev_user(bob.tenant, bob.user)
    d.publish(e)
    assert wb.recv_marker() == marker(e)


def test_dynamic_strategy_token_removed_on_sighup_closes_4003_at_once(make_daemon):
    # The token never expires (dynamic strategy: next check in 12 h), yet
    # removing it from the file and reloading ends its session right away.
    d = make_daemon(strategy="dynamic")
    alice = d.user()
    bob = d.user(alice.tenant)
    wa = d.session(alice)
    wb = d.session(bob)
    d.remove_token(alice)
    wa.expect_close(4003, AUTH_EXPIRED, timeout=2)
    e = ev_user(bob.tenant, bob.user)
    d.publish(e)
    assert wb.recv_marker() == marker(e)


def test_sighup_reload_makes_new_token_valid(daemon):
    daemon.start()
    late = daemon.user()          # rewrites the file, SIGHUP, polls until known
    ws = daemon.session(late)
    e = ev_user(late.tenant, late.user)
    daemon.publish(e)
    assert ws.recv_marker() == marker(e)


def test_sighup_reload_removed_token_refused_at_connect(daemon):
    alice = daemon.user()
    daemon.start()
    daemon.connect(alice).expect_init()
    daemon.remove_token(alice)
    daemon.connect(alice).expect_close(4002, AUTH_FAILED)


# --- shutdown ------------------------------------------------------------------------

def test_sigterm_closes_sessions_1001_and_exits_0(daemon):
    alice = daemon.user()
    w1 = daemon.session(alice, version=1)
    w2 = daemon.session(alice, version=2)
    w3 = daemon.connect(alice)
    w3.expect_init()
    daemon.terminate()
    for ws in (w1, w2, w3):
        ws.expect_close(1001)
    assert daemon.wait_exit() == 0


def test_sigterm_with_no_sessions_exits_0(daemon):
    daemon.start()
    daemon.terminate()
    assert daemon.wait_exit() == 0


def test_server_answers_client_ping_frames(daemon):
    alice = daemon.user()
    daemon.start()
    raw = RawWS(daemon.port, "/?token=%s&version=2" % alice.id)
    try:
        raw.handshake()
        raw.recv_json()
        raw.send(RawWS.frame(b"are-you-there", opcode=9))
        op, payload = raw.recv_frame()
        assert (op, payload) == (10, b"are-you-there")
    finally:
        raw.close()


def test_client_close_is_answered(daemon):
    alice = daemon.user()
    daemon.start()
    raw = RawWS(daemon.port, "/?token=%s&version=2" % alice.id)
    try:
        raw.handshake()
        raw.recv_json()
        raw.send(RawWS.frame(b"\x03\xe8bye", opcode=8))
        op, payload = raw.recv_frame()
        assert op == 8, "expected the close reply, got opcode %d" % op
    finally:
        raw.close()
    # the daemon still serves others
    ws = daemon.session(alice)
    ws.ping("still-alive")


def test_unmasked_client_frame_refused(daemon):
    alice = daemon.user()
    daemon.start()
    raw = RawWS(daemon.port, "/?token=%s&version=2" % alice.id)
    try:
        raw.handshake()
        raw.recv_json()
        raw.send(RawWS.frame(json.dumps({"op": "start"}), mask=False))
        # RFC 6455: the server must fail the connection (close 1002, or drop it)
        try:
            op, payload = raw.recv_frame()
        except socket.timeout:
            raise AssertionError("unmasked frame neither refused nor answered") from None
        except (AssertionError, ConnectionError):
            return                      # connection dropped: refused
        assert op == 8, "expected a close frame, got opcode %d %r" % (op, payload)
    finally:
        raw.close()
