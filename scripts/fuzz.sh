#!/bin/sh
# Builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan) into
# build-fuzz/ and runs each for SECONDS (default 30), starting from its seed
# corpus (tests/fuzz/corpus/<name>, copied: new inputs stay in build-fuzz/).
# Prints one summary line per target; exits 1 if any target crashed (the
# input is saved under build-fuzz/crashes/<name>/: add it to
# tests/fuzz/regressions/<name>/ once fixed). Usage: scripts/fuzz.sh [SECONDS [TARGET...]]
set -eu
cd "$(dirname "$0")/.."
SECS=${1:-30}
[ $# -gt 0 ] && shift
scripts/deps.sh build

pkgs="clang-14 libclang-rt-14-dev"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "tenbus: installing$missing" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
CC=$(command -v clang-14 || command -v clang)

BUILD=build-fuzz
CC=$CC cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTB_FUZZ=ON >/dev/null
cmake --build "$BUILD" -j"$(nproc)" >/dev/null

dict_for() {
    case $1 in
        acl) echo tests/fuzz/acl.dict ;;
        http) echo tests/fuzz/http.dict ;;
        config|tokens_file|yamljson|catalogue) echo tests/fuzz/yaml.dict ;;
        wsproto|api|msg|hdrmatch|json_scan|amqp_msg) echo tests/fuzz/json.dict ;;
        *) echo "" ;;
    esac
}

targets=${*:-$(ls tests/fuzz/fuzz_*.c | sed 's|.*/fuzz_||; s|\.c$||')}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=0
printf '%-12s %12s %8s %8s  %s\n' target runs cov corpus result
for t in $targets; do
    work=$BUILD/corpus/$t
    crashes=$BUILD/crashes/$t
    log=$BUILD/fuzz-$t.log
    mkdir -p "$work" "$crashes"
    dict=$(dict_for "$t")
    set +e
    # shellcheck disable=SC2086
    "$BUILD/tests/fuzz/fuzz_$t" -max_total_time="$SECS" -print_final_stats=1 -timeout=10 \
        -rss_limit_mb=2048 -artifact_prefix="$crashes/" ${dict:+-dict=$dict} \
        "$work" "tests/fuzz/corpus/$t" >"$log" 2>&1
    rc=$?
    set -e
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | sed 's/cov: //')
    corp=$(find "$work" -type f | wc -l)
    if [ "$rc" -eq 0 ]; then
        result=ok
    else
        failed=1
        art=$(sed -n 's/.*Test unit written to //p' "$log" | tail -1)
        result="CRASH (exit $rc) ${art:-see $log}"
    fi
    printf '%-12s %12s %8s %8s  %s\n' "$t" "${runs:-?}" "${cov:-?}" "$corp" "$result"
done
exit $failed
