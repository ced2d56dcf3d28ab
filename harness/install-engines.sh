#!/usr/bin/env bash
# Installs the engines the store's e2e tests run on besides the host's redis-server (docs/testing.md, Engines tested): for
# each, a minimal Debian root file system from the suite that ships it, and wrappers in <dir>/<engine>/bin that run
# its binaries on the host with that root's own loader and libraries, so they take host paths (data directories,
# configs, TLS files) as they are. Run by .ci/run, never by the tests. Idempotent: an installed engine is skipped.
# Usage: harness/install-engines.sh [engine…]   (all of them when none is named; as root)
set -euo pipefail
trap 'echo "install-engines: failed at line $LINENO" >&2' ERR

ENGINES_DIR=${REDIS_ENGINES_DIR:-/opt/redis-engines}
MIRROR=http://deb.debian.org/debian

# engine: suite, debootstrap script, packages, binaries. Keep in step with ENGINES in harness/engines.ts.
declare -A SUITE=([redis-8.0]=forky [valkey-8.1]=trixie [valkey-9.1]=forky)
# bookworm's debootstrap has no forky script; sid's bootstraps it.
declare -A SCRIPT=([redis-8.0]=sid [valkey-8.1]=trixie [valkey-9.1]=sid)
declare -A PACKAGES=([redis-8.0]='redis-server redis-tools' [valkey-8.1]='valkey-server valkey-tools' [valkey-9.1]='valkey-server valkey-tools')
declare -A BINARIES=([redis-8.0]='redis-server redis-cli' [valkey-8.1]='valkey-server valkey-cli' [valkey-9.1]='valkey-server valkey-cli')

install_engine () {
  local engine=$1
  local dir=$ENGINES_DIR/$engine
  local root=$dir/root
  [ -e "$dir/installed" ] && { echo "$engine: already in $dir"; return 0; }
  echo "$engine: installing into $dir (debian ${SUITE[$engine]}: ${PACKAGES[$engine]})"
  # Whatever an interrupted run left behind is started over.
  rm -rf "$dir"
  mkdir -p "$dir/bin"
  debootstrap --variant=minbase "${SUITE[$engine]}" "$root" "$MIRROR" "/usr/share/debootstrap/scripts/${SCRIPT[$engine]}" >"$dir/debootstrap.log" 2>&1 ||
    { tail -n 20 "$dir/debootstrap.log"; return 1; }
  # A testing suite's Release on the snapshot mirror is past its Valid-Until.
  echo 'Acquire::Check-Valid-Until "false";' >"$root/etc/apt/apt.conf.d/99no-valid-until"
  # The packages' scripts must not start a server inside the root.
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod +x "$root/usr/sbin/policy-rc.d"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  mount -t proc proc "$root/proc"
  local status=0
  { chroot "$root" apt-get update -qq &&
    chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${PACKAGES[$engine]}; } >"$dir/apt.log" 2>&1 || status=$?
  umount "$root/proc"
  [ "$status" -eq 0 ] || { tail -n 20 "$dir/apt.log"; return "$status"; }
  local loader
  loader=$(cd "$root" && compgen -G 'lib64/ld-linux-*.so.*' || compgen -G 'lib/ld-linux-*.so.*')
  local libs=$root/usr/lib/$(uname -m)-linux-gnu:$root/lib/$(uname -m)-linux-gnu
  for binary in ${BINARIES[$engine]}; do
    cat >"$dir/bin/$binary" <<EOF
#!/bin/sh
exec "$root/$loader" --library-path "$libs" "$root/usr/bin/$binary" "\$@"
EOF
    chmod +x "$dir/bin/$binary"
    "$dir/bin/$binary" --version
  done
  touch "$dir/installed"
}

engines=("$@")
[ "${#engines[@]}" -gt 0 ] || engines=(redis-8.0 valkey-8.1 valkey-9.1)
for engine in "${engines[@]}"; do
  [ -n "${SUITE[$engine]:-}" ] || { echo "unknown engine: $engine (known: ${!SUITE[*]})" >&2; exit 2; }
  install_engine "$engine"
done
