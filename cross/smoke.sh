#!/usr/bin/env bash
# Runs the cross-built scout-agent under qemu-user emulation: the binary starts, validates a good
# config and refuses a bad one, creates an outbox with `enqueue`, and reads it back with
# `status --json` and `dead-letters`, with the figures checked.
#
#   cross/smoke.sh aarch64-unknown-linux-gnu      (after cross/build.sh for that target)
#
# Only single-threaded paths are exercised: under qemu-user on these machines a process that
# starts threads hangs, and every subcommand but `run` starts none (agent/src/cli.rs). Each
# step runs under a timeout so that a regression shows as a failure, not a stuck CI.
# Installs qemu-user-static and jq with apt-get when missing (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

STEP_TIMEOUT=${SCOUT_SMOKE_TIMEOUT:-120}

case "${1:-}" in
  aarch64-unknown-linux-gnu | aarch64 | arm64)
    TARGET=aarch64-unknown-linux-gnu QEMU=qemu-aarch64-static SYSROOT=/usr/aarch64-linux-gnu ;;
  armv7-unknown-linux-gnueabihf | armv7 | armhf)
    TARGET=armv7-unknown-linux-gnueabihf QEMU=qemu-arm-static SYSROOT=/usr/arm-linux-gnueabihf ;;
  *) echo "usage: $0 aarch64-unknown-linux-gnu|armv7-unknown-linux-gnueabihf" >&2; exit 2 ;;
esac
BIN=target/cross/$TARGET/release-small/scout-agent
[ -x "$BIN" ] || { echo "FATAL: $BIN missing: run cross/build.sh $TARGET first" >&2; exit 1; }
[ -e "$SYSROOT/lib" ] || { echo "FATAL: $SYSROOT missing (cross/build.sh installs it)" >&2; exit 1; }

missing=()
command -v "$QEMU" >/dev/null || missing+=(qemu-user-static)
command -v jq >/dev/null || missing+=(jq)
if [ "${#missing[@]}" -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "FATAL: install ${missing[*]} (as root)" >&2; exit 1; }
  echo "installing: ${missing[*]}"
  apt-get update -qq || echo "WARNING: apt-get update reported errors; trying the install anyway" >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() { echo "FATAL: smoke ($TARGET): $*" >&2; exit 1; }

# Runs the emulated agent; output in $work/out, exit status in $rc.
agent() {
  local started=$SECONDS
  set +e
  timeout "$STEP_TIMEOUT" "$QEMU" -L "$SYSROOT" "$BIN" "$@" >"$work/out" 2>"$work/err"
  rc=$?
  set -e
  [ "$rc" -ne 124 ] || fail "'scout-agent $*' hung (killed after ${STEP_TIMEOUT}s)"
  local shown="$*"
  printf '  scout-agent %-44s exit %s  (%ss)\n' "${shown//$work/\$W}" "$rc" "$((SECONDS - started))"
}
expect_rc() { [ "$rc" -eq "$1" ] || { cat "$work/out" "$work/err" >&2; fail "expected exit $1, got $rc"; }; }
field() { jq -r "$1" "$work/out"; }
expect_field() {
  local got
  got=$(field "$1")
  [ "$got" = "$2" ] || { cat "$work/out" >&2; fail "$1 is '$got', expected '$2'"; }
}

echo "==== emulated smoke test: $BIN under $QEMU (W=$work)"
version=$(awk -F'"' '/^\[workspace.package\]/ {p = 1} p && /^version/ {print $2; exit}' Cargo.toml)

agent --version
expect_rc 0
[ "$(cat "$work/out")" = "scout-agent $version" ] || fail "--version printed '$(cat "$work/out")'"

printf 'scout_smoke_token_0123456789\n' >"$work/token"
cat >"$work/agent.toml" <<EOF
device_id = "SCOUTPI-0004"
store_id = "104"
collector_url = "https://collector.example.invalid"
token_file = "$work/token"
outbox_path = "$work/state/outbox.db"
spool_dir = "$work/state/spool"
max_outbox_bytes = 67108864
EOF
agent validate --config "$work/agent.toml"
expect_rc 0
grep -q ': OK' "$work/out" || fail "validate did not say OK: $(cat "$work/out")"

sed -e 's|^collector_url = .*|collector_url = "ftp://nowhere"|' \
  -e 's|^max_outbox_bytes = .*|max_outbox_bytes = 10|' "$work/agent.toml" >"$work/bad.toml"
agent validate --config "$work/bad.toml"
[ "$rc" -ne 0 ] || fail "validate accepted a bad config"
grep -q 'collector_url' "$work/out" || fail "validate did not name collector_url"
grep -q 'max_outbox_bytes' "$work/out" || fail "validate did not name max_outbox_bytes"

agent status --json --config "$work/agent.toml"
expect_rc 0
expect_field .state stopped
expect_field .backlog.count 0

mkdir -p "$work/state"
# Three transactions as the field sends them, one without an id; then the same file again.
cat >"$work/three.ndjson" <<'EOF'
{"transactionId":"6f1c2a9e-3b1d-4c55-9a27-0d4f8e2b7a10","storeId":"104","deviceId":"SCOUTPI-0004","timestamp":"2026-11-27T01:15:00Z","items":[{"brandName":"Lucky Me","productName":"Pancit Canton 60g","quantity":2,"unitPrice":14,"totalPrice":28}],"totals":{"totalAmount":28}}
{"transactionId":"0b6a1d52-98c4-4e0f-8d0e-2f8f3c1b9a77","storeId":"104","deviceId":"scoutpi-0004","timestamp":"2026-11-27T01:16:00Z","items":[{"product":"Kopiko Brown","price":"8"}]}
{"storeId":"104","deviceId":"SCOUTPI-0004","timestamp":"","items":[{"product":"Safeguard 60g","price":"28.50"}],"transactionContext":{"paymentMethod":"gcash"}}
EOF
agent enqueue "$work/three.ndjson" --config "$work/agent.toml"
expect_rc 0
grep -q '^total: 3 enqueued, 0 already queued, 0 refused' "$work/out" || fail "enqueue: $(cat "$work/out")"
agent enqueue "$work/three.ndjson" --config "$work/agent.toml"
expect_rc 0
grep -q '^total: 0 enqueued, 3 already queued, 0 refused' "$work/out" || fail "re-enqueue: $(cat "$work/out")"
[ "$(head -c 15 "$work/state/outbox.db")" = "SQLite format 3" ] || fail "no SQLite outbox was created"

agent status --json --config "$work/agent.toml"
expect_rc 0
expect_field .state stopped
expect_field .service_running false
expect_field .version "$version"
expect_field .device_id SCOUTPI-0004
expect_field .backlog.count 3
expect_field .dead_letters 0
expect_field .refused_total 0
expect_field '.backlog.bytes > 300' true
expect_field '.outbox.max_bytes' 67108864
expect_field '.outbox.file_bytes > 0' true
expect_field '.disk_free_bytes > 0' true
echo "  backlog: $(field .backlog.count) transactions, $(field .backlog.bytes) bytes; outbox file $(field .outbox.file_bytes) bytes"

agent status --config "$work/agent.toml"
expect_rc 0
grep -q 'SCOUTPI-0004' "$work/out" || fail "the status table does not name the device"

agent dead-letters --config "$work/agent.toml"
expect_rc 0
grep -q 'no dead letters' "$work/out" || fail "dead-letters printed: $(cat "$work/out")"

echo "smoke test passed: $TARGET"
