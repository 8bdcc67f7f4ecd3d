#!/bin/sh
# Checks systemd/*.service with `systemd-analyze verify` (installing systemd when it is missing, as
# root on Debian). verify needs what a unit names to exist: the units are checked inside a temporary
# root holding systemd's own units, a stub for each ExecStart binary and the units themselves, so
# nothing on this machine is created or changed. verify reports unknown keys and bad values as
# warnings with exit code 0: any output at all fails the check.
set -eu
cd "$(dirname "$0")/.."
if ! command -v systemd-analyze >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "verify-units: systemd-analyze is missing; install systemd (Debian: apt-get install systemd)" >&2
    exit 1
  fi
  echo "verify-units: installing systemd"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi
units_dir=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || true)
[ -n "$units_dir" ] || units_dir=/usr/lib/systemd/system
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root$units_dir" "$root/etc/systemd/system"
cp -a "$units_dir/." "$root$units_dir/"
units=""
for unit in systemd/*.service; do
  cp "$unit" "$root/etc/systemd/system/"
  units="$units $(basename "$unit")"
  for bin in $(sed -n 's/^ExecStart=[-@:+!]*\([^ ]*\).*/\1/p' "$unit"); do
    mkdir -p "$root$(dirname "$bin")"
    printf '#!/bin/sh\n' >"$root$bin"
    chmod 755 "$root$bin"
  done
done
status=0
# shellcheck disable=SC2086
out=$(systemd-analyze verify --root="$root" $units 2>&1) || status=$?
if [ "$status" != 0 ] || [ -n "$out" ]; then
  printf '%s\n' "$out" | sed "s#$root##g" >&2
  echo "verify-units: systemd-analyze verify found problems in$units (exit code $status)" >&2
  exit 1
fi
echo "verify-units:$units verified ($(systemd-analyze --version | head -n 1))"
