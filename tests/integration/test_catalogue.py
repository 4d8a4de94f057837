"""tenbusd with an event catalogue (tenbus.catalogue, docs/catalogue.md):
POST /api/events checks events of catalogued names against their level and
content schema (400 naming the JSON path, nothing published), strict mode
refuses uncatalogued names, GET /api/catalogue and GET /docs/ serve the
catalogue. Each check runs on both publish paths: the plain event shape
(the DOM-free fast path) and the same event with a `headers` member (the
general path)."""

import os
import shutil
import subprocess

import pytest
import yaml

import tenbus_harness as th
from tenbus_harness import SENTINEL, mark, new_uuid

CATALOGUE = os.path.join(th.REPO, "examples", "catalogue")
PATHS = ["fast", "general"]


def catalogue_dir(tmp_path):
    """The shipped catalogue plus the harness's sentinel event (collect()
    publishes it, and strict mode would refuse it otherwise)."""
    d = tmp_path / "catalogue"
    shutil.copytree(CATALOGUE, d)
    (d / "zz-tests.yml").write_text(
        "service: tests\nevents:\n  - name: %s\n    level: user\n" % SENTINEL)
    return str(d)


@pytest.fixture(params=[False, True], ids=["lax", "strict"])
def cat(make_daemon, tmp_path, request):
    d = make_daemon()
    d.strict = request.param
    d.start(["-o", "tenbus.catalogue=" + catalogue_dir(tmp_path),
             "-o", "tenbus.catalogue_strict=%s" % ("true" if request.param else "false")])
    d.watcher = d.session(d.master())
    return d


def shaped(event, path):
    """The event as the given publish path takes it."""
    e = dict(event)
    if path == "general":
        e["headers"] = {}
    return e


def user_event(name, data, **kw):
    e = {"name": name, "tenant_uuid": new_uuid(), "user_uuid": new_uuid(), "data": data}
    e.update(kw)
    return e


@pytest.mark.parametrize("path", PATHS)
def test_valid_catalogued_events_are_published(cat, path):
    alice = cat.token(tenant=new_uuid())
    ws = cat.session(alice)
    m1, m2, m3 = mark(), mark(), mark()
    cat.publish(shaped({"name": "do_something", "tenant_uuid": alice.tenant,
                        "user_uuid": alice.user, "data": {"thing": "reload", "marker": m1}}, path))
    cat.publish(shaped({"name": "call_ended", "tenant_uuid": alice.tenant, "user_uuid": alice.user,
                        "data": {"call_id": "1.2", "reason_code": 16, "duration": 3.5,
                                 "hangup_time": None, "marker": m2}}, path))
    cat.publish(shaped({"name": "conference_participant_joined", "tenant_uuid": alice.tenant,
                        "user_uuids": [alice.user, new_uuid()],
                        "data": {"conference_id": 3, "id": "9.1", "user_uuid": None, "marker": m3}},
                       path))
    assert cat.collect(ws) == [[m1, m2, m3]]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("event,field,message", [
    (user_event("call_ended", {"call_id": "x", "reason_code": "16"}),
     "data.reason_code", "expected integer, got string"),
    (user_event("call_ended", {"reason_code": 16}), "data.call_id", "required but missing"),
    (user_event("call_created", {"call_id": "x", "status": "Up", "creation_time": "yesterday"}),
     "data.creation_time", "expected an RFC 3339 date-time"),
    (user_event("call_created", {"call_id": "x", "status": "Dialing",
                                 "creation_time": "2026-01-01T00:00:00Z"}),
     "data.status", 'must be one of ["Down","Ring","Ringing","Up"]'),
    ({"name": "line_edited", "tenant_uuid": new_uuid(),
      "data": {"line": {"id": 1, "protocol": "iax"}}},
     "data.line.protocol", 'must be one of ["sip","sccp","custom"]'),
    ({"name": "chatd_presence_updated", "tenant_uuid": new_uuid(),
      "data": {"uuid": new_uuid(), "state": "away", "mood": "happy"}},
     "data.mood", "not a property of this event (additionalProperties is false)"),
    ({"name": "auth_user_created", "data": {"uuid": "nope", "tenant_uuid": new_uuid(),
                                            "username": "a"}},
     "data.uuid", "expected a uuid"),
    (user_event("do_something", [1, 2]), "data", "expected object, got array"),
    (user_event("call_ended", None), "data", "expected object, got null"),
    ({"name": "do_something", "tenant_uuid": new_uuid(), "data": {}},
     "level", "the catalogue makes do_something a user event, not tenant"),
    ({"name": "auth_user_created", "tenant_uuid": new_uuid(),
      "data": {"uuid": new_uuid(), "tenant_uuid": new_uuid(), "username": "a"}},
     "level", "the catalogue makes auth_user_created a service event, not tenant"),
], ids=["type", "required", "date-time", "enum", "nested", "closed-object", "uuid",
        "data-not-object", "data-null", "level", "service-level"])
def test_invalid_catalogued_event_400_names_json_path(cat, path, event, field, message):
    status, body = cat.publish(shaped(event, path), expect=None)
    assert status == 400, body
    assert body == {"error": "invalid_event", "field": field, "message": message}, body
    assert cat.collect(cat.watcher) == [[]]


@pytest.mark.parametrize("path", PATHS)
def test_batch_with_one_invalid_event_publishes_nothing(cat, path):
    ok = shaped(user_event("do_something", {"marker": mark()}), path)
    bad = shaped(user_event("call_ended", {"call_id": 7, "reason_code": 1}), path)
    status, body = cat.publish([ok, bad], expect=None)
    assert status == 400
    assert body["field"] == "data.call_id" and body["index"] == 1, body
    assert cat.collect(cat.watcher) == [[]]


@pytest.mark.parametrize("path", PATHS)
def test_uncatalogued_names(cat, path):
    m = mark()
    event = shaped({"name": "not_in_catalogue", "tenant_uuid": new_uuid(),
                    "data": {"marker": m, "anything": [1]}}, path)
    status, body = cat.publish([shaped(user_event("do_something", {"marker": mark()}), path),
                                event], expect=None)
    if not cat.strict:
        assert (status, body) == (202, {"published": 2})
        assert m in cat.collect(cat.watcher)[0]
    else:
        assert status == 400
        assert body == {"error": "invalid_event", "field": "name", "index": 1,
                        "message": "not an event of the catalogue (tenbus.catalogue_strict is on)"}
        assert cat.collect(cat.watcher) == [[]]


def test_get_api_catalogue(cat):
    status, body = cat.get("/api/catalogue")
    assert status == 200
    want = []
    for f in sorted(os.listdir(CATALOGUE)):
        with open(os.path.join(CATALOGUE, f)) as fh:
            doc = yaml.safe_load(fh)
        for ev in doc["events"]:
            want.append((ev.get("service", doc.get("service")), ev["name"]))
    want.append(("tests", SENTINEL))
    got = [(e["service"], e["name"]) for e in body["events"]]
    assert got == sorted(want)
    ds = next(e for e in body["events"] if e["name"] == "do_something")
    assert ds["level"] == "user" and ds["routing_key_fmt"] == "config.{user_uuid}"
    assert ds["required_acl"] is None
    assert ds["content"]["properties"]["thing"]["type"] == "string"
    room = next(e for e in body["events"] if e["name"] == "chatd_user_room_message_created")
    assert room["headers"]["room_uuid"]["format"] == "uuid"


def test_get_docs(cat):
    status, index = cat.get("/docs/")
    assert status == 200 and index.startswith("<!DOCTYPE html>")
    for svc in ("auth", "calld", "chatd", "confd", "tests"):
        assert 'href="%s.html"' % svc in index
        assert 'href="%s.asyncapi.json"' % svc in index
    status, page = cat.get("/docs/confd.html")
    assert status == 200
    assert '<code class="routing-key">config.{user_uuid}</code>' in page
    assert "<script" not in page and "http://" not in page and "https://" not in page
    status, doc = cat.get("/docs/confd.asyncapi.json")
    assert status == 200 and doc["asyncapi"] == "3.0.0"
    assert "do_something" in doc["components"]["messages"]
    status, moved = cat.get("/docs")
    assert status == 200 and 'url=/docs/' in moved
    assert cat.get("/docs/nope.html")[0] == 404
    assert cat.get("/docs/../tokens.yml")[0] == 404


def test_no_catalogue_configured(make_daemon):
    d = make_daemon()
    d.start()
    status, body = d.get("/api/catalogue")
    assert status == 404 and body["error"] == "not_found", body
    assert d.get("/docs/")[0] == 404
    # without a catalogue, any event shape is published as before
    d.publish({"name": "do_something", "tenant_uuid": new_uuid(), "data": [1]})


def test_bad_catalogue_stops_the_start(make_daemon, tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("service: confd\nevents:\n  - name: x\n    level: everyone\n")
    d = make_daemon()
    with pytest.raises(th.DaemonError):
        d.start(["-o", "tenbus.catalogue=" + str(bad)])
    assert "%s:4: events[0].level: must be one of service, tenant, user, multi_user" % bad \
        in d.log_text()
    d.write_config()
    r = subprocess.run([th.TENBUSD, "-c", d.conf_path, "--check-config", "-o",
                        "tenbus.catalogue=" + str(bad)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert r.stderr == "tenbusd: %s:4: events[0].level: must be one of service, tenant, user, " \
                       "multi_user\n" % bad
    r = subprocess.run([th.TENBUSD, "-c", d.conf_path, "--check-config", "-o",
                        "tenbus.catalogue_strict=true"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "tenbus.catalogue_strict needs a tenbus.catalogue" in r.stderr
