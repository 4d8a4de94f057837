#!/bin/sh
# Runs the measurements of bench/README.md's table, three runs per row, and
# prints the medians. Usage: bench/figures.sh [OUTDIR]  (default /tmp/tenbus-figures)
# Needs build-rel/ (cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release && cmake --build build-rel -j2).
set -eu
cd "$(dirname "$0")/.."
B=build-rel/tenbus-bench
OUT=${1:-/tmp/tenbus-figures}
mkdir -p "$OUT"
[ -x "$B" ] || { echo "build $B first" >&2; exit 2; }

# run NAME ARGS...: three runs; plots for the first. A run that loses or
# misdelivers anything exits 1: the row is kept and flagged, not retried.
run() {
    name=$1; shift
    for i in 1 2 3; do
        plot=""
        [ "$i" = 1 ] && plot="--plot $OUT/$name$i"
        echo "== $name run $i: $B $*" >&2
        # shellcheck disable=SC2086
        "$B" "$@" --json "$OUT/$name$i.json" $plot >"$OUT/$name$i.out" 2>"$OUT/$name$i.err" ||
            echo "!! $name run $i exited $? (see $OUT/$name$i.out)" >&2
    done
}

median() { # median FIELD_EXPR NAME
    python3 - "$OUT" "$2" "$1" <<'PY'
import json, statistics, sys
out, name, expr = sys.argv[1:4]
vals = []
for i in (1, 2, 3):
    d = json.load(open(f"{out}/{name}{i}.json"))
    vals.append(eval(expr, {"d": d}))
print(statistics.median(vals))
PY
}

run idle15k --sessions 15000 --scenario idle
run bcflat --sessions 10000 --tenants 1 --scenario broadcast --duration 10
half=$(median 'd["publish"]["events_per_s"] / 2' bcflat)
run bchalf --sessions 10000 --tenants 1 --scenario broadcast --duration 10 --rate "$half"
# The latency floor: events far apart, so none waits behind another.
run bclow --sessions 10000 --tenants 1 --scenario broadcast --duration 10 --rate 20
run uni15k --sessions 15000 --tenants 100 --scenario unicast --duration 10
run uni1k --sessions 1000 --tenants 100 --scenario unicast --duration 10
run cost1k --sessions 1000 --tenants 100 --scenario unicast --rate 10000 --duration 10
run cost15k --sessions 15000 --tenants 100 --scenario unicast --rate 10000 --duration 10
# Through RabbitMQ (scripts/rabbitmq.sh start): the HTTP API publishes to the
# broker, the node consumes its queue. Paced: a flat-out HTTP publisher only
# fills the daemon's bounded publish queue (503 past 10,000 pending).
if scripts/rabbitmq.sh status >/dev/null 2>&1; then
    run rmq15k --sessions 15000 --tenants 100 --scenario unicast --rate 10000 --duration 10 \
        --daemon-set tenbus.bus_backend=rabbitmq
    # Published straight to the exchange, as Wazo services do: the daemon only
    # consumes and delivers.
    run amqp15k --sessions 15000 --tenants 100 --scenario unicast --rate 10000 --duration 10 \
        --daemon-set tenbus.bus_backend=rabbitmq --publish-amqp
    # Flat out through the broker: as much as it delivers, 20,000 in flight.
    run amqpflat --sessions 15000 --tenants 100 --scenario unicast --duration 10 \
        --daemon-set tenbus.bus_backend=rabbitmq --publish-amqp --window 20000
fi

python3 - "$OUT" <<'PY'
import json, statistics, sys
out = sys.argv[1]
def load(name):
    return [json.load(open(f"{out}/{name}{i}.json")) for i in (1, 2, 3)]
def med(name, f):
    v = [f(d) for d in load(name)]
    return statistics.median(v), v
def line(label, name, f, unit, fmt="{:,.0f}"):
    m, v = med(name, f)
    print(f"{label:44s} {fmt.format(m)} {unit}  [" + ", ".join(fmt.format(x) for x in v) + "]")
P, L, C, M = "publish", "latency_ms", "cpu", "memory"
line("idle 15k: bytes/session", "idle15k", lambda d: d[M]["bytes_per_session"], "B")
line("idle 15k: sessions opened/s", "idle15k", lambda d: d["sessions"]["opened_per_s"], "/s")
line("broadcast 10k flat out: deliveries/s", "bcflat", lambda d: d[P]["deliveries_per_s"], "/s")
line("broadcast 10k flat out: p99", "bcflat", lambda d: d[L]["p99"], "ms", "{:.1f}")
line("broadcast 10k at half: deliveries/s", "bchalf", lambda d: d[P]["deliveries_per_s"], "/s")
line("broadcast 10k at half: p99", "bchalf", lambda d: d[L]["p99"], "ms", "{:.1f}")
line("broadcast 10k at 20 events/s: p50", "bclow", lambda d: d[L]["p50"], "ms", "{:.1f}")
line("broadcast 10k at 20 events/s: p99", "bclow", lambda d: d[L]["p99"], "ms", "{:.1f}")
line("unicast 15k/100 flat out: events/s", "uni15k", lambda d: d[P]["events_per_s"], "/s")
line("unicast 1k/100 flat out: events/s", "uni1k", lambda d: d[P]["events_per_s"], "/s")
line("unicast 10k/s, 1k sessions: daemon us/event", "cost1k", lambda d: d[C]["daemon_us_per_event"], "us", "{:.1f}")
line("unicast 10k/s, 15k sessions: daemon us/event", "cost15k", lambda d: d[C]["daemon_us_per_event"], "us", "{:.1f}")
import os
names = ["bcflat", "bchalf", "bclow", "uni15k", "uni1k", "cost1k", "cost15k"]
if os.path.exists(f"{out}/rmq15k3.json"):
    names.append("rmq15k")
    line("rabbitmq unicast 10k/s, 15k sessions: p99", "rmq15k", lambda d: d[L]["p99"], "ms", "{:.2f}")
    line("rabbitmq unicast 10k/s, 15k sessions: daemon us/event", "rmq15k", lambda d: d[C]["daemon_us_per_event"], "us", "{:.1f}")
    line("rabbitmq unicast 10k/s: daemon cores", "rmq15k", lambda d: d[C]["daemon_s"] / d[P]["seconds"], "cores", "{:.2f}")
if os.path.exists(f"{out}/amqp15k3.json"):
    names.append("amqp15k")
    line("amqp-published unicast 10k/s, 15k sessions: p99", "amqp15k", lambda d: d[L]["p99"], "ms", "{:.2f}")
    line("amqp-published unicast 10k/s: daemon cores", "amqp15k", lambda d: d[C]["daemon_s"] / d[P]["seconds"], "cores", "{:.2f}")
if os.path.exists(f"{out}/amqpflat3.json"):
    names.append("amqpflat")
    line("amqp-published flat out: events/s", "amqpflat", lambda d: d[P]["events_per_s"], "/s")
    line("amqp-published flat out: daemon cores", "amqpflat", lambda d: d[C]["daemon_s"] / d[P]["seconds"], "cores", "{:.2f}")
    line("amqp-published flat out: daemon us/event", "amqpflat", lambda d: d[C]["daemon_us_per_event"], "us", "{:.1f}")
bad = 0
for name in names:
    for d in load(name):
        bad += d[P]["lost"] + d[P]["unexpected"]
loads = [d["machine"]["loadavg_start"] for n in ("idle15k", "bcflat", "uni15k") for d in load(n)]
print(f"lost + unexpected over all runs: {bad}; load average at starts {min(loads):.2f}..{max(loads):.2f}")
PY
