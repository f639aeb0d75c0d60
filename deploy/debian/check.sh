#!/usr/bin/env bash
# Checks the Debian packages for real, on this machine (as root; CI runs it in a container where
# systemd is not PID 1, and the maintainer scripts must cope with that):
#
#   deploy/debian/check.sh [DIR]      (DIR: where deploy/debian/build.sh put them; target/packages)
#
# 1. lintian on every .deb in DIR: any tag fails, except the ones deploy/debian/lintian-accepted
#    lists (each is justified in README.md, "Debian packages").
# 2. The amd64 agent package, the way a technician uses it (apt-get install ./FILE.deb):
#    install with the shipped example configuration (files, modes, the conffile, the scout user,
#    the unit enabled and passing `systemd-analyze verify`, the service not started and saying
#    why); then an edited configuration, a token and three transactions in the outbox; an
#    upgrade to the same package rebuilt with a higher version (the edit, the token and the
#    outbox survive, the configuration is reported valid); another to a repacked one whose
#    example changed (the edit stays, the new example lands as agent.toml.dpkg-dist); remove
#    (configuration, token and outbox stay, the unit is masked); install again (all picked up);
#    purge (they go; the scout user stays).
# 3. The amd64 collector package, when DIR has it: installed (files, the conffile, the unit
#    enabled and verified, not started), then purged.
# Refuses to run over an agent that this script did not install (/etc/scout or /var/lib/scout
# present without the package). Installs lintian, jq and systemd (for systemd-analyze) with
# apt-get if they are missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
export DEBIAN_FRONTEND=noninteractive

dir=${1:-target/packages}
fail() { echo "FATAL: package check: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "run as root: it installs and purges scout-agent on this machine"
shopt -s nullglob
debs=("$dir"/*.deb)
[ "${#debs[@]}" -gt 0 ] || fail "no .deb in $dir (deploy/debian/build.sh first)"
agent_debs=("$dir"/scout-agent_*_amd64.deb)
[ "${#agent_debs[@]}" = 1 ] || fail "expected one scout-agent_*_amd64.deb in $dir, found ${#agent_debs[@]}"
agent_deb=${agent_debs[0]}
shopt -u nullglob

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

missing=()
command -v lintian >/dev/null || missing+=(lintian)
command -v jq >/dev/null || missing+=(jq)
command -v systemd-analyze >/dev/null || missing+=(systemd)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing ${missing[*]} with apt-get"
  apt-get update -qq || echo "WARNING: apt-get update reported errors; trying the install anyway"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---- 1. lintian ------------------------------------------------------------------------------
lintian --version
accepted=$(awk '!/^#/ && NF {print $1}' deploy/debian/lintian-accepted | paste -sd, -)
for deb in "${debs[@]}"; do
  # Every tag, info tags too, so that the log shows all of them. With --fail-on none, an exit
  # status other than 0 means lintian itself failed.
  lintian --fail-on none --display-info --tag-display-limit 0 "$deb" >"$work/lintian" 2>&1 ||
    { cat "$work/lintian" >&2; fail "lintian could not check $deb"; }
  unexpected=$(grep -E '^[EWI]: ' "$work/lintian" |
    awk -v ok="$accepted" 'BEGIN {n = split(ok, a, ","); for (i = 1; i <= n; i++) acc[a[i]] = 1}
      !($3 in acc)' || true)
  accepted_seen=$(grep -cE '^[EWI]: ' "$work/lintian" || true)
  if [ -n "$unexpected" ]; then
    cat "$work/lintian" >&2
    fail "lintian: tags not in deploy/debian/lintian-accepted for $deb:
$unexpected"
  fi
  echo "lintian $(basename "$deb"): no tag beyond the accepted ones ($accepted_seen shown)"
  sed 's/^/  /' "$work/lintian"
done

# ---- 2. install, upgrade, remove, purge the amd64 agent ----------------------------------------
status_of() { dpkg-query -W -f='${db:Status-Abbrev}' scout-agent 2>/dev/null | tr -d ' ' || true; }
if [ -n "$(status_of)" ] && [ "$(status_of)" != un ]; then
  fail "scout-agent is already installed here ($(status_of)); purge it first: apt-get purge scout-agent"
fi
for path in /etc/scout/agent.toml /var/lib/scout; do
  [ ! -e "$path" ] || fail "$path exists without the package: not a machine to test on"
done

expect_file() { # MODE OWNER:GROUP PATH
  local got
  got=$(stat -c '%a %U:%G' "$3" 2>/dev/null) || fail "$3 is missing"
  [ "$got" = "$1 $2" ] || fail "$3 is $got, expected $1 $2"
}
expect_gone() {
  local p
  for p in "$@"; do
    if [ -e "$p" ] || [ -L "$p" ]; then fail "$p is still there"; fi
  done
}
expect_output() { # PATTERN FILE
  grep -q -- "$1" "$2" || { cat "$2" >&2; fail "the output above does not say: $1"; }
}
backlog() { runuser -u scout -- scout-agent status --json 2>/dev/null | jq -r .backlog.count; }
apt_quiet() { # LOG apt-get ARGS...: the maintainer scripts' messages end up in LOG
  local log=$1
  shift
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    fail "$* failed"
  fi
  # What the maintainer scripts said: their lines and the indented ones that follow.
  awk '/^scout-(agent|collector): / {p = 1; print "  | " $0; next} p && /^  / {print "  | " $0; next} {p = 0}' "$log"
}

version=$(dpkg-deb -f "$agent_deb" Version)
user_existed=no
getent passwd scout >/dev/null && user_existed=yes

echo "==== install $(basename "$agent_deb") (scout user present before: $user_existed)"
apt_quiet "$work/install.log" apt-get install -y --no-install-recommends "./$agent_deb"
[ "$(status_of)" = ii ] || fail "scout-agent is not installed after apt-get install ($(status_of))"
expect_output 'installed, not started: /etc/scout/agent.toml is still the example' "$work/install.log"

# The files, owners and modes.
expect_file 755 root:root /usr/bin/scout-agent
[ "$(scout-agent --version)" = "scout-agent ${version%-*}" ] || fail "scout-agent --version: $(scout-agent --version)"
expect_file 644 root:root /lib/systemd/system/scout-agent.service
sed 's|/usr/local/bin/|/usr/bin/|g' deploy/scout-agent.service | cmp - /lib/systemd/system/scout-agent.service ||
  fail "the installed unit is not deploy/scout-agent.service with /usr/bin"
expect_file 750 root:scout /etc/scout
expect_file 640 root:scout /etc/scout/agent.toml
cmp deploy/agent.toml.example /etc/scout/agent.toml || fail "/etc/scout/agent.toml is not the example"
expect_file 750 scout:scout /var/lib/scout
expect_file 2770 scout:scout /var/lib/scout/spool
dpkg-query -W -f='${Conffiles}\n' scout-agent | grep -q '^ /etc/scout/agent.toml [0-9a-f]\{32\}$' ||
  fail "/etc/scout/agent.toml is not a conffile"
[ -f /usr/share/doc/scout-agent/copyright ] || fail "no copyright file"

# The user: a system account with no login, home at the state folder, its own group.
IFS=: read -r _ _ uid gid _ home shell < <(getent passwd scout)
[ "$uid" -lt 1000 ] || fail "scout has uid $uid: not a system user"
[ "$(getent group scout | cut -d: -f3)" = "$gid" ] || fail "scout's primary group is not scout"
if [ "$home" != /var/lib/scout ] || [ "$shell" != /usr/sbin/nologin ]; then
  fail "scout has home $home and shell $shell"
fi

# The unit: enabled (the symlink deb-systemd-helper made), clean under systemd-analyze verify.
wants=/etc/systemd/system/multi-user.target.wants/scout-agent.service
[ "$(readlink "$wants")" = /lib/systemd/system/scout-agent.service ] || fail "the unit is not enabled ($wants)"
if ! systemd-analyze verify --man=no scout-agent.service >"$work/verify" 2>&1 || [ -s "$work/verify" ]; then
  cat "$work/verify" >&2
  fail "systemd-analyze verify scout-agent.service found problems"
fi
echo "  files, modes, conffile, user scout (uid $uid), unit enabled and verified: OK"

echo "==== the technician's configuration, first without a token (reinstalled: not started)"
sed -i -e 's/^device_id = .*/device_id = "SCOUTPI-0004"/' -e 's/^store_id = .*/store_id = "104"/' \
  -e 's|^collector_url = .*|collector_url = "http://127.0.0.1:9"|' /etc/scout/agent.toml
printf '\n# Edited on the device: kept across upgrades.\n' >>/etc/scout/agent.toml
cp /etc/scout/agent.toml "$work/agent.toml.edited"
apt_quiet "$work/reinstall.log" apt-get install -y --reinstall "./$agent_deb"
expect_output 'installed, not started: /etc/scout/agent.toml does not pass validation' "$work/reinstall.log"
expect_output 'token_file' "$work/reinstall.log"

echo "==== the token and three transactions"
printf 'scout_check_token_0123456789abcdef\n' >"$work/token"
install -m 0640 -g scout "$work/token" /etc/scout/token
runuser -u scout -- scout-agent validate >"$work/validate" || { cat "$work/validate" >&2; fail "the edited configuration does not validate"; }
cat >"$work/three.ndjson" <<'EOF'
{"transactionId":"6f1c2a9e-3b1d-4c55-9a27-0d4f8e2b7a10","storeId":"104","deviceId":"SCOUTPI-0004","timestamp":"2026-11-27T01:15:00Z","items":[{"brandName":"Lucky Me","productName":"Pancit Canton 60g","quantity":2,"unitPrice":14,"totalPrice":28}],"totals":{"totalAmount":28}}
{"transactionId":"0b6a1d52-98c4-4e0f-8d0e-2f8f3c1b9a77","storeId":"104","deviceId":"SCOUTPI-0004","timestamp":"2026-11-27T01:16:00Z","items":[{"product":"Kopiko Brown","price":"8"}]}
{"storeId":"104","deviceId":"SCOUTPI-0004","timestamp":"","items":[{"product":"Safeguard 60g","price":"28.50"}]}
EOF
chmod 0644 "$work/three.ndjson"
chmod 0755 "$work"
runuser -u scout -- scout-agent enqueue "$work/three.ndjson" >"$work/enqueue" 2>&1
expect_output '^total: 3 enqueued' "$work/enqueue"
[ "$(backlog)" = 3 ] || fail "the outbox holds $(backlog) transactions, expected 3"
outbox_bytes=$(stat -c %s /var/lib/scout/outbox.db)
echo "  outbox: 3 transactions, $outbox_bytes bytes"

next="$version+check1"
echo "==== upgrade to $next (the same binary, packaged again with a higher version)"
deploy/debian/build.sh --deb-version "$next" --out "$work/next" agent:amd64 >"$work/build.log" 2>&1 ||
  { cat "$work/build.log" >&2; fail "building $next failed"; }
next_deb=$(ls "$work"/next/scout-agent_*_amd64.deb)
apt_quiet "$work/upgrade.log" apt-get install -y --no-install-recommends "$next_deb"
[ "$(dpkg-query -W -f='${Version}' scout-agent)" = "$next" ] || fail "the installed version is not $next"
expect_output 'agent.toml is valid; systemd is not running here' "$work/upgrade.log"
cmp "$work/agent.toml.edited" /etc/scout/agent.toml || fail "the upgrade changed the edited /etc/scout/agent.toml"
expect_file 640 root:scout /etc/scout/agent.toml
cmp "$work/token" /etc/scout/token || fail "the upgrade changed /etc/scout/token"
[ "$(backlog)" = 3 ] || fail "after the upgrade the outbox holds $(backlog) transactions, expected 3"
# dpkg's own view: every packaged file as shipped, but the configuration the technician edited.
dpkg --verify scout-agent >"$work/dpkg-verify" || true
[ "$(awk '{print $NF}' "$work/dpkg-verify")" = /etc/scout/agent.toml ] ||
  { cat "$work/dpkg-verify" >&2; fail "dpkg --verify: expected only the edited conffile to differ"; }
echo "  edited configuration, token and outbox (3 transactions) kept; dpkg --verify: only agent.toml edited"

next2="$version+check2"
echo "==== upgrade to $next2, whose example configuration changed (repacked; apt told to keep local files)"
dpkg-deb -R "$next_deb" "$work/repack"
printf '\n# A line the new release added to the example.\n' >>"$work/repack/etc/scout/agent.toml"
sed -i "s/^Version: .*/Version: $next2/" "$work/repack/DEBIAN/control"
dpkg-deb --root-owner-group -b "$work/repack" "$work/next2.deb" >/dev/null
# --force-confold: what a technician answering the default, N, to dpkg's question gets.
apt_quiet "$work/upgrade2.log" apt-get install -y -o Dpkg::Options::=--force-confdef \
  -o Dpkg::Options::=--force-confold "$work/next2.deb"
[ "$(dpkg-query -W -f='${Version}' scout-agent)" = "$next2" ] || fail "the installed version is not $next2"
cmp "$work/agent.toml.edited" /etc/scout/agent.toml || fail "the upgrade replaced the edited /etc/scout/agent.toml"
cmp "$work/repack/etc/scout/agent.toml" /etc/scout/agent.toml.dpkg-dist ||
  fail "the new example is not beside it as /etc/scout/agent.toml.dpkg-dist"
[ "$(backlog)" = 3 ] || fail "after the second upgrade the outbox holds $(backlog) transactions, expected 3"
echo "  edited configuration kept, the new example beside it (agent.toml.dpkg-dist), outbox kept"

echo "==== remove"
apt_quiet "$work/remove.log" apt-get remove -y scout-agent
[ "$(status_of)" = rc ] || fail "after remove the package is '$(status_of)', expected rc (config files left)"
expect_gone /usr/bin/scout-agent /lib/systemd/system/scout-agent.service
cmp "$work/agent.toml.edited" /etc/scout/agent.toml || fail "remove changed /etc/scout/agent.toml"
cmp "$work/token" /etc/scout/token || fail "remove deleted or changed /etc/scout/token"
[ "$(stat -c %s /var/lib/scout/outbox.db)" -ge "$outbox_bytes" ] || fail "remove touched the outbox"
[ "$(head -c 15 /var/lib/scout/outbox.db)" = "SQLite format 3" ] || fail "the outbox is no longer a database"
[ "$(readlink /etc/systemd/system/scout-agent.service)" = /dev/null ] || fail "the unit is not masked after remove"
getent passwd scout >/dev/null || fail "remove deleted the scout user"
echo "  left: /etc/scout/agent.toml (edited), /etc/scout/token, /var/lib/scout/outbox.db, user scout; unit masked"

echo "==== install again after the remove: it carries on with what was left"
apt_quiet "$work/again.log" apt-get install -y "$work/next2.deb"
expect_output 'agent.toml is valid; systemd is not running here' "$work/again.log"
cmp "$work/agent.toml.edited" /etc/scout/agent.toml || fail "reinstalling changed /etc/scout/agent.toml"
[ "$(backlog)" = 3 ] || fail "after reinstalling the outbox holds $(backlog) transactions, expected 3"
[ "$(readlink "$wants")" = /lib/systemd/system/scout-agent.service ] || fail "the unit is not enabled again"
[ ! -e /etc/systemd/system/scout-agent.service ] || fail "the unit is still masked"
echo "  configuration and outbox (3 transactions) picked up, unit unmasked and enabled"

echo "==== purge"
apt_quiet "$work/purge.log" apt-get purge -y scout-agent
[ -z "$(status_of)" ] || [ "$(status_of)" = un ] || fail "after purge dpkg still knows scout-agent ($(status_of))"
expect_gone /etc/scout /var/lib/scout /etc/systemd/system/scout-agent.service "$wants"
getent passwd scout >/dev/null || fail "purge deleted the scout user (documented to stay)"
echo "  gone: /etc/scout, /var/lib/scout (outbox, spool), the unit's mask and enablement; left: user scout"
# ---- 3. the amd64 collector, if it was built: install, look, purge ------------------------------
shopt -s nullglob
collector_debs=("$dir"/scout-collector_*_amd64.deb)
shopt -u nullglob
collector_deb=${collector_debs[0]:-}
collector_done=""
if [ -n "$collector_deb" ]; then
  [ -z "$(dpkg-query -W -f='${db:Status-Abbrev}' scout-collector 2>/dev/null | tr -d ' ')" ] ||
    fail "scout-collector is already known to dpkg here; purge it first"
  [ ! -e /etc/scout/collector.env ] || fail "/etc/scout/collector.env exists without the package"
  echo "==== install $(basename "$collector_deb")"
  apt_quiet "$work/collector.log" apt-get install -y --no-install-recommends "./$collector_deb"
  expect_output 'scout-collector: installed, not started' "$work/collector.log"
  expect_file 755 root:root /usr/bin/scout-collector
  scout-collector --version | grep -q "^scout-collector ${version%-*}$" || fail "scout-collector --version"
  sed 's|/usr/local/bin/|/usr/bin/|g' deploy/scout-collector.service |
    cmp - /lib/systemd/system/scout-collector.service || fail "the installed collector unit differs"
  expect_file 600 root:root /etc/scout/collector.env
  cmp deploy/collector.env.example /etc/scout/collector.env || fail "collector.env is not the example"
  dpkg-query -W -f='${Conffiles}\n' scout-collector | grep -q '^ /etc/scout/collector.env ' ||
    fail "/etc/scout/collector.env is not a conffile"
  cwants=/etc/systemd/system/multi-user.target.wants/scout-collector.service
  [ "$(readlink "$cwants")" = /lib/systemd/system/scout-collector.service ] || fail "the collector unit is not enabled"
  if ! systemd-analyze verify --man=no scout-collector.service >"$work/verify" 2>&1 || [ -s "$work/verify" ]; then
    cat "$work/verify" >&2
    fail "systemd-analyze verify scout-collector.service found problems"
  fi
  apt_quiet "$work/collector-purge.log" apt-get purge -y scout-collector
  expect_gone /usr/bin/scout-collector /etc/scout/collector.env /etc/scout "$cwants" \
    /etc/systemd/system/scout-collector.service
  echo "  files, modes, conffile, unit enabled and verified; purged: nothing left"
  collector_done="; $(basename "$collector_deb") installed and purged"
fi

echo "package check passed: lintian on ${#debs[@]} package(s); $(basename "$agent_deb") installed, upgraded to $next and $next2, removed, installed again, purged$collector_done"
