#!/bin/sh
# Installs test dependencies, builds tenbus with AddressSanitizer + UBSan and
# -Werror, then runs the unit tests (CTest/cmocka) and the integration tests
# (pytest: the real tenbusd on real sockets, real WebSocket clients, a real
# RabbitMQ started by scripts/rabbitmq.sh).
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh test
BUILD=${TENBUS_BUILD_DIR:-build-test}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Debug -DTB_SANITIZE=ON -DTB_WERROR=ON >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
echo "== unit tests"
(cd "$BUILD" && ctest --output-on-failure)
# A failing test is run once more (pytest-rerunfailures) so that a rare
# timing flake on a loaded 2-core machine does not hide a green suite; every
# rerun is listed in the summary ("RERUN") and the output of its first
# failure is printed in full (tests/integration/conftest.py): chase it.
# The tenant-isolation property tests are never rerun (flaky(reruns=0)):
# fixed seeds plus one random seed, printed here for replay.
echo "== integration tests"
TENBUS_PROPERTY_SEED=${TENBUS_PROPERTY_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
export TENBUS_PROPERTY_SEED
echo "isolation property random seed: $TENBUS_PROPERTY_SEED (replay: TENBUS_PROPERTY_SEED=$TENBUS_PROPERTY_SEED)"
# The RabbitMQ tests must run here, not skip.
scripts/rabbitmq.sh start
export TENBUS_RABBITMQ=1
# The official JavaScript SDK (@wazo/sdk, tests/sdk): with npm here, its tests
# must run, not skip (test_sdk.py runs npm ci itself only when node_modules is stale).
if command -v npm >/dev/null 2>&1; then
    echo "== npm ci (tests/sdk)"
    timeout 300 npm ci --prefix tests/sdk --no-audit --no-fund --prefer-offline --loglevel=error >/dev/null
    export TENBUS_SDK=1
    # The event documentation checks (tests/docs: @asyncapi/parser, and
    # playwright-core driving Debian's chromium) must run too.
    echo "== npm ci (tests/docs)"
    timeout 300 npm ci --prefix tests/docs --no-audit --no-fund --prefer-offline --loglevel=error >/dev/null
    export TENBUS_DOCS=1
fi
TENBUSD=$(pwd)/$BUILD/tenbusd TENBUS_CLI=$(pwd)/$BUILD/tenbus \
    /usr/bin/python3 -m pytest -q -p no:cacheprovider -r R --reruns 1 tests/integration "$@"
