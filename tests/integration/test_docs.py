"""`tenbus docs` and `tenbus catalogue check` (docs/catalogue.md) on the
shipped catalogue (examples/catalogue): every AsyncAPI document it writes
must validate with the official parser (@asyncapi/parser, tests/docs), and
the HTML reference must render offline in headless Chromium (Debian's
/usr/bin/chromium driven by playwright-core): the index lists every service,
and a service page, reached by clicking its link, shows an event's routing
key and payload fields.

Needs node, npm and chromium; without them the Node.js checks skip, unless
TENBUS_DOCS=1 (set by scripts/test.sh), where they fail instead."""

import fcntl
import json
import os
import shutil
import subprocess

import pytest
import yaml  # python3-yaml (scripts/deps.sh test)

import tenbus_harness as th

CATALOGUE = os.path.join(th.REPO, "examples", "catalogue")
DOCS_DIR = os.path.join(th.REPO, "tests", "docs")
REQUIRED = os.environ.get("TENBUS_DOCS") == "1"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def cli(*args, check=None):
    if not os.access(th.TENBUS_CLI, os.X_OK):
        pytest.skip("tenbus not built: %s (set TENBUS_CLI)" % th.TENBUS_CLI)
    r = subprocess.run([th.TENBUS_CLI, *args], capture_output=True, text=True, timeout=60)
    if check is not None:
        assert r.returncode == check, (r.returncode, r.stdout, r.stderr)
    return r


def shipped_types():
    """(service, name, level, routing key) of every event type of the shipped
    catalogue, read from the YAML by Python, independently of the C loader."""
    out = []
    for f in sorted(os.listdir(CATALOGUE)):
        with open(os.path.join(CATALOGUE, f)) as fh:
            doc = yaml.safe_load(fh)
        for ev in doc["events"]:
            out.append((ev.get("service", doc.get("service")), ev["name"], ev["level"],
                        ev.get("routing_key_fmt", ev["name"])))
    return out


@pytest.fixture(scope="module")
def node():
    """node with tests/docs/node_modules installed from package-lock.json
    (`npm ci` once, under a lock, unless scripts/test.sh ran it)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    why = None
    if not node or not npm:
        why = "node/npm not installed"
    elif not os.access(CHROMIUM, os.X_OK):
        why = "chromium not installed at %s (scripts/deps.sh test)" % CHROMIUM
    else:
        with open(os.path.join(DOCS_DIR, ".npm-ci.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not os.path.isdir(os.path.join(DOCS_DIR, "node_modules", "playwright-core")):
                r = subprocess.run([npm, "ci", "--prefix", DOCS_DIR, "--no-audit", "--no-fund",
                                    "--prefer-offline", "--loglevel=error"],
                                   stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                   timeout=300)
                if r.returncode != 0:
                    why = "npm ci in tests/docs failed:\n" + r.stderr[-2000:]
    if why:
        if REQUIRED:
            pytest.fail("TENBUS_DOCS=1 but " + why, pytrace=False)
        pytest.skip(why)
    return node


@pytest.fixture(scope="module")
def docs(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("docs") / "out")
    r = cli("docs", CATALOGUE, "-o", out, check=0)
    assert r.stdout.startswith("15 event types, 9 files written to "), r.stdout
    return out


# --- tenbus catalogue check / tenbus docs -------------------------------------

def test_catalogue_check_ok():
    r = cli("catalogue", "check", CATALOGUE, check=0)
    assert r.stdout == "ok: 15 event types, 4 services\n"


def test_catalogue_check_names_file_line_key(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("service: confd\nevents:\n  - name: x\n    level: user\n"
                   "    content:\n      type: object\n      properties:\n"
                   "        n: {type: integer, format: uuid}\n")
    r = cli("catalogue", "check", CATALOGUE, str(bad), check=1)
    assert r.stderr.strip() == ("tenbus: %s:8: events[0].content.properties.n.format: "
                                "format applies to strings only" % bad), r.stderr
    dup = tmp_path / "dup.yml"
    dup.write_text("service: other\nevents:\n  - name: do_something\n    level: tenant\n")
    r = cli("catalogue", "check", CATALOGUE, str(dup), check=1)
    assert "dup.yml:3: events[0]: event do_something is already declared at " in r.stderr
    assert "confd.yml:5" in r.stderr, r.stderr
    r = cli("docs", str(bad), "-o", str(tmp_path / "never"), check=1)
    assert not (tmp_path / "never").exists()


def test_docs_files(docs):
    names = sorted(os.listdir(docs))
    services = sorted({t[0] for t in shipped_types()})
    assert names == sorted(["index.html"] + [s + ".html" for s in services]
                           + [s + ".asyncapi.json" for s in services])


def test_asyncapi_content(docs):
    """Channels are the routing keys on the wazo-headers exchange; headers
    follow the level."""
    for service, name, level, rk in shipped_types():
        with open(os.path.join(docs, service + ".asyncapi.json")) as f:
            doc = json.load(f)
        assert doc["asyncapi"] == "3.0.0"
        assert doc["servers"]["rabbitmq"]["protocol"] == "amqp"
        chans = [c for c in doc["channels"].values() if c["address"] == rk]
        assert len(chans) == 1, (name, rk)
        assert chans[0]["bindings"]["amqp"]["exchange"]["name"] == "wazo-headers"
        assert name in chans[0]["messages"]
        msg = doc["components"]["messages"][name]
        hdr = msg["headers"]
        assert hdr["properties"]["name"]["const"] == name
        assert "required_acl" in hdr["required"]
        assert ("tenant_uuid" in hdr["required"]) == (level != "service")
        assert ("user_uuid:*" in hdr["required"]) == (level == "tenant")
        assert ("patternProperties" in hdr) == (level in ("user", "multi_user"))
        assert msg["payload"]["properties"]["data"]["type"] == "object"
        assert doc["operations"][name]["action"] == "send"
        ex = msg["examples"][0]["payload"]
        assert ex["name"] == name and "data" in ex


def test_asyncapi_documents_validate(node, docs):
    files = sorted(os.path.join(docs, f) for f in os.listdir(docs) if f.endswith(".asyncapi.json"))
    r = subprocess.run([node, os.path.join(DOCS_DIR, "asyncapi_check.mjs"), *files],
                       capture_output=True, text=True, timeout=120)
    results = [json.loads(line) for line in r.stdout.splitlines()]
    assert [x["file"] for x in results] == files, r.stderr
    for x in results:
        assert x["ok"] and x["errors"] == [] and x["warnings"] == [], x
        assert x["version"] == "3.0.0" and x["messages"] > 0, x
    assert r.returncode == 0
    assert sum(x["messages"] for x in results) == len(shipped_types())


def test_asyncapi_parser_catches_a_broken_document(node, docs, tmp_path):
    """The check is not a rubber stamp: a dangling message reference fails."""
    with open(os.path.join(docs, "confd.asyncapi.json")) as f:
        doc = json.load(f)
    del doc["components"]["messages"]["do_something"]
    bad = tmp_path / "broken.json"
    bad.write_text(json.dumps(doc))
    r = subprocess.run([node, os.path.join(DOCS_DIR, "asyncapi_check.mjs"), str(bad)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert not json.loads(r.stdout)["ok"]


def test_html_renders_in_chromium(node, docs, tmp_path):
    shot = tmp_path / "chatd.png"
    r = subprocess.run([node, os.path.join(DOCS_DIR, "render_check.mjs"),
                        "file://" + os.path.join(docs, "index.html"), "chatd",
                        "chatd_user_room_message_created", str(shot)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    seen = json.loads(r.stdout)
    services = sorted({t[0] for t in shipped_types()})
    assert [s["text"] for s in seen["services"]] == services
    assert [s["href"] for s in seen["services"]] == [s + ".html" for s in services]
    page = seen["page"]
    assert page["url"].endswith("/chatd.html") and page["title"] == "chatd events"
    assert page["routingKey"] == "chatd.users.*.rooms.{room_uuid}.messages.created"
    assert page["visible"]
    assert page["level"] == "multi_user" and page["who"] == "the listed users"
    assert page["acl"] == "events.chatd.users.me.rooms.{room_uuid}.messages.created"
    assert page["payloadFields"] == ["uuid", "content", "alias", "user_uuid", "tenant_uuid",
                                     "created_at", "room", "room.uuid"]
    assert "room_uuid" in page["headers"]
    example = json.loads(page["example"])
    assert example["name"] == "chatd_user_room_message_created"
    assert example["room_uuid"] and example["data"]["content"] == "hi there"
    # Offline: the browser asked for the reference's own two files, nothing else.
    assert seen["requests"] == ["file://" + os.path.join(docs, f) for f in ("index.html", "chatd.html")]
    assert shot.stat().st_size > 10000
