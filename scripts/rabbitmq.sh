#!/bin/sh
# Starts, stops or checks Debian's rabbitmq-server without systemd (CI
# machines and containers have none). Usage: scripts/rabbitmq.sh start|stop|status
# start is idempotent and waits until the broker accepts connections
# (bounded by TENBUS_RABBITMQ_WAIT seconds, default 90).
set -eu
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
WAIT=${TENBUS_RABBITMQ_WAIT:-90}

running() {
    $SUDO rabbitmqctl -q status >/dev/null 2>&1
}

case "${1:-}" in
start)
    if ! running; then
        echo "tenbus: starting rabbitmq-server" >&2
        # -detached forks into the background; its output goes to the
        # broker's own log files (/var/log/rabbitmq/).
        $SUDO rabbitmq-server -detached >/dev/null 2>&1 || true
    fi
    # await_startup fails at once while the node's Erlang distribution is
    # not up yet, so retry it until the deadline.
    deadline=$(($(date +%s) + WAIT))
    until $SUDO rabbitmqctl -q await_startup --timeout 10 >/dev/null 2>&1; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "tenbus: rabbitmq-server did not start within ${WAIT}s (see /var/log/rabbitmq/)" >&2
            exit 1
        fi
        sleep 1
    done
    ;;
stop)
    running && $SUDO rabbitmqctl -q stop >/dev/null 2>&1 || true
    ;;
status)
    if running; then echo running; else echo stopped; exit 3; fi
    ;;
*)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
