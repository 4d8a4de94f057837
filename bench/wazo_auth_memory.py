#!/usr/bin/python3
"""Idle memory per session with the wazo-auth backend (issue 9, item 5).

Serves the bench population's tokens from the wazo-auth test double
(tests/integration/wazo_auth_double.py, in this process), with ACL lists
taken from shared policies, and runs `tenbus-bench --scenario idle` against a
tenbusd spawned with `tenbus.auth_backend=wazo-auth` pointing at the double.
Every session has its own token, user and session uuid; every user of a
policy carries that policy's list, as wazo-auth hands out. The bench prints
the daemon's RSS before and after connecting and the bytes per session.

Three processes: this one (the double: one short HTTP/1.0 connection per
lookup), tenbus-bench (one descriptor per session) and tenbusd (one per
session), so each stays under the 20,000 open-files cap at 15,000 sessions.

    bench/wazo_auth_memory.py --bench build-rel/tenbus-bench --sessions 15000 --acl policies40
    bench/wazo_auth_memory.py --bench build-rel/tenbus-bench --sessions 15000 --acl flat2

Other arguments after `--` go to tenbus-bench as they are.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

from wazo_auth_double import WazoAuthDouble  # noqa: E402

MASTER = "7e4a0000-0000-4000-8000-ffffffffffff"   # tenbus-bench's master tenant

# Shapes of real wazo-auth policies: per-service resources, many of them
# about the user themself (`me`), a few about the session (`my_session`).
_SERVICES = ["confd", "calld", "chatd", "dird", "agentd", "amid", "callogd", "webhookd",
             "chatd", "call-logd", "phoned", "plugind"]
_RESOURCES = ["users.me", "users.me.lines", "users.me.funckeys.*", "users.me.voicemails",
              "users.me.meetings.*", "users.me.presences", "users.me.relocates",
              "users.me.transfers", "users.me.calls.*", "directories.favorites",
              "switchboards.*", "tokens.my_session", "events.calls.me", "conferences.*"]
_VERBS = ["read", "create", "update", "delete", "#"]


def policy(k, n=40):
    """The k-th policy: `websocketd` plus n - 1 distinct entries."""
    out = ["websocketd"]
    i = 0
    while len(out) < n:
        svc = _SERVICES[(i + k) % len(_SERVICES)]
        res = _RESOURCES[(i * 3 + k) % len(_RESOURCES)]
        verb = _VERBS[(i + 2 * k) % len(_VERBS)]
        entry = "%s.%s.%s" % (svc, res, verb)
        if entry not in out:
            out.append(entry)
        i += 1
    return out


def acl_for(kind, i):
    if kind == "flat2":
        return ["websocketd", "events.#"]
    return policy(i % 3)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench", default=os.path.join(HERE, "..", "build-rel", "tenbus-bench"))
    ap.add_argument("--spawn", help="tenbusd (default: next to tenbus-bench)")
    ap.add_argument("--sessions", type=int, default=15000)
    ap.add_argument("--tenants", type=int, default=1)
    ap.add_argument("--acl", choices=["policies40", "flat2"], default="policies40",
                    help="policies40: 40-entry lists from 3 policies; flat2: 2 entries")
    ap.add_argument("--workers", type=int, default=0, help="tenbus.workers (0 = cores)")
    ap.add_argument("bench_args", nargs="*", help="more tenbus-bench arguments (after --)")
    a = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        toks = os.path.join(tmp, "tokens.json")
        subprocess.run([a.bench, "--write-tokens", toks, "--sessions", str(a.sessions),
                        "--tenants", str(a.tenants)], check=True, stdout=subprocess.DEVNULL)
        with open(toks) as f:
            objs = json.load(f)["tokens"]
        dbl = WazoAuthDouble(prefix="/api/auth")   # auth.prefix default
        dbl.add_service("tenbusd", "secret", MASTER)
        expires = time.time() + 3 * 3600          # cached, as a real token would be
        n = 0
        for obj in objs:
            if obj["metadata"]["uuid"]:           # the users; the publisher keeps its own
                obj["acl"] = acl_for(a.acl, n)
                n += 1
            exp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(expires))
            obj["utc_expires_at"] = obj["expires_at"] = exp
            dbl.tokens[obj["token"]] = obj
        dbl.start()
        cmd = [a.bench, "--scenario", "idle", "--sessions", str(a.sessions),
               "--tenants", str(a.tenants), "--daemon-workers", str(a.workers)]
        if a.spawn:
            cmd += ["--spawn", a.spawn]
        for kv in ("tenbus.auth_backend=wazo-auth", "auth.host=127.0.0.1",
                   "auth.port=%d" % dbl.port, "auth.username=tenbusd", "auth.password=secret"):
            cmd += ["--daemon-set", kv]
        cmd += a.bench_args
        print("acl=%s (%d entries per user token), %d sessions, double on port %d"
              % (a.acl, len(acl_for(a.acl, 0)), a.sessions, dbl.port), flush=True)
        print("$ " + " ".join(cmd), flush=True)
        rc = subprocess.run(cmd).returncode
        print("token lookups answered: %d" % sum(v for (m, _), v in dbl.counts.items() if m == "GET"))
        dbl.stop()
        sys.exit(rc)


if __name__ == "__main__":
    main()
