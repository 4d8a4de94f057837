#!/bin/sh
# Installs the Debian packages tenbus needs. Usage: scripts/deps.sh [build|test|package|bench]
# Build: compiler, CMake and the libraries tenbusd links. Test: also cmocka,
# Python's pytest and websockets (Debian packages, not PyPI), the openssl tool
# (test certificates), and Node.js + npm for the JavaScript SDK tests (only
# when no node is installed: Debian 12's nodejs is v18, which @wazo/sdk 0.44
# supports: engines node >= 18), and Debian's chromium, which the browser
# console test (tests/console) and the docs checks (tests/docs) drive headless
# through playwright-core from npm (never a downloaded browser). Package: also
# what dpkg-buildpackage needs for debian/ (the package test). Bench: also
# gnuplot for tenbus-bench --plot.
set -eu
BUILD_PKGS="build-essential cmake pkg-config libuv1-dev libjansson-dev libyaml-dev libssl-dev \
libhttp-parser-dev uthash-dev libyajl-dev librabbitmq-dev libcurl4-openssl-dev libsystemd-dev"
PACKAGE_PKGS="debhelper fakeroot lintian dpkg-dev"
TEST_PKGS="libcmocka-dev python3 python3-pytest python3-pytest-rerunfailures python3-websockets rabbitmq-server python3-pika python3-kombu python3-yaml openssl chromium $PACKAGE_PKGS"
command -v node >/dev/null 2>&1 || TEST_PKGS="$TEST_PKGS nodejs npm"
pkgs=$BUILD_PKGS
[ "${1:-build}" = test ] && pkgs="$pkgs $TEST_PKGS"
[ "${1:-build}" = package ] && pkgs="$pkgs $PACKAGE_PKGS"
[ "${1:-build}" = bench ] && pkgs="$pkgs gnuplot-nox"

missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "tenbus: installing$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
