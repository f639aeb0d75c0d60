#!/usr/bin/env bash
# Installs (or upgrades) the Scout agent on a store device, for a field technician:
#
#   sudo ./install-agent.sh --config agent.toml --token-file token.txt
#
# Creates the `scout` user and its folders, installs the binary, the configuration and the
# systemd unit, checks the configuration, enables and (re)starts the service, and prints
# `scout-agent status`. Run it again to upgrade: the binary and the unit are replaced, an
# existing /etc/scout/agent.toml and token are kept unless --config / --token-file are given.
#
# Options:
#   --binary PATH      the agent binary (default: scout-agent beside this script)
#   --config PATH      agent.toml to install (default: keep the installed one; on a first
#                      install without it, agent.toml.example is installed and the service is
#                      enabled but not started until the file is filled in)
#   --token-file PATH  the device token, installed as /etc/scout/token
#   --unit PATH        the systemd unit (default: scout-agent.service beside this script)
#   --root DIR         install into DIR instead of / and touch nothing else: no user is
#                      created, no ownership changed, no systemctl; the commands that would
#                      have run are written to DIR/install-agent.plan (used by CI)
#   --no-start         install and enable, but do not start
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
binary=$here/scout-agent
unit=$here/scout-agent.service
example=$here/agent.toml.example
config=""
token_file=""
root=""
start=1
from_example=0

die() { echo "install-agent: $*" >&2; exit 1; }

while [ "$#" -gt 0 ]; do
  case "$1" in
    --binary) binary=${2:?--binary needs a path}; shift 2 ;;
    --config) config=${2:?--config needs a path}; shift 2 ;;
    --token-file) token_file=${2:?--token-file needs a path}; shift 2 ;;
    --unit) unit=${2:?--unit needs a path}; shift 2 ;;
    --root) root=${2:?--root needs a directory}; shift 2 ;;
    --no-start) start=0; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

[ -f "$binary" ] || die "no agent binary at $binary (use --binary PATH)"
[ -f "$unit" ] || die "no unit file at $unit (use --unit PATH)"
[ -z "$config" ] || [ -f "$config" ] || die "no config file at $config"
[ -z "$token_file" ] || [ -s "$token_file" ] || die "token file $token_file is missing or empty"
if [ -n "$root" ]; then
  mkdir -p "$root"
  root=$(cd "$root" && pwd)
  [ "$root" != / ] || die "--root / is the real system: leave --root out instead"
  plan=$root/install-agent.plan
  : >"$plan"
else
  [ "$(id -u)" = 0 ] || die "run as root (sudo), or use --root DIR for a trial install"
  command -v systemctl >/dev/null || die "systemctl not found: this script needs systemd"
fi

BIN=/usr/local/bin/scout-agent
ETC=/etc/scout
CONFIG=$ETC/agent.toml
TOKEN=$ETC/token
STATE=/var/lib/scout
SPOOL=$STATE/spool
UNIT=/etc/systemd/system/scout-agent.service

# A command that changes the system outside the installed files: run it, or with --root,
# write it to the plan.
system() {
  if [ -n "$root" ]; then
    local quoted
    quoted=$(printf '%q ' "$@")
    printf '%s\n' "${quoted% }" >>"$plan"
  else
    "$@"
  fi
}

# With --root: what would have run outside DIR.
show_plan() {
  echo "Trial install done. Would have run (${plan#"$root"/}):"
  sed 's/^/  /' "$plan"
}

# Installs a file atomically (a temporary name, then a rename): an upgrade never leaves a
# half-written binary or config behind.
put() {
  local mode=$1 source=$2 target=$root$3
  install -m "$mode" "$source" "$target.new"
  mv -f "$target.new" "$target"
  echo "  $3 ($mode)"
}

echo "Installing the Scout agent${root:+ into $root (trial: nothing outside it is touched)}"

# The user: a system account with no login and no home of its own.
if [ -n "$root" ] || ! getent passwd scout >/dev/null; then
  system useradd --system --user-group --home-dir "$STATE" --no-create-home \
    --shell /usr/sbin/nologin --comment "Scout store agent" scout
fi

# Folders. /etc/scout: root writes, the scout group reads. /var/lib/scout: the service's own
# (systemd's StateDirectory= keeps it so). The spool: the capture app writes there too (add
# its user to the scout group); setgid, so dropped files belong to the scout group.
install -d -m 0755 "$root/usr/local/bin" "$root/etc/systemd/system"
install -d -m 0750 "$root$ETC"
install -d -m 0750 "$root$STATE"
install -d -m 2770 "$root$SPOOL"
system chown root:scout "$ETC"
system chown scout:scout "$STATE" "$SPOOL"
echo "  $ETC (0750) $STATE (0750) $SPOOL (2770)"

# The binary. Outside a trial it must run here (the wrong architecture fails now, not later).
if [ -z "$root" ]; then
  "$binary" --version >/dev/null 2>&1 ||
    die "$binary does not run on this machine ($(uname -m)); is it the right build?"
fi
put 0755 "$binary" "$BIN"

# Configuration: given, kept, or the example on a first install.
if [ -n "$config" ]; then
  put 0640 "$config" "$CONFIG"
elif [ -f "$root$CONFIG" ]; then
  echo "  $CONFIG kept"
else
  [ -f "$example" ] || die "no --config given and no $example to start from"
  put 0640 "$example" "$CONFIG"
  from_example=1
fi
system chown root:scout "$CONFIG"
if [ -n "$token_file" ]; then
  put 0640 "$token_file" "$TOKEN"
  system chown root:scout "$TOKEN"
fi

put 0644 "$unit" "$UNIT"

system systemctl daemon-reload
system systemctl enable scout-agent.service

if [ "$from_example" = 1 ]; then
  echo
  echo "Installed and enabled, not started: $CONFIG is the example. Fill in device_id,"
  echo "store_id, collector_url and the token, then: sudo systemctl start scout-agent"
  [ -z "$root" ] || show_plan
  exit 0
fi

# Check the configuration as the service will (as scout, with its files).
if [ -n "$root" ]; then
  system runuser -u scout -- "$BIN" validate --config "$CONFIG"
elif ! runuser -u scout -- "$BIN" validate --config "$CONFIG"; then
  echo
  echo "The configuration has errors (above): fix $CONFIG, then: sudo systemctl restart scout-agent"
  exit 1
fi

if [ "$start" = 1 ]; then
  # Type=notify: `restart` returns once the agent said READY=1, or fails.
  if [ -n "$root" ]; then
    system systemctl restart scout-agent.service
  elif ! systemctl restart scout-agent.service; then
    journalctl --no-pager -n 30 -u scout-agent.service || true
    die "the service did not start (log above)"
  fi
fi

if [ -n "$root" ]; then
  show_plan
  exit 0
fi
echo
if [ "$start" = 1 ]; then
  systemctl --no-pager --lines=0 status scout-agent.service || true
  echo
else
  echo "Installed and enabled, not started (--no-start): sudo systemctl start scout-agent"
fi
runuser -u scout -- "$BIN" status --config "$CONFIG"
