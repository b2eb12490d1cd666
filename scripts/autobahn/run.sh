#!/usr/bin/env bash
# Runs the Autobahn TestSuite against socketeer's server and client (see docs/conformance.md).
#   AUTOBAHN_DIR=/tmp/autobahn-src scripts/autobahn/run.sh [server|client|both] [case patterns...]
# Builds the package, starts the echo server on 127.0.0.1:9001 for the server run, and always
# stops it. Reports go to ./autobahn-reports/{server,client} (git-ignored).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
runner=${AUTOBAHN_RUNNER:-$root/../shared/tools/autobahn/run.sh}
: "${AUTOBAHN_DIR:?set AUTOBAHN_DIR to the unpacked Python 3 port (see ../shared/tools/autobahn/README.md)}"
export AUTOBAHN_DIR
mode=${1:-both}; shift || true
out=${AUTOBAHN_OUT:-$root/autobahn-reports}
port=${ECHO_PORT:-9001}
cd "$root" || exit 2
npm run build >/dev/null || { echo "build failed" >&2; exit 2; }
status=0
if [ "$mode" = server ] || [ "$mode" = both ]; then
  mkdir -p "$out"
  node scripts/autobahn/echo-server.mjs "$port" > "$out/echo-server.log" 2>&1 &
  echo_pid=$!
  trap 'kill "$echo_pid" 2>/dev/null || true' EXIT
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
  AUTOBAHN_OUT="$out/server" timeout 7200 "$runner" server "ws://127.0.0.1:$port" "$@" || status=1
  kill "$echo_pid" 2>/dev/null || true; wait "$echo_pid" 2>/dev/null || true
  trap - EXIT
fi
if [ "$mode" = client ] || [ "$mode" = both ]; then
  AUTOBAHN_OUT="$out/client" timeout 7200 "$runner" client "node $root/scripts/autobahn/client-testee.mjs" "$@" || status=1
fi
exit "$status"
