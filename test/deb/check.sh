#!/bin/sh
# Checks the Debian package that `make deb` built, in a Debian bookworm root
# (the oldest Debian the host's build serves) made with debootstrap by
# test/otp/root.sh and cached as deb-bookworm: test/deb/in_root.sh installs
# it, checks its files, man page and units, runs the daemon as its service
# does with a stock node, and removes and purges it. Needs root.
#   test/deb/check.sh
# Prints one line on success; on failure, the reason, and exits 1.
set -eu
cd "$(dirname "$0")/../.."
die() {
    echo "deb check: FAILED: $*" >&2
    exit 1
}
started=$(date +%s)
# The version as Cargo.toml's [workspace.package] says, read apart from
# build.sh's way, with Debian's tilde for a pre-release.
version=$(sed -n '/^\[workspace\.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml | sed 's/-/~/')
arch=$(dpkg --print-architecture)
deb=target/deb/epmd-rs_${version}_$arch.deb
[ -f "$deb" ] || die "$deb is missing: make deb"
# Every flag the parser accepts (its tests excluded), for the man page.
flags=$(sed '/^#\[cfg(test)\]/q' native/epmd_cli/src/args.rs | grep -o '"-[-a-z_]*"' | tr -d '"' | sort -u)
[ -n "$flags" ] || die "no flags found in native/epmd_cli/src/args.rs"
# erlang-base for Debian's epmd, erl and epmd.socket; systemd for
# systemd-socket-activate and systemd-analyze; man-db for man and groff;
# strace for the system calls; procps for kill and ps.
root=$(sh test/otp/root.sh bookworm deb-bookworm erlang-base systemd man-db strace procps) ||
    die "the bookworm root could not be made (see above)"
# A port free now on every address, as the socket unit listens.
port=$(python3 -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::", 0)); print(s.getsockname()[1])')
work=$root/tmp/epmd-rs-deb-check
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
cp "$deb" test/deb/in_root.sh "$work/"
# shellcheck disable=SC2086
result=$(sh test/otp/chroot.sh "$root" sh /tmp/epmd-rs-deb-check/in_root.sh \
    "/tmp/epmd-rs-deb-check/${deb##*/}" "$version" "$port" $flags) || exit 1
echo "deb check: ok: ${deb##*/} on bookworm: installed; epmd-rs(1) shows all" \
    "$(echo "$flags" | wc -l) flags; units verified, ${result}; a stock node served" \
    "through the unit's command line; removed and purged clean; $(($(date +%s) - started)) s"
