#!/bin/sh
# Builds tenbusd and runs it on its embedded defaults (embedded bus, demo
# tokens file), printing how to connect and publish. Ctrl-C stops it.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
B=$(pwd)/build
cat <<MSG

tenbusd demo: ws://127.0.0.1:9502  (config examples/tenbusd.yml, tokens examples/tokens.yml)
Event reference of the catalogue examples/catalogue: http://127.0.0.1:9502/docs/

Demo tokens:
  demo-alice       user of tenant acme
  demo-bob         another user of acme
  demo-acme-admin  tenant admin of acme (sees every acme event, may publish to acme)
  demo-carol       user of tenant globex
  demo-service     internal service of the master tenant (sees and publishes everything)

In another shell, listen as alice:
  $B/tenbus listen --token demo-alice '*'
Publish an event to alice (she receives it):
  $B/tenbus publish --token demo-service --name chat_message --tenant 11111111-1111-4111-8111-111111111111 \\
      --user a11ce000-0000-4000-8000-0000000a11ce --data '{"text":"hello alice"}'
Publish one to globex (alice does not receive it):
  $B/tenbus publish --token demo-service --name chat_message --tenant 22222222-2222-4222-8222-222222222222 \\
      --data '{"text":"globex only"}'
A catalogued event is checked against its schema (this one is refused: 400
naming data.reason_code):
  $B/tenbus publish --token demo-service --name call_ended --tenant 11111111-1111-4111-8111-111111111111 \\
      --user a11ce000-0000-4000-8000-0000000a11ce --data '{"call_id":"1.2","reason_code":"busy"}'
Or with curl:
  curl -H 'X-Auth-Token: demo-service' -d '{"name":"ping","tenant_uuid":"11111111-1111-4111-8111-111111111111"}' \\
      http://127.0.0.1:9502/api/events

MSG
exec "$B/tenbusd" -c examples/tenbusd.yml "$@"
