#!/usr/bin/env bash
# Installs the Debian packages the interop and browser tests use, once: Chromium (driven by
# playwright-core), python3-websockets (a third-party peer) and openssl (test certificates).
# Skipped when all are present.
# Needs root (CI and the dev machines run as root); otherwise prints the command to run.
set -euo pipefail
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
/usr/bin/python3 -c 'import websockets' >/dev/null 2>&1 || need+=(python3-websockets)
command -v openssl >/dev/null 2>&1 || need+=(openssl) # TLS tests make throwaway certificates
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != "0" ]; then
  echo "socketeer tests need: apt-get install -y --no-install-recommends ${need[*]} (run as root)" >&2
  exit 0
fi
echo "installing ${need[*]} (Debian packages for the interop and browser tests)…"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
