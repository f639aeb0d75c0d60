#!/usr/bin/env bash
# Builds the Debian packages with cargo-deb ([package.metadata.deb] in agent/Cargo.toml and
# collector/Cargo.toml; maintainer scripts in deploy/debian/agent/ and deploy/debian/collector/):
#
#   deploy/debian/build.sh [--deb-version VERSION] [--out DIR] PACKAGE:ARCH...
#
#   PACKAGE:ARCH  agent:amd64 agent:arm64 agent:armhf collector:amd64 collector:arm64
#   --deb-version the package version (default: the workspace version, revision 1: 0.1.0-1)
#   --out DIR     where the .deb files go (default: target/packages; not cargo-deb's own
#                 target/debian, where it deletes the other versions of a package it builds)
#
# amd64 is built here by cargo-deb with the host's cargo (the agent with the device profile,
# release-small; the collector with release). arm64 and armhf package the binaries cross/build.sh
# left in target/cross (run it first, with --collector for the collector); they are not rebuilt.
# The units are staged from deploy/ with the packaged binary's path, /usr/bin instead of
# /usr/local/bin (install-agent.sh's). Installs cargo-deb with `cargo install --locked` if it is
# missing. Prints each package's path and size.
set -euo pipefail
cd "$(dirname "$0")/../.."

out=target/packages
deb_version=()
specs=()
while [ "$#" -gt 0 ]; do
  case "$1" in
    --deb-version) deb_version=(--deb-version "${2:?--deb-version needs a version}"); shift 2 ;;
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    *) specs+=("$1"); shift ;;
  esac
done
[ "${#specs[@]}" -gt 0 ] || { echo "usage: $0 [--deb-version V] [--out DIR] PACKAGE:ARCH..." >&2; exit 2; }

if ! cargo deb --version >/dev/null 2>&1; then
  echo "cargo-deb is missing: cargo install cargo-deb --locked"
  cargo install cargo-deb --locked
fi
cargo deb --version

# The packages' changelog names the release they are built from (a --deb-version build is a
# local one, e.g. the upgrade deploy/debian/check.sh tries).
version=$(awk -F'"' '/^\[workspace.package\]/ {p = 1} p && /^version/ {print $2; exit}' Cargo.toml)
if [ "${#deb_version[@]}" = 0 ] && ! head -n 1 deploy/debian/changelog | grep -qF "($version-1)"; then
  echo "FATAL: deploy/debian/changelog does not open with $version-1: add an entry for it" >&2
  exit 1
fi

# The units as packaged: same file, the binary in /usr/bin.
stage=deploy/debian/stage
mkdir -p "$stage" "$out"
for unit in scout-agent.service scout-collector.service; do
  sed 's|/usr/local/bin/|/usr/bin/|g' "deploy/$unit" >"$stage/$unit"
  if grep -q '/usr/local' "$stage/$unit" || ! grep -q '^ExecStart=/usr/bin/scout-' "$stage/$unit"; then
    echo "FATAL: $stage/$unit: the binary's path was not rewritten to /usr/bin" >&2
    exit 1
  fi
done

for spec in "${specs[@]}"; do
  crate=scout-${spec%%:*}
  arch=${spec#*:}
  case "$spec" in
    agent:amd64) build=(--profile release-small) ;;
    collector:amd64) build=(--profile release) ;;
    agent:arm64 | collector:arm64) target=aarch64-unknown-linux-gnu ;;
    agent:armhf) target=armv7-unknown-linux-gnueabihf ;;
    *) echo "unknown PACKAGE:ARCH $spec (agent:amd64|arm64|armhf, collector:amd64|arm64)" >&2; exit 2 ;;
  esac
  if [ "$arch" != amd64 ]; then
    profile=release-small
    [ "$crate" = scout-collector ] && profile=release
    bin=target/cross/$target/$profile/$crate
    if ! [ -x "$bin" ]; then
      echo "FATAL: $bin is missing: cross/build.sh $([ "$crate" = scout-collector ] && echo '--collector ')$target first" >&2
      exit 1
    fi
    # Already stripped by cross/build.sh (no cross strip needed here).
    build=(--no-build --no-strip --target "$target" --profile "$profile")
  fi
  started=$SECONDS
  echo "==== $crate $arch: cargo deb ${build[*]} ${deb_version[*]}"
  deb=$(
    if [ "$arch" = amd64 ]; then
      cargo deb --locked -p "$crate" "${build[@]}" "${deb_version[@]}" --output "$out"
    else
      CARGO_TARGET_DIR=target/cross cargo deb -p "$crate" "${build[@]}" "${deb_version[@]}" --output "$out"
    fi | tail -n 1
  )
  [ -f "$deb" ] || { echo "FATAL: cargo deb did not report a package (got: $deb)" >&2; exit 1; }
  got=$(dpkg-deb -f "$deb" Architecture)
  [ "$got" = "$arch" ] || { echo "FATAL: $deb is for $got, expected $arch" >&2; exit 1; }
  printf '%s: %s bytes (%s KiB), %ss\n' "$deb" "$(stat -c %s "$deb")" \
    "$(($(stat -c %s "$deb") / 1024))" "$((SECONDS - started))"
done
