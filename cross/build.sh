#!/usr/bin/env bash
# Builds scout-agent for the store devices without Docker, on Debian 12 (bookworm), with Debian's
# own Rust: rustc-web/cargo-web (1.96, from bookworm-security) plus the target's standard library
# (libstd-rust-web-dev:arm64 / :armhf, via dpkg --add-architecture) and the cross C compiler that
# bundled SQLite and ring need. No rustup target download, no container.
#
#   cross/build.sh [--collector] aarch64-unknown-linux-gnu [armv7-unknown-linux-gnueabihf]
#
# --collector builds scout-collector for the same targets too (the `release` profile, stripped:
# target/cross/<target>/release/scout-collector), for its arm64 Debian package.
#
# Installs what is missing with apt-get (as root; idempotent: nothing is fetched when all is
# there). Uses the workspace's `release-small` profile and its own target dir (target/cross), as
# the compiler differs from the rustup one that builds target/debug and target/release. Prints
# the stripped size, checks the ELF architecture and the newest glibc symbol the binary needs,
# and fails above SCOUT_MAX_AGENT_BYTES (default 12 MiB). The binaries end up in
# target/cross/<target>/release-small/scout-agent. Building with cross-rs and Docker instead:
# see cross/Cross.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

MIN_RUST=1.94 # the workspace's rust-version
MAX_BYTES=${SCOUT_MAX_AGENT_BYTES:-$((12 * 1024 * 1024))}
TARGET_DIR=target/cross
PROFILE=release-small

usage() {
  echo "usage: $0 [--collector] TARGET..." >&2
  echo "  TARGET: aarch64-unknown-linux-gnu (alias aarch64, arm64)" >&2
  echo "          armv7-unknown-linux-gnueabihf (alias armv7, armhf)" >&2
  exit 2
}

# Per target: Debian architecture, GNU triplet of the cross tools, what `readelf -h` calls the
# machine, and what `file` says about it.
describe() {
  case "$1" in
    aarch64-unknown-linux-gnu)
      DEB_ARCH=arm64 GNU=aarch64-linux-gnu ELF_MACHINE=AArch64 FILE_SAYS="ARM aarch64" ;;
    armv7-unknown-linux-gnueabihf)
      DEB_ARCH=armhf GNU=arm-linux-gnueabihf ELF_MACHINE=ARM FILE_SAYS="ARM, EABI5" ;;
    *) echo "unknown target: $1" >&2; usage ;;
  esac
}

canonical() {
  case "$1" in
    aarch64 | arm64) echo aarch64-unknown-linux-gnu ;;
    armv7 | armhf) echo armv7-unknown-linux-gnueabihf ;;
    *) echo "$1" ;;
  esac
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" = "$2" ]; }

debian_rustc_version() { /usr/bin/rustc --version 2>/dev/null | awk '{print $2}'; }

# Installs Debian's Rust, the targets' standard libraries and the cross tools, if missing.
ensure_toolchain() {
  local packages=(rustc-web cargo-web file binutils)
  local arches=() target
  for target in "$@"; do
    describe "$target"
    arches+=("$DEB_ARCH")
    packages+=("libstd-rust-web-dev:$DEB_ARCH" "gcc-$GNU" "libc6-dev-$DEB_ARCH-cross")
  done
  local missing=() p
  for p in "${packages[@]}"; do
    installed "$p" || missing+=("$p")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    echo "toolchain present: Debian rustc $(debian_rustc_version), ${arches[*]}"
    return
  fi
  echo "installing: ${missing[*]}"
  if [ "$(id -u)" != 0 ]; then
    echo "FATAL: not root; install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  local arch added=()
  for arch in "${arches[@]}"; do
    if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
      dpkg --add-architecture "$arch"
      added+=("$arch")
    fi
  done
  # A mirror that is mid-sync for one architecture's index fails `apt-get update` as a whole;
  # try again a few times, then carry on with what did arrive, and let the install below say
  # what is really missing.
  local tries=0 index_errors=0
  until apt-get update -qq; do
    tries=$((tries + 1))
    if [ "$tries" -ge "${SCOUT_APT_TRIES:-3}" ]; then
      index_errors=1
      echo "WARNING: apt-get update reported errors (see above) $tries times; trying the install anyway" >&2
      break
    fi
    echo "WARNING: apt-get update reported errors (see above); again in 30 s" >&2
    sleep 30
  done
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    echo "FATAL: could not install ${missing[*]}." >&2
    echo "  rustc-web >= $MIN_RUST comes from bookworm-security; the target's" >&2
    echo "  libstd-rust-web-dev must be the same version (apt-cache policy libstd-rust-web-dev:ARCH)." >&2
    # Leave dpkg as it was: an architecture whose index cannot be fetched makes every later
    # `apt-get update` on this machine fail.
    for arch in "${added[@]}"; do
      dpkg --remove-architecture "$arch" && echo "  (dpkg --remove-architecture $arch: undone)" >&2
    done
    if [ "$index_errors" = 1 ]; then
      # The toolchain is missing because the Debian mirror did not serve its index: outside
      # this project. EX_TEMPFAIL, so a caller can tell it from a failed build.
      echo "  The mirror did not serve every index (above): a temporary failure outside the build." >&2
      exit 75
    fi
    exit 1
  fi
}

build_one() { # TARGET PACKAGE PROFILE
  local target=$1 package=$2 profile=$3
  describe "$target"
  local env_target=${target//-/_}
  local upper=${env_target^^}
  local started=$SECONDS
  # The agent's profile strips; `release` does not, so the collector is stripped by request.
  local strip=()
  [ "$profile" = release ] && strip=(CARGO_PROFILE_RELEASE_STRIP=symbols)
  echo "==== cargo build -p $package --profile $profile --target $target (Debian rustc $(debian_rustc_version))"
  # /usr/bin first, so neither cargo nor build scripts reach rustup's proxies.
  env PATH="/usr/bin:/bin:$PATH" \
    RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc \
    CARGO_TARGET_DIR="$TARGET_DIR" "${strip[@]}" \
    "CARGO_TARGET_${upper}_LINKER=$GNU-gcc" \
    "CC_${env_target}=$GNU-gcc" \
    "AR_${env_target}=$GNU-ar" \
    /usr/bin/cargo build --locked -p "$package" --bin "$package" \
    --profile "$profile" --target "$target"
  local bin="$TARGET_DIR/$target/$profile/$package"
  local took=$((SECONDS - started))

  local described machine glibc bytes
  described=$(file -b "$bin")
  machine=$(readelf -h "$bin" | awk -F: '/Machine:/ {gsub(/^[ \t]+/, "", $2); print $2}')
  case "$described" in
    *"$FILE_SAYS"*) ;;
    *) echo "FATAL: $bin is not $FILE_SAYS: $described" >&2; exit 1 ;;
  esac
  case "$machine" in
    "$ELF_MACHINE") ;;
    *) echo "FATAL: $bin: ELF machine is '$machine', expected $ELF_MACHINE" >&2; exit 1 ;;
  esac
  case "$described" in
    *", stripped"*) ;;
    *) echo "FATAL: $bin is not stripped: $described" >&2; exit 1 ;;
  esac
  glibc=$("$GNU-objdump" -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n 1)
  bytes=$(stat -c %s "$bin")
  printf '%s %s: %s bytes (%s MiB), ELF %s, stripped, needs glibc >= %s, built in %ss\n' \
    "$package" "$target" "$bytes" "$(awk -v b="$bytes" 'BEGIN {printf "%.2f", b / 1048576}')" \
    "$machine" "${glibc#GLIBC_}" "$took"
  echo "  $bin"
  echo "  file: $described"
  if [ "$package" = scout-agent ] && [ "$bytes" -gt "$MAX_BYTES" ]; then
    echo "FATAL: $bytes bytes is over the budget of $MAX_BYTES (SCOUT_MAX_AGENT_BYTES)" >&2
    exit 1
  fi
}

collector=0
if [ "${1:-}" = --collector ]; then
  collector=1
  shift
fi
[ "$#" -ge 1 ] || usage
targets=()
for arg in "$@"; do
  target=$(canonical "$arg")
  describe "$target"
  targets+=("$target")
done
ensure_toolchain "${targets[@]}"
have=$(debian_rustc_version)
if ! version_ge "$have" "$MIN_RUST"; then
  echo "FATAL: Debian's rustc is $have; the workspace needs $MIN_RUST (rustc-web from bookworm-security)" >&2
  exit 1
fi
for target in "${targets[@]}"; do
  build_one "$target" scout-agent "$PROFILE"
  if [ "$collector" = 1 ]; then
    build_one "$target" scout-collector release
  fi
done
