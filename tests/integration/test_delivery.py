"""Who receives what: DESIGN.md §2, each rule positive and negative.

Pattern: open sessions, publish events (each with a unique data.marker),
then `daemon.collect(*sessions)` publishes a per-session sentinel and returns
what each session received before it — so "not delivered" is checked without
sleeping.
"""

import datetime

import pytest

from tenbus_harness import (SENTINEL, ev_service, ev_tenant, ev_user, ev_users, mark, marker,
                            new_uuid)


# --- user scope -------------------------------------------------------------

def test_user_receives_own_user_event(daemon):
    alice = daemon.user()
    ws = daemon.session(alice)
    e = ev_user(alice.tenant, alice.user)
    daemon.publish(e)
    assert ws.recv_event()["data"] == e["data"]


def test_user_does_not_receive_other_users_event(daemon):
    tenant = new_uuid()
    alice = daemon.user(tenant)
    bob = daemon.user(tenant)
    wa = daemon.session(alice)
    e_bob = ev_user(tenant, bob.user)
    e_alice = ev_user(tenant, alice.user)
    daemon.publish(e_bob)
    daemon.publish(e_alice)
    assert daemon.collect(wa) == [[marker(e_alice)]]


def test_user_does_not_receive_other_tenants_events(daemon):
    alice = daemon.user()
    other_tenant = new_uuid()
    wa = daemon.session(alice)
    daemon.publish(ev_tenant(other_tenant))
    daemon.publish(ev_user(other_tenant, new_uuid()))
    daemon.publish(ev_users(other_tenant, [new_uuid(), new_uuid()]))
    assert daemon.collect(wa) == [[]]


def test_tenant_event_reaches_every_user_of_that_tenant_only(daemon):
    ta, tb = new_uuid(), new_uuid()
    a1, a2, b1 = daemon.user(ta), daemon.user(ta), daemon.user(tb)
    w1, w2, wb = daemon.session(a1), daemon.session(a2), daemon.session(b1)
    e = ev_tenant(ta)
    daemon.publish(e)
    assert daemon.collect(w1, w2, wb) == [[marker(e)], [marker(e)], []]


def test_tenant_event_body_has_user_uuid_star(daemon):
    alice = daemon.user()
    ws = daemon.session(alice)
    daemon.publish(ev_tenant(alice.tenant))
    body = ws.recv_event()
    assert body["user_uuid:*"] is True
    assert body["tenant_uuid"] == alice.tenant


def test_multi_user_event_reaches_listed_users_only(daemon):
    t = new_uuid()
    a1, a2, a3 = daemon.user(t), daemon.user(t), daemon.user(t)
    w1, w2, w3 = daemon.session(a1), daemon.session(a2), daemon.session(a3)
    e = ev_users(t, [a1.user, a2.user])
    daemon.publish(e)
    assert daemon.collect(w1, w2, w3) == [[marker(e)], [marker(e)], []]


def test_multi_user_event_in_other_tenant_not_delivered(daemon):
    alice = daemon.user()
    wa = daemon.session(alice)
    # lists alice's uuid but in another tenant
    daemon.publish(ev_users(new_uuid(), [alice.user]))
    assert daemon.collect(wa) == [[]]


# --- tenant-wide roles ------------------------------------------------------

def _tenant_wide_check(daemon, watcher):
    """`watcher` sees every event of its tenant, nothing of another tenant,
    and no service-level event."""
    t = watcher.tenant
    other = new_uuid()
    ws = daemon.session(watcher)
    mine = [ev_user(t, new_uuid()), ev_tenant(t), ev_users(t, [new_uuid(), new_uuid()]),
            ev_user(t, watcher.user)]
    foreign = [ev_user(other, new_uuid()), ev_tenant(other), ev_users(other, [watcher.user]),
               ev_user(other, watcher.user), ev_service()]
    for e in foreign[:2] + mine[:2] + foreign[2:] + mine[2:]:
        daemon.publish(e)
    assert daemon.collect(ws) == [[marker(e) for e in mine]]


def test_tenant_admin_receives_every_event_of_its_tenant_only(daemon):
    _tenant_wide_check(daemon, daemon.admin())


@pytest.mark.parametrize("purpose", ["external_api", "internal"])
def test_purpose_sees_every_event_of_its_tenant_only(daemon, purpose):
    _tenant_wide_check(daemon, daemon.token(purpose=purpose))


def test_non_admin_user_is_not_tenant_wide(daemon):
    # control for the admin test: same token shape with admin false
    t = new_uuid()
    plain = daemon.user(t, admin=False)
    ws = daemon.session(plain)
    daemon.publish(ev_user(t, new_uuid()))
    daemon.publish(ev_users(t, [new_uuid()]))
    assert daemon.collect(ws) == [[]]


# --- master tenant ----------------------------------------------------------

@pytest.mark.parametrize("purpose", ["user", "internal"])
def test_master_tenant_receives_every_event_of_every_tenant(daemon, purpose):
    m = daemon.master(purpose=purpose)
    ws = daemon.session(m)
    ta, tb = new_uuid(), new_uuid()
    events = [ev_user(ta, new_uuid()), ev_tenant(tb), ev_users(tb, [new_uuid()]),
              ev_service(), ev_service(name="another_service_evt")]
    for e in events:
        daemon.publish(e)
    assert daemon.collect(ws) == [[marker(e) for e in events]]


def test_users_and_admins_never_receive_service_events(daemon):
    t = new_uuid()
    u, adm, ext = daemon.user(t), daemon.admin(t), daemon.token(tenant=t, purpose="external_api")
    m = daemon.master()
    wss = [daemon.session(x) for x in (u, adm, ext, m)]
    e = ev_service()
    daemon.publish(e)
    assert daemon.collect(*wss) == [[], [], [], [marker(e)]]


# --- names --------------------------------------------------------------------

def test_name_filter(daemon):
    alice = daemon.user()
    ws = daemon.session(alice, names=["wanted", SENTINEL])
    e_other = ev_user(alice.tenant, alice.user, name="other")
    e_wanted = ev_user(alice.tenant, alice.user, name="wanted")
    daemon.publish(e_other)
    daemon.publish(e_wanted)
    assert daemon.collect(ws) == [[marker(e_wanted)]]


def test_star_subscription_receives_all_names(daemon):
    alice = daemon.user()
    ws = daemon.session(alice, names=["*"])
    events = [ev_user(alice.tenant, alice.user, name=n) for n in ("a", "b_c", "other")]
    for e in events:
        daemon.publish(e)
    assert daemon.collect(ws) == [[marker(e) for e in events]]


def test_subscribe_to_two_names(daemon):
    alice = daemon.user()
    ws = daemon.session(alice, names=["first", "second", SENTINEL])
    events = {n: ev_user(alice.tenant, alice.user, name=n) for n in ("first", "third", "second")}
    for e in events.values():
        daemon.publish(e)
    assert daemon.collect(ws) == [[marker(events["first"]), marker(events["second"])]]


def test_subscribing_twice_to_a_name_delivers_once(daemon):
    alice = daemon.user()
    ws = daemon.session(alice, names=["dup", "dup", "*"])
    e = ev_user(alice.tenant, alice.user, name="dup")
    daemon.publish(e)
    assert daemon.collect(ws) == [[marker(e)]]


# --- origin, required_acl header ----------------------------------------------

def _all_roles(daemon):
    t = new_uuid()
    toks = [daemon.user(t), daemon.admin(t), daemon.master()]
    return t, toks, [daemon.session(x) for x in toks]


def test_foreign_origin_dropped_for_everyone(daemon):
    t, (u, adm, m), wss = _all_roles(daemon)
    body = {"name": "evt", "data": {"marker": mark()}}
    daemon.publish_raw(daemon.raw_headers("evt", tenant=t, all_users=True, origin=new_uuid()), body)
    daemon.publish_raw(daemon.raw_headers("evt", tenant=t, users=[u.user], origin=new_uuid()), body)
    daemon.publish_raw(daemon.raw_headers("evt", origin=new_uuid()), body)
    # control: same event from this stack reaches all three
    ok = {"name": "evt", "data": {"marker": mark()}}
    daemon.publish_raw(daemon.raw_headers("evt", tenant=t, all_users=True), ok)
    assert daemon.collect(*wss) == [[marker(ok)]] * 3


def test_missing_origin_dropped_for_everyone(daemon):
    t, toks, wss = _all_roles(daemon)
    h = daemon.raw_headers("evt", tenant=t, all_users=True)
    del h["origin_uuid"]
    daemon.publish_raw(h, {"name": "evt", "data": {"marker": mark()}})
    assert daemon.collect(*wss) == [[]] * 3


def test_missing_required_acl_dropped_for_everyone_incl_master(daemon):
    t, toks, wss = _all_roles(daemon)
    body = {"name": "evt", "data": {"marker": mark()}}
    daemon.publish_raw(daemon.raw_headers("evt", tenant=t, all_users=True,
                                          required_acl="__omit__"), body)
    daemon.publish_raw(daemon.raw_headers("evt", required_acl="__omit__"), body)
    assert daemon.collect(*wss) == [[]] * 3


def test_null_required_acl_delivered_without_acl(daemon):
    # token grants websocketd only: nothing but null-ACL events may reach it
    alice = daemon.user(acl=["websocketd"])
    ws = daemon.session(alice)
    denied = ev_user(alice.tenant, alice.user)                      # events.user_evt
    via_api = ev_user(alice.tenant, alice.user, required_acl=None)
    raw_body = {"name": "raw_evt", "data": {"marker": mark()}}
    daemon.publish(denied)
    daemon.publish(via_api)
    daemon.publish_raw(daemon.raw_headers("raw_evt", tenant=alice.tenant, users=[alice.user],
                                          required_acl=None), raw_body)
    assert daemon.collect(ws) == [[marker(via_api), marker(raw_body)]]


def test_generated_body_has_null_required_acl(daemon):
    alice = daemon.user(acl=["websocketd"])
    ws = daemon.session(alice)
    daemon.publish(ev_user(alice.tenant, alice.user, required_acl=None))
    body = ws.recv_event()
    assert "required_acl" in body and body["required_acl"] is None


# --- ACL matching ---------------------------------------------------------------

ME = "@me@"
SESSION = "@session@"

ACL_CASES = [
    # (token ACL entries besides websocketd, required_acl, granted?)
    (["events.foo.bar.#"], "events.foo.bar.toto", True),
    (["events.foo.bar.#"], "events.foo.bar.toto.tata", True),
    (["events.foo.bar.#"], "events.foo.bar", False),
    (["events.foo.*.*"], "events.foo.bar.toto", True),
    (["events.foo.*.*"], "events.foo.bar.toto.tata", False),
    (["events.foo"], "events.foo.bar", False),                 # whole string, not prefix
    (["events.foo.bar"], "events.foo", False),
    (["events.#"], "other.thing", False),
    (["events.#", "!events.secret.#"], "events.secret.x", False),
    (["events.#", "!events.secret.#"], "events.public.x", True),
    (["!events.secret.#", "events.secret.x"], "events.secret.x", False),  # negative wins
    (["events.#.me"], "events.foo." + ME, True),
    (["events.users.me.#"], "events.users.%s.x" % ME, True),
    (["events.users.me.#"], "events.users.someone-else.x", False),
    (["events.sessions.my_session"], "events.sessions." + SESSION, True),
    (["events.sessions.my_session"], "events.sessions.other-session", False),
    (["events.users.me.#"], "events.users.me.x", True),        # `me` is also literal
    (["events.foo.edit"], "events.foo.update", True),          # legacy alias
]


@pytest.mark.parametrize("acl,required,granted", ACL_CASES,
                         ids=["%s~%s" % ("|".join(a), r) for a, r, _ in ACL_CASES])
def test_acl_match(daemon, acl, required, granted):
    alice = daemon.user(acl=["websocketd"] + acl)
    required = required.replace(ME, alice.user).replace(SESSION, alice.session)
    ws = daemon.session(alice)
    e = ev_user(alice.tenant, alice.user, required_acl=required)
    daemon.publish(e)
    assert daemon.collect(ws) == [[marker(e)] if granted else []]


def test_default_required_acl_from_routing_key(daemon):
    alice = daemon.user(acl=["websocketd", "events.chatd.users.me.#"])
    ws = daemon.session(alice)
    ok = ev_user(alice.tenant, alice.user, name="chatd_user_room_created",
                 routing_key_fmt="chatd.users.{user_uuid}.rooms.created")
    no = ev_user(alice.tenant, alice.user, name="chatd_other")   # events.chatd_other
    daemon.publish(no)
    daemon.publish(ok)
    assert daemon.collect(ws) == [[marker(ok)]]


# --- start, versions, sessions ----------------------------------------------------

def test_events_published_before_start_are_not_delivered(daemon):
    alice = daemon.user()
    ws = daemon.connect(alice)
    ws.expect_init()
    ws.subscribe("*")
    before = ev_user(alice.tenant, alice.user)
    daemon.publish(before)
    ws.assert_no_event()            # nothing before start
    ws.start()                      # first thing after start is the start reply
    after = ev_user(alice.tenant, alice.user)
    daemon.publish(after)
    assert daemon.collect(ws) == [[marker(after)]]


def test_not_started_session_receives_nothing(daemon):
    alice = daemon.user()
    ws = daemon.connect(alice)
    ws.expect_init()
    ws.subscribe("*")
    daemon.publish(ev_user(alice.tenant, alice.user))
    daemon.publish(ev_tenant(alice.tenant))
    ws.assert_no_event()


def test_v2_wraps_generated_body(daemon):
    alice = daemon.user()
    ws = daemon.session(alice, version=2)
    e = ev_user(alice.tenant, alice.user, name="chatd_user_room_created",
                routing_key_fmt="chatd.users.{user_uuid}.rooms.created",
                data={"marker": mark(), "n": 1, "nested": {"x": [1, 2]}})
    daemon.publish(e)
    msg = ws.recv_json()
    assert set(msg) == {"op", "code", "data"} and msg["op"] == "event" and msg["code"] == 0
    body = msg["data"]
    assert body["name"] == "chatd_user_room_created"
    assert body["origin_uuid"] == daemon.uuid
    assert body["tenant_uuid"] == alice.tenant
    assert body["user_uuid:" + alice.user] is True
    assert body["required_access"] == "event.chatd_user_room_created"
    assert body["required_acl"] == "events.chatd.users.%s.rooms.created" % alice.user
    assert body["data"] == e["data"]
    ts = body["timestamp"]
    assert isinstance(ts, str)
    datetime.datetime.fromisoformat(ts.replace("Z", "+00:00"))
    assert "user_uuid:*" not in body


def test_v1_receives_raw_body_v2_wraps_it(daemon):
    alice = daemon.user()
    w1 = daemon.session(alice, version=1)
    w2 = daemon.session(alice, version=2)
    body = {"name": "odd", "data": {"marker": mark(), "list": [1, "2", None]},
            "unrelated": {"k": True}, "number": 1.5}
    daemon.publish_raw(daemon.raw_headers("odd", tenant=alice.tenant, users=[alice.user]), body)
    assert w1.recv_json() == body
    assert w2.recv_json() == {"op": "event", "code": 0, "data": body}


def test_v1_and_v2_bodies_identical_for_api_events(daemon):
    alice = daemon.user()
    w1 = daemon.session(alice, version=1)
    w2 = daemon.session(alice, version=2)
    daemon.publish(ev_user(alice.tenant, alice.user))
    b1 = w1.recv_event()
    b2 = w2.recv_event()
    assert b1 == b2
    assert b1["name"] == "user_evt"


def test_raw_event_name_taken_from_header(daemon):
    alice = daemon.user()
    ws = daemon.session(alice, names=["hdr_name", SENTINEL])
    body = {"name": "body_name", "data": {"marker": mark()}}
    daemon.publish_raw(daemon.raw_headers("hdr_name", tenant=alice.tenant, users=[alice.user]),
                       body)
    assert daemon.collect(ws) == [[marker(body)]]


def test_several_sessions_of_same_user_all_receive(daemon):
    alice = daemon.user()
    alice2 = daemon.user(alice.tenant, user=alice.user)       # second token, same user
    wss = [daemon.session(alice), daemon.session(alice, version=1), daemon.session(alice2)]
    e = ev_user(alice.tenant, alice.user)
    daemon.publish(e)
    for ws in wss:
        assert ws.recv_marker() == marker(e)


def test_tenant_isolation_with_identical_user_uuid(daemon):
    ta, tb = new_uuid(), new_uuid()
    same = new_uuid()
    ua = daemon.user(ta, user=same)
    ub = daemon.user(tb, user=same)
    wa, wb = daemon.session(ua), daemon.session(ub)
    ea, eb = ev_user(ta, same), ev_user(tb, same)
    ta_all, tb_multi = ev_tenant(ta), ev_users(tb, [same])
    for e in (ea, eb, ta_all, tb_multi):
        daemon.publish(e)
    assert daemon.collect(wa, wb) == [[marker(ea), marker(ta_all)],
                                      [marker(eb), marker(tb_multi)]]


@pytest.mark.parametrize("value", [False, "true", 1, None],
                         ids=["false", "string-true", "int-1", "null"])
def test_user_header_must_be_boolean_true(daemon, value):
    alice = daemon.user()
    ws = daemon.session(alice)
    h = daemon.raw_headers("evt", tenant=alice.tenant)
    h["user_uuid:" + alice.user] = value
    daemon.publish_raw(h, {"name": "evt", "data": {"marker": mark()}})
    assert daemon.collect(ws) == [[]]


def test_user_header_without_tenant_header_not_delivered_to_user(daemon):
    t, (u, adm, m), wss = _all_roles(daemon)
    body = {"name": "evt", "data": {"marker": mark()}}
    daemon.publish_raw(daemon.raw_headers("evt", users=[u.user], all_users=True), body)
    # user and admin need tenant_uuid == their tenant; master gets everything
    assert daemon.collect(*wss) == [[], [], [marker(body)]]


def test_raw_event_for_other_tenant_with_star(daemon):
    alice = daemon.user()
    ws = daemon.session(alice)
    body = {"name": "evt", "data": {"marker": mark()}}
    daemon.publish_raw(daemon.raw_headers("evt", tenant=new_uuid(), users=[alice.user],
                                          all_users=True), body)
    assert daemon.collect(ws) == [[]]
