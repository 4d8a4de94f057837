"""The Debian packages (debian/): built once with `dpkg-buildpackage -us -uc
-b` from a copy of the source tree (Release, no sanitizers, ~1 min), then
unpacked into a scratch root with `dpkg -x`:

* lintian reports no error;
* each package holds what it should (daemon, default config, example event
  catalogue; tools; shared library with its soname; headers + static
  library + tenbus.pc);
* `systemd-analyze verify` accepts the unit;
* a C program using events, the AMQP codec and a catalogue, built only with
  `pkg-config --cflags --libs tenbus`, links and runs against the unpacked
  shared library, and against the static one with `pkg-config --static`;
* the unpacked tenbusd runs on the unpacked default configuration
  (/etc/tenbus/tenbusd.yml, bound over /etc/tenbus in a private mount
  namespace when root, else a copy with its /etc/tenbus paths relocated),
  a WebSocket session connects and receives an event published with the
  unpacked `tenbus` command; with the shipped catalogue configured,
  /api/catalogue and /docs/ serve it.

Needs dpkg-buildpackage and the build dependencies (scripts/deps.sh
package); without them these tests skip, unless TENBUS_PACKAGE=1 (set by
scripts/test.sh, which installs them), where they fail.
"""

import glob
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request

import pytest

import tenbus_harness as th

REQUIRED = os.environ.get("TENBUS_PACKAGE") == "1"
PACKAGES = ("tenbusd", "tenbus-tools", "libtenbus0", "libtenbus-dev")


def _unavailable(reason):
    if REQUIRED:
        pytest.fail("TENBUS_PACKAGE=1 but " + reason, pytrace=False)
    pytest.skip(reason)


def run(cmd, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    return subprocess.run(cmd, **kw)


@pytest.fixture(scope="module")
def debs(tmp_path_factory):
    """{package: path of its .deb}, built once per module."""
    for tool in ("dpkg-buildpackage", "dpkg-checkbuilddeps", "git"):
        if not shutil.which(tool):
            _unavailable("%s not installed (scripts/deps.sh package)" % tool)
    out = tmp_path_factory.mktemp("deb")
    src = out / "src"
    src.mkdir()
    # The tree as committed plus uncommitted files, without ignored ones
    # (build directories, node_modules).
    files = run(["git", "-C", th.REPO, "ls-files", "-z", "-c", "-o", "--exclude-standard"],
                text=False).stdout.split(b"\0")
    for f in files:
        if not f:
            continue
        rel = f.decode()
        s = os.path.join(th.REPO, rel)
        if not os.path.isfile(s):
            continue
        d = src / rel
        d.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(s, d)
    r = run(["dpkg-checkbuilddeps"], cwd=str(src))
    if r.returncode != 0:
        _unavailable("build dependencies missing: %s" % r.stderr.strip())
    log = out / "build.log"
    with open(log, "w") as f:
        r = subprocess.run(["dpkg-buildpackage", "-us", "-uc", "-b", "-j2"], cwd=str(src),
                           stdout=f, stderr=subprocess.STDOUT, timeout=900)
    if r.returncode != 0:
        raise AssertionError("dpkg-buildpackage failed:\n" + log.read_text()[-6000:])
    found = {}
    for p in PACKAGES:
        m = glob.glob(str(out / ("%s_*.deb" % p)))
        assert len(m) == 1, "no single %s .deb in %s" % (p, os.listdir(out))
        found[p] = m[0]
    found["_changes"] = glob.glob(str(out / "*.changes"))[0]
    return found


@pytest.fixture(scope="module")
def root(debs, tmp_path_factory):
    """The four packages unpacked into one scratch root."""
    r = tmp_path_factory.mktemp("root")
    for p in PACKAGES:
        res = run(["dpkg", "-x", debs[p], str(r)])
        assert res.returncode == 0, res.stderr
    return r


@pytest.fixture(scope="module")
def multiarch():
    return run(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"]).stdout.strip()


def contents(deb):
    out = run(["dpkg-deb", "-c", deb]).stdout
    return {line.split()[5].lstrip(".") for line in out.splitlines()}


def test_lintian_has_no_error(debs):
    if not shutil.which("lintian"):
        _unavailable("lintian not installed")
    r = run(["lintian", "--tag-display-limit", "0", debs["_changes"]], timeout=300)
    errors = [l for l in r.stdout.splitlines() if l.startswith("E:")]
    assert not errors, r.stdout


def test_package_contents(debs, multiarch):
    lib = "/usr/lib/%s" % multiarch
    d = contents(debs["tenbusd"])
    for f in ("/usr/sbin/tenbusd", "/etc/tenbus/tenbusd.yml", "/etc/tenbus/tokens.yml",
              "/etc/tenbus/conf.d/", "/lib/systemd/system/tenbusd.service",
              "/usr/share/man/man8/tenbusd.8.gz"):
        assert f in d, (f, sorted(d))
    assert {"/usr/share/doc/tenbusd/catalogue.md", "/usr/share/doc/tenbusd/catalogue.md.gz"} & d
    # the example catalogue the default configuration names, all of it
    shipped = {f for f in d if f.startswith("/usr/share/tenbus/catalogue/")}
    want = {"/usr/share/tenbus/catalogue/" + f
            for f in os.listdir(os.path.join(th.REPO, "examples", "catalogue")) if f.endswith(".yml")}
    assert want and want <= shipped, (want, shipped)
    t = contents(debs["tenbus-tools"])
    assert "/usr/bin/tenbus" in t and "/usr/share/man/man1/tenbus.1.gz" in t
    so = contents(debs["libtenbus0"])
    assert "%s/libtenbus.so.0" % lib in so
    assert "%s/libtenbus.so.0.1.0" % lib in so
    assert not [f for f in so if f.endswith("libtenbus.so") or f.endswith(".h")]
    dev = contents(debs["libtenbus-dev"])
    for f in ("/usr/include/tenbus/tenbus.h", "/usr/include/tenbus/event.h",
              "/usr/include/tenbus/wire.h", "/usr/include/tenbus/wire_amqp.h",
              "/usr/include/tenbus/catalogue.h",
              "%s/libtenbus.so" % lib, "%s/libtenbus.a" % lib, "%s/pkgconfig/tenbus.pc" % lib):
        assert f in dev, (f, sorted(dev))
    # every public header is shipped, whatever include/tenbus holds
    for h in glob.glob(os.path.join(th.REPO, "include", "tenbus", "*.h")):
        assert "/usr/include/tenbus/" + os.path.basename(h) in dev
    info = run(["dpkg-deb", "-f", debs["libtenbus-dev"], "Depends"]).stdout
    assert "libtenbus0 (= 0.1.0)" in info
    # what tenbus.pc requires (below) must be installable with it
    for dev in ("libjansson-dev", "librabbitmq-dev", "libyaml-dev", "libssl-dev"):
        assert dev in info, (dev, info)


def test_soname_and_exports(root, multiarch):
    so = root / "usr" / "lib" / multiarch / "libtenbus.so.0.1.0"
    d = run(["readelf", "-d", str(so)]).stdout
    assert "Library soname: [libtenbus.so.0]" in d
    syms = run(["nm", "-D", "--defined-only", str(so)]).stdout.split()
    exported = {s for s in syms if s.startswith("tb")}
    assert {"tb_event_new", "tb_acl_grants", "tb_strerror"} <= exported
    assert {"tb_wire_encode", "tb_wire_amqp", "tb_catalogue_load", "tb_event_validate"} <= exported
    assert not [s for s in syms if s.startswith(("tbd_", "tb__", "ws__", "route__"))], \
        "internals exported"


def test_systemd_unit_verifies(root, tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze not available")
    unit = (root / "lib" / "systemd" / "system" / "tenbusd.service").read_text()
    for key in ("Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure",
                "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes", "User=tenbus",
                "LimitNOFILE="):
        assert key in unit, key
    # The binary is in the scratch root, not /usr/sbin: point the unit there.
    relocated = tmp_path / "tenbusd.service"
    relocated.write_text(unit.replace("/usr/sbin/tenbusd", str(root / "usr/sbin/tenbusd")))
    env = dict(os.environ, MANPATH=str(root / "usr" / "share" / "man"))
    r = run(["systemd-analyze", "verify", str(relocated)], env=env)
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr


PROGRAM = r"""
#include <stdio.h>
#include <string.h>
#include <tenbus/tenbus.h>
#include <tenbus/catalogue.h>
#include <tenbus/wire_amqp.h>

static const tb_event_type evt = {
    .service = "confd", .name = "do_something", .level = TB_LEVEL_USER,
    .routing_key_fmt = "config.{user_uuid}",
};

static const char catalogue[] =
    "service: confd\n"
    "events:\n"
    "  - name: do_something\n"
    "    level: user\n"
    "    routing_key_fmt: config.{user_uuid}\n"
    "    content: {type: object, properties: {thing: {type: string}}}\n";

int main(void)
{
    /* event.h: a typed event, jansson headers */
    json_t *content = json_pack("{s:s}", "k", "v");
    tb_event_args args = { .tenant_uuid = "t1", .user_uuid = "u1", .content = content };
    tb_event *ev;
    tb_err rc = tb_event_new(&evt, &args, "stack", &ev);
    if (rc != TB_OK) {
        fprintf(stderr, "%s\n", tb_strerror(rc));
        return 1;
    }
    char *h = json_dumps(tb_event_headers(ev), JSON_COMPACT | JSON_SORT_KEYS);
    printf("%s %s\n", tb_event_routing_key(ev), h);
    free(h);
    tb_event_free(ev);
    json_decref(content);

    /* catalogue.h: a catalogue from YAML (libyaml, inside the library) */
    tb_catalogue *cat;
    char err[256];
    if (tb_catalogue_new(&cat) != TB_OK ||
        tb_catalogue_add_buf(cat, catalogue, strlen(catalogue), "prog.yml", err, sizeof err) != TB_OK) {
        fprintf(stderr, "catalogue: %s\n", err);
        return 1;
    }
    json_t *bad = json_pack("{s:i}", "thing", 1);
    rc = tb_event_validate(tb_catalogue_find(cat, "do_something"), bad, err, sizeof err);
    printf("%zu %s %s\n", tb_catalogue_count(cat), rc == TB_OK ? "valid" : "invalid", err);
    json_decref(bad);
    tb_catalogue_free(cat);

    /* wire_amqp.h: the AMQP header table (rabbitmq-c types) */
    tb_wire_event we = { .name = "do_something", .level = TB_LEVEL_USER, .tenant_uuid = "t1",
                         .user_uuid = "u1", .routing_key = "config.u1", .origin_uuid = "stack" };
    amqp_pool_t pool;
    amqp_table_t table;
    tb_wire_text body = {0};
    init_amqp_pool(&pool, 4096);
    if (tb_wire_amqp(&we, &pool, &table, &body) != TB_OK)
        return 1;
    for (int i = 0; i < table.num_entries; i++) {
        const amqp_table_entry_t *e = &table.entries[i];
        if (e->value.kind == AMQP_FIELD_KIND_BOOLEAN)
            printf("%.*s=%s ", (int)e->key.len, (const char *)e->key.bytes,
                   e->value.value.boolean ? "true" : "false");
    }
    printf("%d\n", table.num_entries);
    tb_wire_text_free(&body);
    empty_amqp_pool(&pool);
    return 0;
}
"""


def _check_program_output(out):
    lines = out.splitlines()
    assert len(lines) == 3, out
    key, headers = lines[0].split(" ", 1)
    assert key == "config.u1"
    h = json.loads(headers)
    assert h["name"] == "do_something" and h["tenant_uuid"] == "t1" and h["user_uuid:u1"] is True
    assert h["required_acl"] == "events.config.u1" and h["origin_uuid"] == "stack"
    # the catalogue names the JSON path of the bad field
    assert lines[1].startswith("1 invalid data.thing"), lines[1]
    # the same seven headers as an AMQP table, user_uuid:u1 a boolean
    assert lines[2] == "user_uuid:u1=true %d" % len(h), lines[2]


def test_pkg_config_program_links_and_runs(root, multiarch, tmp_path):
    """Built only with pkg-config's flags: shared, then static (Requires.private
    must bring everything libtenbus.a needs)."""
    if not shutil.which("pkg-config") or not shutil.which("cc"):
        pytest.skip("pkg-config or cc not installed")
    libdir = root / "usr" / "lib" / multiarch
    env = dict(os.environ,
               PKG_CONFIG_SYSROOT_DIR=str(root),
               PKG_CONFIG_PATH=str(libdir / "pkgconfig"))
    pc = (libdir / "pkgconfig" / "tenbus.pc").read_text()
    assert "\nRequires: jansson librabbitmq\n" in pc, pc
    assert "\nRequires.private: yaml-0.1 libcrypto\n" in pc, pc
    flags = run(["pkg-config", "--cflags", "--libs", "tenbus"], env=env)
    assert flags.returncode == 0, flags.stderr
    assert "-ltenbus" in flags.stdout and str(root) in flags.stdout
    assert "-lrabbitmq" in flags.stdout and "-lyaml" not in flags.stdout, flags.stdout
    src = tmp_path / "prog.c"
    src.write_text(PROGRAM)
    exe = tmp_path / "prog"
    r = run(["sh", "-c", 'cc -Wall -Werror -o "$1" "$2" $(pkg-config --cflags --libs tenbus)', "sh",
             str(exe), str(src)], env=env)
    assert r.returncode == 0, r.stderr
    env_run = dict(os.environ, LD_LIBRARY_PATH=str(libdir))
    ldd = run(["ldd", str(exe)], env=env_run).stdout
    assert "libtenbus.so.0 => %s/libtenbus.so.0" % libdir in ldd, ldd
    out = run([str(exe)], env=env_run)
    assert out.returncode == 0, out.stderr
    _check_program_output(out.stdout)

    static = run(["pkg-config", "--static", "--libs", "tenbus"], env=env)
    assert static.returncode == 0, static.stderr
    assert "-lyaml" in static.stdout and "-lcrypto" in static.stdout, static.stdout
    # libtenbus.a itself; everything else as pkg-config --static says
    rest = [f for f in static.stdout.split() if f != "-ltenbus"]
    exe_a = tmp_path / "prog_static"
    r = run(["sh", "-c", 'o=$1; s=$2; a=$3; shift 3; cc -Wall -Werror -o "$o" "$s" '
             '$(pkg-config --cflags tenbus) "$a" "$@"', "sh", str(exe_a), str(src),
             str(libdir / "libtenbus.a")] + rest, env=env)
    assert r.returncode == 0, r.stderr
    assert "libtenbus" not in run(["ldd", str(exe_a)]).stdout
    out = run([str(exe_a)])
    assert out.returncode == 0, out.stderr
    _check_program_output(out.stdout)


def _can_bind_etc():
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    r = run(["unshare", "--mount", "--propagation", "private", "true"])
    return r.returncode == 0


def test_installed_daemon_runs_on_default_config(root, tmp_path):
    etc = root / "etc" / "tenbus"
    conf = etc / "tenbusd.yml"
    text = conf.read_text()
    assert "tokens_file: /etc/tenbus/tokens.yml" in text
    assert "extra_config_files: /etc/tenbus/conf.d" in text
    # What the package's postinst does: a stack uuid in conf.d.
    uuid = th.new_uuid()
    (etc / "conf.d" / "50-uuid.yml").write_text("uuid: %s\n" % uuid)
    # The example catalogue, as the default configuration's comment says
    # (here at its unpacked place).
    assert "# catalogue: /usr/share/tenbus/catalogue\n" in text
    shipped = root / "usr" / "share" / "tenbus" / "catalogue"
    (etc / "conf.d" / "60-catalogue.yml").write_text("tenbus: {catalogue: %s}\n" % shipped)
    master = "00000000-0000-4000-8000-000000000000"      # the shipped placeholder
    assert "master_tenant_uuid: %s" % master in text
    tenant = th.new_uuid()
    user = th.Token(tenant=tenant)
    publisher = th.Token(tenant=master, purpose="internal", acl=["tenbus.publish.#"])
    (etc / "tokens.yml").write_text(json.dumps({"tokens": [user.to_json(), publisher.to_json()]}))

    port = th.free_port()
    tenbusd = str(root / "usr" / "sbin" / "tenbusd")
    created_etc = False
    if _can_bind_etc():
        if not os.path.exists("/etc/tenbus"):
            os.mkdir("/etc/tenbus")
            created_etc = True
        how = "mount namespace"
        prefix = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                  'd=$1; b=$2; shift 2; mount --bind "$d" /etc/tenbus && '
                  'exec "$b" -c /etc/tenbus/tenbusd.yml "$@"', "sh", str(etc), tenbusd]
        check = prefix + ["--check-config"]
        cmd = prefix + ["-p", str(port)]
    else:
        how = "relocated copy"
        moved = tmp_path / "tenbusd.yml"
        moved.write_text(text.replace("/etc/tenbus", str(etc)))
        check = [tenbusd, "-c", str(moved), "--check-config"]
        cmd = [tenbusd, "-c", str(moved), "-p", str(port)]
    logf = tmp_path / "tenbusd.log"
    proc = None
    try:
        r = run(check)
        assert r.returncode == 0 and "configuration OK" in r.stdout, (how, r.stdout, r.stderr)
        with open(logf, "wb") as lf:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=lf,
                                    stderr=subprocess.STDOUT)
        th.wait_for(lambda: th.port_open(port) or proc.poll() is not None, timeout=10,
                    message="installed tenbusd listening")
        assert proc.poll() is None, logf.read_text()

        url = "ws://127.0.0.1:%d/?token=%s&version=2" % (port, user.id)
        ws = th.WS.connect(url, version=2)
        ws.expect_init(2)
        ws.subscribe("*")
        ws.start()
        m = th.mark()
        tenbus = str(root / "usr" / "bin" / "tenbus")
        r = run([tenbus, "publish", "--url", "http://127.0.0.1:%d" % port, "--token", publisher.id,
                 "--name", "pkg_check", "--tenant", tenant, "--user", user.user,
                 "--data", json.dumps({"marker": m})])
        assert r.returncode == 0, r.stderr
        ev = ws.recv_event()
        assert ev["name"] == "pkg_check" and ev["data"]["marker"] == m
        assert ev["origin_uuid"] == uuid
        ws.close()

        base = "http://127.0.0.1:%d" % port
        with urllib.request.urlopen(base + "/api/catalogue", timeout=10) as resp:
            names = {e["name"] for e in json.load(resp)["events"]}
        assert len(names) == 15 and "do_something" in names, names
        with urllib.request.urlopen(base + "/docs/", timeout=10) as resp:
            assert resp.status == 200 and "text/html" in resp.headers["Content-Type"]

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        log = logf.read_text()
        assert "tenbusd listening on 127.0.0.1:%d" % port in log
        assert user.id not in log and publisher.id not in log
    finally:
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait()
        if created_etc:
            for _ in range(50):
                try:
                    os.rmdir("/etc/tenbus")
                    break
                except OSError:
                    time.sleep(0.1)
