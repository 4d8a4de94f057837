#!/bin/sh
# The naming convention of external symbols (README "Naming"), checked on
# the built objects: usage: check-naming.sh LIBTBDCORE.a LIBTENBUS.a TENBUS_CLI
# Exits 1 and lists the offenders if a symbol with external linkage lacks
# its layer's prefix: tbd_ (daemon), tb_ or tb__ (libtenbus), cli_ (CLI).
set -eu
core=$1 lib=$2 cli=$3
bad=0
check() { # what, prefix regex, symbols
    out=$(printf '%s\n' "$3" | grep -v '@' | grep -Ev "$2" || true)
    if [ -n "$out" ]; then
        echo "$1: symbols without the prefix ($2):"; echo "$out" | sed 's/^/  /'
        bad=1
    fi
}
defined() { nm -g --defined-only "$@" 2>/dev/null | awk 'NF == 3 { print $3 }' | grep -v "^__odr_asan" | sort -u; }
check "daemon (tbdcore)" '^tbd_' "$(defined "$core")"
check "libtenbus" '^tb_' "$(defined "$lib")"
# The CLI binary also holds libtenbus (tb_*), the C runtime's _-names and
# copies of glibc's variables (name@GLIBC_x); sanitizer builds add __odr_asan.* markers.
check "tenbus CLI" '^(cli_|tb_|_|main$|data_start$)' "$(defined "$cli")"
[ "$bad" = 0 ] && echo "naming: ok"
exit "$bad"
