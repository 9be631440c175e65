#!/usr/bin/env bash
# Conformance of moat's ARM emulator with Microsoft's Python management SDKs: a venv with the
# pinned SDKs (target/python-sdk-venv, reused while it holds exactly these versions), the
# emulator on a free loopback port, then conformance.py. Last line: "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/../.."

PINS=(
  azure-mgmt-network==33.1.0
  azure-mgmt-cognitiveservices==14.1.0
  azure-mgmt-privatedns==2.0.0
  azure-mgmt-authorization==4.0.0
  azure-mgmt-monitor==7.0.0
)
VENV=target/python-sdk-venv
PY=$VENV/bin/python

have_pins() {
  [ -x "$PY" ] || return 1
  local frozen
  frozen=$("$PY" -m pip freeze 2>/dev/null) || return 1
  for p in "${PINS[@]}"; do
    grep -qix "$p" <<<"$frozen" || return 1
  done
}

if ! have_pins; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$PY" -m pip install --quiet --disable-pip-version-check "${PINS[@]}"
fi

MOAT=target/debug/moat
[ -x "$MOAT" ] || cargo build --quiet --bin moat

PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
TOKEN="sdk-$("$PY" -c 'import secrets; print(secrets.token_hex(16))')"
LOG=$(mktemp)
# Page size 2: every list the SDK reads goes through nextLink.
"$MOAT" emulator --listen "127.0.0.1:$PORT" --page-size 2 --no-throttle 2>"$LOG" &
EMU=$!
trap 'kill "$EMU" 2>/dev/null || true; wait "$EMU" 2>/dev/null || true; rm -f "$LOG"' EXIT
for _ in $(seq 100); do
  grep -q "listening" "$LOG" && break
  kill -0 "$EMU" 2>/dev/null || { cat "$LOG" >&2; exit 1; }
  sleep 0.05
done

MOAT_EMULATOR_URL="http://127.0.0.1:$PORT" MOAT_EMULATOR_TOKEN="$TOKEN" "$PY" tests/python_sdk/conformance.py
